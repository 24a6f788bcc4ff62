# SPDX-License-Identifier: Apache-2.0
"""@a2a-js/sdk 1.x smoke tests: the JS 1.x agent and client against each other, and one raw 1.0 call."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.peers import a2a_js
from tests.peers.a2a_js import SECRETS_URI, V1, A2AJsAgent
from tests.peers.process import skip_if_missing


@pytest.fixture(scope="module")
def agent() -> Iterator[A2AJsAgent]:
    with skip_if_missing(), a2a_js.a2a_js_agent(line=V1) as running:
        yield running


def test_card_declares_a2a_10_and_the_secrets_extension(agent: A2AJsAgent) -> None:
    card = httpx.get(agent.card_url, trust_env=False).json()
    assert [(i["protocolBinding"], i["protocolVersion"]) for i in card["supportedInterfaces"]] == [
        ("JSONRPC", "1.0"),
        ("HTTP+JSON", "1.0"),
    ]
    assert card["supportedInterfaces"][0]["url"] == agent.jsonrpc_url
    (extension,) = card["capabilities"]["extensions"]
    assert extension["uri"] == SECRETS_URI
    assert set(extension["params"]["secret_demands"]) == {"api_key"}


@pytest.mark.parametrize("stream", [False, True], ids=["blocking", "streaming"])
def test_echo(agent: A2AJsAgent, stream: bool) -> None:
    done = a2a_js.run_client(agent.url, "hello there", stream=stream, line=V1)
    assert done.state == "TASK_STATE_COMPLETED"
    assert done.artifact_text() == "echo: hello there"
    if stream:
        assert list(done.events[0]) == ["task"]
        assert done.events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


def test_plain_message_reply(agent: A2AJsAgent) -> None:
    reply = a2a_js.run_client(agent.url, "/message hi", line=V1)
    assert reply.result["kind"] == "message"
    assert reply.result["parts"] == [{"text": "echo: /message hi"}]


@pytest.mark.parametrize("stream", [False, True], ids=["blocking", "streaming"])
def test_secret_demand_resumed_by_the_js_client(agent: A2AJsAgent, stream: bool) -> None:
    secret = f"s3cret-{uuid.uuid4()}"
    done = a2a_js.run_client(agent.url, "/secret please", stream=stream, secrets={"api_key": secret}, line=V1)
    assert done.state == "TASK_STATE_COMPLETED"
    assert f"api_key sha256={hashlib.sha256(secret.encode()).hexdigest()}" in done.artifact_text()
    assert secret not in done.artifact_text()


def test_auth_required_shape_over_raw_jsonrpc(agent: A2AJsAgent) -> None:
    """What a Keybroker bridge will see in 1.0: the demand in status.message.metadata."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendMessage",
        "params": {
            "message": {"role": "ROLE_USER", "messageId": str(uuid.uuid4()), "parts": [{"text": "/secret"}]}
        },
    }
    response = httpx.post(
        agent.jsonrpc_url, json=body, headers={"A2A-Version": "1.0"}, trust_env=False, timeout=10
    )
    assert response.status_code == 200, response.text
    status = response.json()["result"]["task"]["status"]
    assert status["state"] == "TASK_STATE_AUTH_REQUIRED"
    assert status["message"]["metadata"][SECRETS_URI]["secret_demands"]["api_key"]["name"] == "API key"
