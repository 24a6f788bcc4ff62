# SPDX-License-Identifier: Apache-2.0
"""The extended card through the bridge (issue 18, item 3): only when the agent has one.

a2a-sdk's clients hand back the public card when the card declares no extended card, so the bridge
used to serve that to its own clients as if it were the extended card. Now an agent without one is
answered for as its SDK answers (0.3: `-32007`, 1.0: `UnsupportedOperationError` -32004; HTTP 400
on HTTP+JSON); an agent with one gets the request, and its extended card comes back pointing at the
bridge. Real agents: agentstack-sdk 0.7.1 (a2a-sdk 0.3.24) and an a2a-sdk 1.x echo agent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.support import bridged, http_client, jsonrpc, record_from_url
from tests.interop.conftest import RunningPeer

V10 = {"A2A-Version": "1.0"}
NO_CARD = "does not support authenticated extended cards"


@pytest.fixture(params=["agentstack", "echo"], ids=["a2a-sdk-0.3-agent", "a2a-sdk-1.x-agent"])
def agent(request: pytest.FixtureRequest) -> RunningPeer:
    """Each real agent without an extended card, in turn."""
    name = "agentstack_agent" if request.param == "agentstack" else "echo_agent"
    peer: RunningPeer = request.getfixturevalue(name)
    return peer


async def _ask(url: str) -> dict[str, Any]:
    async with http_client() as http:
        v03 = await http.post(url, json=jsonrpc("agent/getAuthenticatedExtendedCard", {}))
        v10 = await http.post(url, json=jsonrpc("GetExtendedAgentCard", {}), headers=V10)
        rest_v03 = await http.get(url + "/v1/card")
        rest_v10 = await http.get(url + "/extendedAgentCard", headers=V10)
    return {"v03": v03, "v10": v10, "rest_v03": rest_v03, "rest_v10": rest_v10}


@pytest.mark.asyncio
async def test_an_agent_without_an_extended_card_gets_none_served(agent: RunningPeer) -> None:
    async with bridged(record_from_url(agent.base_url), ScriptedSecrets({})) as bridge:
        got = await _ask(bridge.url())
    assert got["v03"].json()["error"]["code"] == -32007
    assert got["v10"].json()["error"]["code"] == -32004
    for answer in (got["v03"], got["v10"]):
        assert NO_CARD in answer.json()["error"]["message"]
        assert "result" not in answer.json()
    assert got["rest_v03"].status_code == 400
    assert got["rest_v03"].json()["error"]["details"][0]["reason"] == "EXTENDED_AGENT_CARD_NOT_CONFIGURED"
    assert got["rest_v10"].status_code == 400
    assert got["rest_v10"].json()["error"]["status"] == "FAILED_PRECONDITION"


@pytest.mark.asyncio
async def test_the_bridge_answers_as_a_1x_agent_itself_does(echo_agent: RunningPeer) -> None:
    direct = await _ask(echo_agent.base_url)
    async with bridged(record_from_url(echo_agent.base_url), ScriptedSecrets({})) as bridge:
        through = await _ask(bridge.url())
    for kind in ("v10", "rest_v03", "rest_v10"):
        assert through[kind].status_code == direct[kind].status_code, kind
    assert through["v10"].json()["error"]["code"] == direct["v10"].json()["error"]["code"]


@pytest.mark.asyncio
async def test_an_agent_with_an_extended_card_gets_it_asked_and_rewritten(
    start_peer: Callable[..., RunningPeer],
) -> None:
    peer = start_peer("echo", env={"KEYBROKER_PEER_EXTENDED": "1"})
    async with bridged(record_from_url(peer.base_url), ScriptedSecrets({})) as bridge:
        got = await _ask(bridge.url())
        base = bridge.url()
    for kind in ("v03", "v10"):
        card = got[kind].json()["result"]
        assert [s["id"] for s in card["skills"]] == ["echo", "extra"]
    assert got["v03"].json()["result"]["url"] == base
    urls = {i["url"] for i in got["v10"].json()["result"]["supportedInterfaces"]}
    assert urls == {base}
    for kind in ("rest_v03", "rest_v10"):
        assert got[kind].status_code == 200
        assert "extra" in got[kind].text and peer.base_url not in got[kind].text
