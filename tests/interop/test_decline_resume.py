# SPDX-License-Identifier: Apache-2.0
"""A declined secret lets the agent's own fallback run (PROTOCOL pitfall 27, seed 000).

Seed 000's agent catches the missing secret and answers "No Slack API key provided". Through the
bridge, with the user declining every prompt (real broker, memory vault, scripted prompter):
- a plain client (it never asked for the secrets extension) gets that answer on a completed task:
  the bridge resumes the task with no value for the declined key instead of handing it an
  `auth-required` it cannot answer;
- a client that asked for the extension itself (`A2A-Extensions` / `X-A2A-Extensions`) still sees
  the demand, and can answer it with its own value.
Both agents are real: agentstack-sdk 0.7.1 (A2A 0.3) and a2a-sdk 1.x (A2A 1.0).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keybroker.core.broker.prompts import PromptAnswer
from keybroker.core.models import AuditDecision
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.support import (
    SECRETS_URI,
    a2a_client_run,
    bridged,
    jsonrpc,
    message_v03,
    record_from_url,
    sse_payloads,
)
from tests.core.broker.test_broker import make_broker
from tests.fakes import ScriptedPrompter
from tests.interop.bridge_peer import peer_client_run
from tests.interop.conftest import RunningPeer

KEY = "SLACK_API_KEY"
NO_KEY = "No Slack API key provided"
OWN = "xoxb-CANARY-client-own-4242"
StartPeer = Callable[..., RunningPeer]
SEEDS = ["seed000-agentstack", "seed000-a2a1"]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


def seed_peer(start_peer: StartPeer, kind: str, services: Services) -> RunningPeer:
    peer = start_peer(kind)
    services.catalog.upsert_agent(record_from_url(peer.base_url))
    return peer


def decisions(services: Services) -> list[AuditDecision]:
    return [e.decision for e in services.audit.events() if e.key == KEY]


def states(events: list[dict[str, Any]]) -> list[str]:
    found = [e["statusUpdate"]["status"]["state"] for e in events if "statusUpdate" in e]
    return found + [e["task"]["status"]["state"] for e in events if "task" in e]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", SEEDS)
@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "blocking"])
async def test_a_plain_client_gets_the_agents_own_answer_after_a_decline(
    start_peer: StartPeer, services: Services, kind: str, streaming: bool
) -> None:
    seed_peer(start_peer, kind, services)
    prompter = ScriptedPrompter(default=PromptAnswer.deny("not for this agent"))
    async with bridged(services.catalog.get_agent("peer"), make_broker(services, prompter)) as bridge:
        run = await a2a_client_run(bridge.url(), "post the standup to slack", streaming=streaming)
    assert run.state == "TASK_STATE_COMPLETED", run.events
    assert NO_KEY in run.text
    assert "TASK_STATE_AUTH_REQUIRED" not in states(run.events)
    # Asked once, before forwarding (the card declares the key); the agent's run-time demand for the
    # same key is declined without asking again (INTERFACES "Grants, owners and prompts").
    assert [r.keys for r in prompter.requests] == [(KEY,)]
    assert AuditDecision.DENIED in decisions(services) and AuditDecision.RELEASED not in decisions(services)


@pytest.mark.asyncio
@pytest.mark.parametrize("flags", [(), ("--no-stream",)], ids=["stream", "blocking"])
async def test_a_plain_a2a_03_client_gets_the_agents_own_answer_too(
    start_peer: StartPeer, services: Services, flags: tuple[str, ...]
) -> None:
    seed_peer(start_peer, "seed000-agentstack", services)
    prompter = ScriptedPrompter(default=PromptAnswer.deny())
    async with bridged(services.catalog.get_agent("peer"), make_broker(services, prompter)) as bridge:
        result = await peer_client_run(bridge.url(), "post the standup", *flags)
    assert result["state"] == "completed"
    assert NO_KEY in result["raw"]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", SEEDS)
async def test_a_client_that_asks_for_the_extension_still_sees_the_demand(
    start_peer: StartPeer, services: Services, kind: str
) -> None:
    seed_peer(start_peer, kind, services)
    prompter = ScriptedPrompter(default=PromptAnswer.deny())
    async with bridged(services.catalog.get_agent("peer"), make_broker(services, prompter)) as bridge:
        run = await a2a_client_run(bridge.url(), "post the standup", extensions=[SECRETS_URI])
    assert run.state == "TASK_STATE_AUTH_REQUIRED", run.events
    assert KEY in run.task["status"]["message"]["metadata"][SECRETS_URI]["secret_demands"]  # type: ignore[index]
    assert NO_KEY not in run.text
    assert [r.keys for r in prompter.requests] == [(KEY,)]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", SEEDS)
async def test_an_extension_client_answers_the_demand_with_its_own_value(
    start_peer: StartPeer, services: Services, kind: str
) -> None:
    """Over raw 0.3 JSON-RPC with `X-A2A-Extensions`: the demand comes back, the client's resume completes."""
    seed_peer(start_peer, kind, services)
    prompter = ScriptedPrompter(default=PromptAnswer.deny())
    headers = {"X-A2A-Extensions": SECRETS_URI}
    async with (
        bridged(services.catalog.get_agent("peer"), make_broker(services, prompter)) as bridge,
        httpx.AsyncClient(trust_env=False, timeout=60) as client,
    ):
        first = await client.post(
            bridge.url(), json=jsonrpc("message/stream", {"message": message_v03("post it")}), headers=headers
        )
        asked = sse_payloads(first.text)[-1]["result"]
        assert asked["status"]["state"] == "auth-required", first.text
        assert KEY in asked["status"]["message"]["metadata"][SECRETS_URI]["secret_demands"]
        own = {SECRETS_URI: {"secret_fulfillments": {KEY: {"secret": OWN}}}}
        ids = {"taskId": asked["taskId"], "contextId": asked["contextId"]}
        resumed = await client.post(
            bridge.url(),
            json=jsonrpc("message/stream", {"message": message_v03("here", metadata=own, **ids)}),
            headers=headers,
        )
    events = sse_payloads(resumed.text)
    assert events[-1]["result"]["status"]["state"] == "completed", resumed.text
    digest = hashlib.sha256(OWN.encode()).hexdigest()[:12]
    assert f"len={len(OWN)} sha256={digest} via=runtime" in resumed.text
    assert OWN not in first.text + resumed.text
    assert [r.keys for r in prompter.requests] == [(KEY,)]  # the client's own value: never prompted for
