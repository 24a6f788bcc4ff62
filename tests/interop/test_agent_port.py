# SPDX-License-Identifier: Apache-2.0
"""An agent served at the root of a loopback port of its own (issue 18, item 4), bridge level.

Tools such as the A2A TCK look for `/.well-known/agent-card.json` only at a host's root (RFC 8615),
so they cannot find an agent under `/agents/<slug>/`. `BridgeApp.agent_root(slug)` serves that agent
alone at a port's root, and every bridge rule still applies there: Host, Origin, OPTIONS, body size,
the API token of `--require-token`, pre-flight fulfilment and masking. Real agents: an agentstack-sdk
0.7.1 agent (a2a-sdk 0.3.24) and a plain a2a-sdk 1.x echo agent; real clients of both SDK lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from keybroker.core.agents.own_port import own_url
from keybroker.core.bridge import BridgeApp, running_bridge
from keybroker.core.models import AgentRecord, SecretValue
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.support import a2a_client_run, http_client, jsonrpc, message_v03, record_from_url
from tests.interop.bridge_peer import peer_client_run
from tests.interop.conftest import RunningPeer

GITHUB = "ghp_CANARY_ownport_0123456789"
SLACK = "xoxb-CANARY-ownport-4242"
TOKEN = "kb-api-token-ownport-0123456789"


@asynccontextmanager
async def own_port(record: AgentRecord, secrets: ScriptedSecrets) -> AsyncIterator[tuple[int, int]]:
    """A bridge on a free port, and `record`'s agent at the root of another: (bridge port, own port)."""
    app = BridgeApp({record.slug: record}.get, secrets, api_token=SecretValue(TOKEN), caller=None)
    try:
        async with running_bridge(app, 0) as port, running_bridge(app.agent_root(record.slug), 0) as own:
            yield port, own
    finally:
        await app.aclose()


def proof(key: str, value: str) -> str:
    return f"{key}: len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]}"


@pytest.fixture(params=["agentstack", "echo"], ids=["a2a-sdk-0.3-agent", "a2a-sdk-1.x-agent"])
def agent(request: pytest.FixtureRequest) -> RunningPeer:
    """Each real agent in turn."""
    name = "agentstack_agent" if request.param == "agentstack" else "echo_agent"
    peer: RunningPeer = request.getfixturevalue(name)
    return peer


@pytest.mark.asyncio
async def test_the_card_is_at_the_root_and_points_there(agent: RunningPeer) -> None:
    record = record_from_url(agent.base_url)
    async with own_port(record, ScriptedSecrets({})) as (port, own), http_client() as http:
        card = (await http.get(f"http://127.0.0.1:{own}/.well-known/agent-card.json")).json()
        elsewhere = [
            (await http.get(f"http://127.0.0.1:{own}{path}")).status_code
            for path in ("/api/v1/status", "/agents/peer/.well-known/agent-card.json")
        ]
        shared = (await http.get(f"http://127.0.0.1:{port}/agents/peer/.well-known/agent-card.json")).json()
    assert card["url"] == f"http://127.0.0.1:{own}"
    assert {i["url"] for i in card["supportedInterfaces"]} == {f"http://127.0.0.1:{own}"}
    assert {i["url"] for i in card["additionalInterfaces"]} == {f"http://127.0.0.1:{own}"}
    assert elsewhere == [404, 404]  # nothing but the agent there: no management API, no other agent
    assert shared["url"] == f"http://127.0.0.1:{port}/agents/peer"  # still reachable on the shared port
    assert agent.base_url not in str(card)


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "blocking"])
async def test_an_a2a_1x_client_runs_with_secrets_fulfilled_and_masked(
    agentstack_agent: RunningPeer, binding: str, streaming: bool
) -> None:
    secrets = ScriptedSecrets({"github": GITHUB, "slack": SLACK})
    async with own_port(record_from_url(agentstack_agent.base_url), secrets) as (_, own):
        run = await a2a_client_run(own_url(own), "hello", binding=binding, streaming=streaming)
    assert run.state == "TASK_STATE_COMPLETED"
    assert proof("github", GITHUB) in run.text and proof("slack", SLACK) in run.text
    assert [(c.phase, c.keys) for c in secrets.calls] == [("preflight", ("github", "slack"))]
    for value in (GITHUB, SLACK):
        assert value.encode() not in run.received


@pytest.mark.asyncio
@pytest.mark.parametrize("flags", [(), ("--rest", "--no-stream")], ids=["jsonrpc", "rest"])
async def test_an_a2a_03_client_runs_at_the_root(agent: RunningPeer, flags: tuple[str, ...]) -> None:
    secrets = ScriptedSecrets({"github": GITHUB, "slack": SLACK})
    async with own_port(record_from_url(agent.base_url), secrets) as (_, own):
        result = await peer_client_run(own_url(own), "hello", *flags)
    assert result["state"] == "completed"
    assert result["card_url"].rstrip("/") == f"http://127.0.0.1:{own}"
    assert GITHUB not in result["raw"] and SLACK not in result["raw"]


@pytest.mark.asyncio
async def test_every_guard_rule_holds_on_the_own_port(echo_agent: RunningPeer) -> None:
    send = jsonrpc("message/send", {"message": message_v03("hi")})
    async with own_port(record_from_url(echo_agent.base_url), ScriptedSecrets({})) as (port, own):
        url = f"http://127.0.0.1:{own}/"
        async with http_client() as http:
            answers: dict[str, Any] = {
                "ok": await http.post(url, json=send),
                "foreign-host": await http.post(url, json=send, headers={"Host": "evil.example"}),
                "other-port": await http.post(url, json=send, headers={"Host": f"127.0.0.1:{port}"}),
                "origin": await http.post(url, json=send, headers={"Origin": "http://evil.example"}),
                "options": await http.options(url),
                "too-large": await http.post(url, content=b"x" * (1024 * 1024 + 1)),
            }
    assert answers["ok"].json()["result"]["status"]["state"] == "completed"
    assert {k: v.status_code for k, v in answers.items() if k != "ok"} == {
        "foreign-host": 403,
        "other-port": 403,
        "origin": 403,
        "options": 405,
        "too-large": 413,
    }
    assert "access-control-allow-origin" not in answers["options"].headers


@pytest.mark.asyncio
async def test_require_token_holds_on_the_own_port(echo_agent: RunningPeer) -> None:
    record = record_from_url(echo_agent.base_url, require_token=True)
    send = jsonrpc("message/send", {"message": message_v03("hi")})
    async with own_port(record, ScriptedSecrets({})) as (_, own), http_client() as http:
        url = f"http://127.0.0.1:{own}/"
        card = await http.get(url + ".well-known/agent-card.json")
        refused = await http.post(url, json=send)
        wrong = await http.post(url, json=send, headers={"Authorization": "Bearer nope"})
        allowed = await http.post(url, json=send, headers={"Authorization": f"Bearer {TOKEN}"})
    assert card.status_code == 200  # the card stays public
    assert "keybroker_token" in card.json()["securitySchemes"]
    assert (refused.status_code, wrong.status_code) == (401, 401)
    assert allowed.json()["result"]["status"]["state"] == "completed"
    assert TOKEN not in refused.text + wrong.text + allowed.text
