# SPDX-License-Identifier: Apache-2.0
"""Bad requests through the bridge get what a conformant agent answers (issue 18, items 1 and 2).

Real agents behind a real bridge: an agentstack-sdk 0.7.1 agent (a2a-sdk 0.3.24) and a plain a2a-sdk
1.x echo agent. The cases are the A2A TCK's (`0.3.x`, mandatory JSON-RPC and message/send): a request
that is not JSON-RPC is -32600, a valid one with bad params -32602 (HTTP 400 on HTTP+JSON), in both
protocol versions; a message without parts is refused before it is forwarded, but a resume without
parts still reaches a 0.3 agent (the Agent Stack UI sends one; params.py); an agent that drops the
connection is a 502 with a clean body, never a 500.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.support import SECRETS_URI, bridged, http_client, jsonrpc, record_from_url, sse_payloads
from tests.interop.conftest import RunningPeer

V10 = {"A2A-Version": "1.0"}
CANARY = "sk-CANARY-params-7f3e9a"
DROP_CUE = "please-drop-the-connection"  # echo_a2a1_agent.py's DropOnCue


@pytest.fixture(params=["agentstack", "echo"], ids=["a2a-sdk-0.3-agent", "a2a-sdk-1.x-agent"])
def agent(request: pytest.FixtureRequest) -> RunningPeer:
    """Each real agent in turn."""
    name = "agentstack_agent" if request.param == "agentstack" else "echo_agent"
    peer: RunningPeer = request.getfixturevalue(name)
    return peer


@asynccontextmanager
async def front(peer: RunningPeer, **client: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """A bridge in front of `peer` (every prompt declined): its URL for the agent, and a client."""
    record = record_from_url(peer.base_url)
    async with bridged(record, ScriptedSecrets({})) as bridge, http_client(**client) as http:
        yield bridge.url(), http


def _no_parts(**ids: str) -> dict[str, Any]:
    return {"kind": "message", "role": "user", "messageId": str(uuid.uuid4()), "parts": [], **ids}


#: Valid JSON-RPC, bad params (the TCK's cases, and a canary in metadata that must never be quoted).
BAD_PARAMS_V03 = {
    "missing-fields": {"message": {"kind": "message", "metadata": {"note": CANARY}}},
    "parts-not-a-list": {"message": {"parts": "invalid"}},
    "no-message": {"": "not_a_dict"},
    "bad-role": {"message": {"kind": "message", "role": "robot", "messageId": "m", "parts": []}},
    "no-parts": {"message": _no_parts()},
    "bad-part-kind": {
        "message": {"kind": "message", "role": "user", "messageId": "m", "parts": [{"kind": "video"}]}
    },
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(BAD_PARAMS_V03))
@pytest.mark.parametrize("method", ["message/send", "message/stream"])
async def test_v03_bad_params_are_32602(agent: RunningPeer, case: str, method: str) -> None:
    async with front(agent) as (url, http):
        response = await http.post(url + "/", json=jsonrpc(method, BAD_PARAMS_V03[case], "r1"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")  # refused before any stream
    body = response.json()
    assert body["error"]["code"] == -32602, body
    assert body["id"] == "r1"
    assert CANARY not in response.text and "input_value" not in response.text


@pytest.mark.asyncio
async def test_a_notification_with_bad_params_is_32602(agent: RunningPeer) -> None:
    request = {"jsonrpc": "2.0", "method": "message/send", "params": {"": "not_a_dict"}}  # no id
    async with front(agent) as (url, http):
        response = await http.post(url, json=request)
    assert response.json()["error"]["code"] == -32602


#: Not JSON-RPC at all: -32600 (or -32601 for an unknown method), as before.
MALFORMED = {
    "jsonrpc-not-2.0": ({"jsonrpc": "aaa", "id": 1, "method": "message/send", "params": {}}, -32600),
    "no-method": ({"jsonrpc": "2.0", "id": 1, "params": {}}, -32600),
    "id-an-object": ({"jsonrpc": "2.0", "method": "message/send", "params": {}, "id": {"x": 1}}, -32600),
    "unknown-method": ({"jsonrpc": "2.0", "id": 1, "method": "message/ssend", "params": {}}, -32601),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_request_stays_32600(agent: RunningPeer, case: str) -> None:
    body, code = MALFORMED[case]
    async with front(agent) as (url, http):
        response = await http.post(url, json=body)
    assert response.json()["error"]["code"] == code


BAD_PARAMS_V10 = {
    "missing-fields": {"message": {"metadata": {"note": CANARY}}},
    "no-message": {},
    "no-parts": {"message": {"role": "ROLE_USER", "messageId": "m", "parts": []}},
    "empty-part": {"message": {"role": "ROLE_USER", "messageId": "m", "parts": [{}]}},
    "no-role": {"message": {"messageId": "m", "parts": [{"text": "hi"}]}},
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(BAD_PARAMS_V10))
@pytest.mark.parametrize("method", ["SendMessage", "SendStreamingMessage"])
async def test_v10_bad_params_are_32602(agent: RunningPeer, case: str, method: str) -> None:
    async with front(agent) as (url, http):
        response = await http.post(url, json=jsonrpc(method, BAD_PARAMS_V10[case]), headers=V10)
    assert response.headers["content-type"].startswith("application/json")  # refused before any stream
    assert response.json()["error"]["code"] == -32602
    assert CANARY not in response.text


_V03_EMPTY = {"request": {"messageId": "m", "role": "ROLE_USER", "content": []}}
_V10_EMPTY = {"message": {"messageId": "m", "role": "ROLE_USER", "parts": []}}
REST_NO_PARTS = {
    "v03-send": ("/v1/message:send", _V03_EMPTY, {}),
    "v03-stream": ("/v1/message:stream", _V03_EMPTY, {}),
    "v10-send": ("/message:send", _V10_EMPTY, V10),
    "v10-stream": ("/message:stream", _V10_EMPTY, V10),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(REST_NO_PARTS))
async def test_rest_message_without_parts_is_a_400_not_forwarded(agent: RunningPeer, case: str) -> None:
    path, body, headers = REST_NO_PARTS[case]
    async with front(agent) as (url, http):
        response = await http.post(url + path, json=body, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert "message.parts" in error["message"]


@pytest.mark.asyncio
async def test_a_resume_without_parts_reaches_a_03_agent(agentstack_agent: RunningPeer) -> None:
    """The Agent Stack UI's resume: `parts: []`, the task's ids and the fulfilment in metadata."""
    secret = "ghp_CANARY_resume_0123456789"
    async with front(agentstack_agent, headers={"X-A2A-Extensions": SECRETS_URI}) as (url, http):
        first = {"kind": "message", "role": "user", "messageId": str(uuid.uuid4())}
        first["parts"] = [{"kind": "text", "text": "go keys=github"}]
        answer = (await http.post(url, json=jsonrpc("message/send", {"message": first}))).json()
        task = answer["result"]
        assert task["status"]["state"] == "auth-required", answer
        resume = _no_parts(taskId=task["id"], contextId=task["contextId"])
        resume["metadata"] = {SECRETS_URI: {"secret_fulfillments": {"github": {"secret": secret}}}}
        response = await http.post(url, json=jsonrpc("message/stream", {"message": resume}))
    events = sse_payloads(response.text)
    assert [e for e in events if "error" in e] == []
    assert events[-1]["result"]["status"]["state"] == "completed"
    assert "github: len=28" in response.text and "via=runtime" in response.text
    assert secret not in response.text


@pytest.mark.asyncio
async def test_a_resume_without_parts_is_refused_for_a_1x_agent(echo_agent: RunningPeer) -> None:
    resume = _no_parts(taskId="t-1", contextId="c-1")
    async with front(echo_agent) as (url, http):
        response = await http.post(url, json=jsonrpc("message/send", {"message": resume}))
    assert response.json()["error"]["code"] == -32602


_V03_DROP = {"request": {"messageId": "m", "role": "ROLE_USER", "content": [{"text": DROP_CUE}]}}
_V10_DROP = {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": DROP_CUE}]}}
DROPPED = {
    "v03-rest-send": ("/v1/message:send", _V03_DROP, {}),
    "v10-rest-send": ("/message:send", _V10_DROP, V10),
    "v10-rest-stream": ("/message:stream", _V10_DROP, V10),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(DROPPED))
async def test_an_agent_dropping_the_connection_is_a_clean_502(echo_agent: RunningPeer, case: str) -> None:
    path, body, headers = DROPPED[case]
    dropping = {**_no_parts(), "parts": [{"kind": "text", "text": DROP_CUE}]}
    async with front(echo_agent) as (url, http):
        response = await http.post(url + path, json=body, headers=headers)
        rpc = await http.post(url, json=jsonrpc("message/send", {"message": dropping}))
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["status"] == "UNAVAILABLE" and "closed the connection" in error["message"]
    assert "Traceback" not in response.text
    assert rpc.json()["error"]["code"] == -32603 and "closed the connection" in rpc.json()["error"]["message"]
