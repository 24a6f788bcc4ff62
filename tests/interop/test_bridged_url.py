# SPDX-License-Identifier: Apache-2.0
"""The bridged URL as Keybroker shows it (trailing slash) works verbatim in both Python SDK lines.

The JS SDK's side is in test_bridge_a2a_js.py. Python's `A2ACardResolver` strips the slash (a2a-sdk
1.x and 0.3 alike), so the one form serves every official SDK (INTERFACES "Bridge").
"""

from __future__ import annotations

import pytest

from keybroker.core.agents.status import bridged_url
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.support import a2a_client_run, bridged, record_from_url
from tests.interop.bridge_peer import peer_client_run
from tests.interop.conftest import RunningPeer

OPENAI = "sk-CANARY-url-0123456789"
GITHUB = "ghp_CANARY_url_abcdef0123"


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
async def test_a2a_sdk_1x_client(a2a1_agent: RunningPeer, binding: str) -> None:
    secrets = ScriptedSecrets({"openai": OPENAI, "github": GITHUB})
    async with bridged(record_from_url(a2a1_agent.base_url), secrets) as bridge:
        url = bridged_url("peer", bridge.port)
        assert url.endswith("/agents/peer/")
        run = await a2a_client_run(url, "go keys=openai", binding=binding)
    assert run.state == "TASK_STATE_COMPLETED"
    assert OPENAI.encode() not in run.received


@pytest.mark.asyncio
@pytest.mark.parametrize("flags", [(), ("--rest",)], ids=["jsonrpc", "rest"])
async def test_a2a_sdk_03_client(a2a1_agent: RunningPeer, flags: tuple[str, ...]) -> None:
    secrets = ScriptedSecrets({"openai": OPENAI, "github": GITHUB})
    async with bridged(record_from_url(a2a1_agent.base_url), secrets) as bridge:
        result = await peer_client_run(bridged_url("peer", bridge.port), "go keys=github", *flags)
    assert result["state"] == "completed"
    assert GITHUB not in result["raw"]
