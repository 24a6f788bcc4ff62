# SPDX-License-Identifier: Apache-2.0
"""A dead agent: no prompt, a clean error in every binding (issue 12, items 8 and 10).

A real bridge on a real port in front of an agent whose port answers nothing: the bridge checks that
the agent answers before it asks the user for anything (or releases a granted value), and answers the
client a JSON-RPC error, or HTTP 502 on the REST binding, naming the agent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.bridge import BridgeApp, running_bridge
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.scripted_agent import scripted_card
from tests.bridge.support import jsonrpc, message_v03, message_v10, record_from_card, sse_payloads
from tests.interop.conftest import free_port


@asynccontextmanager
async def dead_agent_bridge(secrets: ScriptedSecrets) -> AsyncIterator[str]:
    """A bridge fronting an agent (with a declared demand) that is not running."""
    url = f"http://127.0.0.1:{free_port()}"
    card = scripted_card(url, {"token": {"name": "Token"}})
    record = record_from_card(agent_card_to_dict(card), "gone", url=url)
    app = BridgeApp({"gone": record}.get, secrets, caller=None)
    try:
        async with running_bridge(app, 0) as port:
            yield f"http://127.0.0.1:{port}/agents/gone"
    finally:
        await app.aclose()


V10 = {"A2A-Version": "1.0"}

#: binding -> (sub-path, body, headers, streaming)
CALLS: dict[str, tuple[str, dict[str, Any], dict[str, str], bool]] = {
    "jsonrpc-0.3": ("", jsonrpc("message/send", {"message": message_v03("hi")}), {}, False),
    "jsonrpc-1.0": ("", jsonrpc("SendMessage", {"message": message_v10("hi")}), V10, False),
    "stream-0.3": ("", jsonrpc("message/stream", {"message": message_v03("hi")}), {}, True),
    "stream-1.0": ("", jsonrpc("SendStreamingMessage", {"message": message_v10("hi")}), V10, True),
}
REST: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
    "rest-1.0-send": ("/message:send", {"message": message_v10("hi")}, V10),
    "rest-1.0-stream": ("/message:stream", {"message": message_v10("hi")}, V10),
    "rest-0.3-send": (
        "/v1/message:send",
        {"message": {"role": "ROLE_USER", "messageId": "m1", "content": [{"text": "hi"}]}},
        {},
    ),
    "rest-0.3-stream": (
        "/v1/message:stream",
        {"message": {"role": "ROLE_USER", "messageId": "m1", "content": [{"text": "hi"}]}},
        {},
    ),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", list(CALLS))
async def test_jsonrpc_to_a_dead_agent_is_an_error_without_a_prompt(binding: str) -> None:
    secrets = ScriptedSecrets({"token": "token-value-123"})
    path, body, headers, streaming = CALLS[binding]
    async with dead_agent_bridge(secrets) as url, httpx.AsyncClient(trust_env=False, timeout=20) as http:
        response = await http.post(url + path, json=body, headers=headers)
    assert response.status_code == 200
    payloads = sse_payloads(response.text) if streaming else [response.json()]
    error = payloads[-1]["error"]
    assert error["code"] == -32603
    assert "'gone' is not reachable" in error["message"]
    assert secrets.calls == [] and secrets.prompts == []


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", list(REST))
async def test_rest_to_a_dead_agent_is_a_502_without_a_prompt(binding: str) -> None:
    secrets = ScriptedSecrets({"token": "token-value-123"})
    path, body, headers = REST[binding]
    async with dead_agent_bridge(secrets) as url, httpx.AsyncClient(trust_env=False, timeout=20) as http:
        response = await http.post(url + path, json=body, headers=headers)
    assert response.status_code == 502, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "'gone' is not reachable" in response.json()["error"]["message"]
    assert secrets.calls == [] and secrets.prompts == []
