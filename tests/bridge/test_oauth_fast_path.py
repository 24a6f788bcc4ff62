# SPDX-License-Identifier: Apache-2.0
"""An a2a-sdk 1.x agent declaring Agent Stack's OAuth extension takes the full path (fast_path.py):
its first message must carry a callback of the run's own (oauth_flow.py), which the fast path, moving
bytes, does not make. Real TCP: a real a2a-sdk 1.x agent on a loopback port, the real bridge, raw
JSON-RPC 0.3 and 1.0 clients.
"""

from __future__ import annotations

import json

import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.a2a.oauth_demand import OAUTH_EXTENSION_URI
from keybroker.core.bridge.fast_path import PATH_ENV
from keybroker.core.bridge.server import running_bridge
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.scripted_agent import scripted_app, scripted_card
from tests.bridge.support import bridged, http_client, jsonrpc, message_v03, message_v10, record_from_card
from tests.interop.conftest import free_port

V10 = {"A2A-Version": "1.0"}


@pytest.fixture(autouse=True)
def _fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PATH_ENV, "fast")


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_an_agent_with_oauth_demands_gets_the_runs_callback_by_the_full_path(version: str) -> None:
    port = free_port()
    card = scripted_card(f"http://127.0.0.1:{port}")
    extension = card.capabilities.extensions.add(uri=OAUTH_EXTENSION_URI, required=False)
    extension.params.update({"oauth_demands": {"default": {"redirect_uri": True}}})
    async with running_bridge(scripted_app(card), port, shutdown_grace=0.5):
        record = record_from_card(agent_card_to_dict(card), "peer", url=f"http://127.0.0.1:{port}")
        async with (
            bridged(record, ScriptedSecrets({}), caller=None) as bridge,
            http_client(base_url=f"http://127.0.0.1:{bridge.port}") as client,
        ):
            if version == "1.0":
                body = jsonrpc("SendMessage", {"message": message_v10("hello")})
                sent = await client.post("/agents/peer", json=body, headers=V10)
                task = sent.json()["result"]["task"]
                got = await client.post(
                    "/agents/peer", json=jsonrpc("GetTask", {"id": task["id"]}), headers=V10
                )
            else:
                sent = await client.post(
                    "/agents/peer", json=jsonrpc("message/send", {"message": message_v03("hi")})
                )
                task = sent.json()["result"]
                got = await client.post("/agents/peer", json=jsonrpc("tasks/get", {"id": task["id"]}))
            fast = bridge.app._channels[("peer", False)].fast
            assert fast is not None and fast.enabled
            assert (fast.served, fast.handed_over) == (0, 0)  # the full path took it
    assert task["status"]["state"] in ("completed", "TASK_STATE_COMPLETED"), sent.text
    # The agent got the run's callback (its history shows the message it was sent), masked here.
    history = json.dumps(got.json()["result"]["history"])
    assert OAUTH_EXTENSION_URI in history and '"redirect_uri": "**********"' in history
    assert "http://127.0.0.1:" not in history.replace(f"http://127.0.0.1:{port}", "")
