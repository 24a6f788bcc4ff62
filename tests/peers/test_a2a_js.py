# SPDX-License-Identifier: Apache-2.0
"""@a2a-js/sdk smoke tests: the JS agent and the JS client against each other, and one raw JSON-RPC call."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.peers import a2a_js
from tests.peers.a2a_js import SECRETS_URI, A2AJsAgent
from tests.peers.process import skip_if_missing


@pytest.fixture(scope="module")
def agent() -> Iterator[A2AJsAgent]:
    with skip_if_missing(), a2a_js.a2a_js_agent() as running:
        yield running


def test_card_declares_a2a_03_and_the_secrets_extension(agent: A2AJsAgent) -> None:
    card = httpx.get(agent.card_url, trust_env=False).json()
    assert card["protocolVersion"] == "0.3.0"
    assert card["url"] == agent.jsonrpc_url
    assert card["capabilities"]["streaming"] is True
    (extension,) = card["capabilities"]["extensions"]
    assert extension["uri"] == SECRETS_URI
    assert set(extension["params"]["secret_demands"]) == {"api_key"}


def test_echo_blocking_and_streaming(agent: A2AJsAgent) -> None:
    blocking = a2a_js.run_client(agent.url, "hello there")
    assert blocking.state == "completed"
    assert blocking.artifact_text() == "echo: hello there"

    streamed = a2a_js.run_client(agent.url, "hello stream", stream=True)
    assert streamed.state == "completed"
    kinds = [e["kind"] for e in streamed.events]
    assert kinds[0] == "task"
    assert kinds[-1] == "status-update"
    assert streamed.events[-1]["final"] is True
    chunks = [e for e in streamed.events if e["kind"] == "artifact-update"]
    assert len(chunks) > 1
    assert [c["append"] for c in chunks] == [False] + [True] * (len(chunks) - 1)
    assert "".join(c["artifact"]["parts"][0]["text"] for c in chunks) == "echo: hello stream"


def test_plain_message_reply(agent: A2AJsAgent) -> None:
    reply = a2a_js.run_client(agent.url, "/message hi")
    assert reply.result["kind"] == "message"
    assert reply.result["parts"] == [{"kind": "text", "text": "echo: /message hi"}]


@pytest.mark.parametrize("stream", [False, True], ids=["blocking", "streaming"])
def test_secret_demand_resumed_by_the_js_client(agent: A2AJsAgent, stream: bool) -> None:
    secret = f"s3cret-{uuid.uuid4()}"
    done = a2a_js.run_client(agent.url, "/secret please", stream=stream, secrets={"api_key": secret})
    assert done.state == "completed"
    assert f"api_key sha256={hashlib.sha256(secret.encode()).hexdigest()}" in done.artifact_text()
    assert secret not in done.artifact_text()
    if stream:
        states = [e["status"]["state"] for e in done.events if e["kind"] == "status-update"]
        assert states[0] == "auth-required"
        assert states[-1] == "completed"


def test_preconfigured_secret_needs_no_round_trip(agent: A2AJsAgent) -> None:
    done = a2a_js.run_client(agent.url, "/secret please", secrets={"api_key": "k"}, preconfigured=True)
    assert done.state == "completed"
    assert [m["role"] for m in done.result["history"]] == ["user", "agent"]  # no auth-required step


def test_auth_required_shape_over_raw_jsonrpc(agent: A2AJsAgent) -> None:
    """What a Keybroker bridge will see: the demand in status.message.metadata, then a resume without it."""

    def send(message: dict[str, object]) -> dict[str, object]:
        body = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}
        response = httpx.post(agent.jsonrpc_url, json=body, trust_env=False, timeout=10)
        assert response.status_code == 200
        result: dict[str, object] = response.json()["result"]
        return result

    base = {"kind": "message", "role": "user", "parts": [{"kind": "text", "text": "/secret"}]}
    task = send({**base, "messageId": str(uuid.uuid4())})
    status = task["status"]
    assert isinstance(status, dict)
    assert status["state"] == "auth-required"
    assert status["message"]["parts"] == []
    assert status["message"]["metadata"][SECRETS_URI]["secret_demands"]["api_key"]["name"] == "API key"
    resumed = send(
        {**base, "messageId": str(uuid.uuid4()), "taskId": task["id"], "contextId": task["contextId"]}
    )
    failed = resumed["status"]
    assert isinstance(failed, dict)
    assert failed["state"] == "failed"
    assert failed["message"]["parts"][0]["text"] == "Secrets has not been provided in response."
