# SPDX-License-Identifier: Apache-2.0
"""Which sends the fast path takes (fast_path.py, send_shape.py), over real TCP: a real a2a-sdk 1.x
agent on a loopback port, the real bridge, raw JSON-RPC 0.3 and 1.0 clients.

A plain send is admitted on its JSON alone; one in a shape of the SDK's own (a snake_case alias, a
member the SDK ignores) is admitted after the SDK's check, as before; one the SDK refuses gets the
full path's answer, the same whichever path is chosen. What the card asks for is read once per
record: a card that changes is a new record, served by a new channel.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.a2a.oauth_demand import OAUTH_EXTENSION_URI
from keybroker.core.bridge import BridgeApp
from keybroker.core.bridge.fast_path import PATH_ENV
from keybroker.core.bridge.server import running_bridge
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.joining_client import dump, leaks
from tests.bridge.scripted_agent import scripted_app, scripted_card
from tests.bridge.support import http_client, jsonrpc, message_v03, message_v10, record_from_card
from tests.bridge.test_fast_path import _channel, _grant, _rig, _served, _task
from tests.interop.conftest import free_port

VALUE = "Admit-CANARY-7c1e2a-Q4321rty"
V10 = {"A2A-Version": "1.0"}


@pytest.fixture(autouse=True)
def _fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PATH_ENV, "fast")


def _body(version: str, message: dict[str, Any], **params: Any) -> dict[str, Any]:
    return jsonrpc("SendMessage" if version == "1.0" else "message/send", {"message": message, **params})


def _message(version: str, text: str) -> dict[str, Any]:
    return message_v10(text) if version == "1.0" else message_v03(text)


async def _post(client: httpx.AsyncClient, version: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/agents/peer", json=body, headers=V10 if version == "1.0" else {})


def _unusual(version: str) -> dict[str, Any]:
    """A send the SDK accepts that is not plain: a snake_case alias and a member the SDK ignores."""
    message = _message(version, "basic")
    message["message_id"] = message.pop("messageId")
    message["x-client-note"] = {"seen": True}
    return _body(version, message)


#: Sends the SDK refuses, in shapes a cheap check could miss.
REFUSED = {
    "1.0": [
        {"role": "ROLE_UNSPECIFIED"},
        {"parts": [{"text": "a", "url": "https://example.org/a"}]},
        {"parts": [{"metadata": {}}]},
        {"messageId": ""},
    ],
    "0.3": [
        {"role": "ROLE_USER"},
        {"parts": [{"kind": "data", "data": [1, 2]}]},
        {"parts": []},
        {"messageId": 7},
    ],
}


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_plain_send_and_an_unusual_valid_one_are_both_served_by_the_fast_path(version: str) -> None:
    secrets = ScriptedSecrets({"k": VALUE})
    async with _rig("leaky", secrets) as (client, app):
        await _grant(secrets, app, ["k"])
        answers = [
            await _post(client, version, _body(version, _message(version, "basic"))),
            await _post(client, version, _unusual(version)),
        ]
        assert _served(app) == (2, 0)
    payloads = [a.json() for a in answers]
    for payload in payloads:
        assert _task(payload)["status"]["state"] in ("completed", "TASK_STATE_COMPLETED"), payload
    assert leaks(VALUE, payloads, "".join(a.text for a in answers)) == [], dump(payloads)[-3000:]


async def _refusals(version: str) -> list[dict[str, Any]]:
    async with _rig("scripted", ScriptedSecrets({})) as (client, app):
        answers = []
        for change in REFUSED[version]:
            answer = await _post(client, version, _body(version, {**_message(version, "hi"), **change}))
            assert answer.status_code == 200, answer.text
            answers.append(answer.json())
        fast = _channel(app).fast
        assert fast is not None and fast.served == 0
    return answers


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_send_the_sdk_refuses_gets_the_same_answer_whichever_path_is_chosen(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = await _refusals(version)
    monkeypatch.setenv(PATH_ENV, "full")
    full = await _refusals(version)
    assert [a.get("error", {}).get("code") for a in fast] == [a.get("error", {}).get("code") for a in full]
    assert all(a["error"]["code"] in (-32600, -32602) for a in fast), fast
    assert fast == full


@pytest.mark.asyncio
async def test_a_card_that_gains_oauth_demands_takes_the_full_path_from_the_next_send() -> None:
    port = free_port()
    card = scripted_card(f"http://127.0.0.1:{port}", {"k": {"name": "K"}})
    plain = record_from_card(agent_card_to_dict(card), "peer", url=f"http://127.0.0.1:{port}")
    extension = card.capabilities.extensions.add(uri=OAUTH_EXTENSION_URI, required=False)
    extension.params.update({"oauth_demands": {"default": {"redirect_uri": True}}})
    with_oauth = record_from_card(agent_card_to_dict(card), "peer", url=f"http://127.0.0.1:{port}")
    registry = {"peer": plain}  # what the agent registry answers: a changed card is a new record
    secrets = ScriptedSecrets({"k": VALUE})
    app = BridgeApp(registry.get, secrets)
    served = []
    try:
        async with (
            running_bridge(scripted_app(card), port, shutdown_grace=0.5),
            running_bridge(app, 0) as bridge_port,
            http_client(base_url=f"http://127.0.0.1:{bridge_port}") as client,
        ):
            for record in (plain, with_oauth, plain):
                registry["peer"] = record
                assert (await client.get("/agents/peer/.well-known/agent-card.json")).status_code == 200
                await _grant(secrets, app, ["k"])
                answer = await _post(client, "1.0", _body("1.0", message_v10("hello")))
                assert answer.status_code == 200, answer.text
                served.append(_served(app)[0])
    finally:
        await app.aclose()
    assert served == [1, 0, 1]  # each record's channel counts its own
