# SPDX-License-Identifier: Apache-2.0
"""Real a2a-sdk 1.x agents protected by an API key (header, query, cookie) or a bearer token, reached
through the bridge by a plain a2a-sdk client that holds no key (DESIGN §1 "auth schemes").

The bridge runs the real broker over a memory vault: the value is stored the way
`keybroker secrets set NAME --agent S --scheme NAME` stores it, or typed into a scripted prompt
when the agent refuses (HTTP 401), and the bridge retries once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keybroker.core.broker.prompts import NewValue, PromptAnswer
from keybroker.core.models import AuditDecision, GrantScope, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.support import a2a_client_run, bridged, record_from_url
from tests.core.broker.test_broker import make_broker
from tests.fakes import ScriptedPrompter
from tests.interop.conftest import RunningPeer

SECRET = "kb-CANARY-live-key-0123456789"
STALE = "kb-CANARY-old-key-9876543210"
SCHEME = {"header": "apiKey", "query": "apiKey", "cookie": "apiKey", "bearer": "bearer"}
StartPeer = Callable[..., RunningPeer]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


def protected_peer(start_peer: StartPeer, kind: str, services: Services) -> RunningPeer:
    """A peer checking SECRET the way `kind` says, known to the catalog as `peer`, demands granted."""
    peer = start_peer("a2a1", env={"KEYBROKER_PEER_SCHEME": kind, "KEYBROKER_PEER_SECRET": SECRET})
    services.catalog.upsert_agent(record_from_url(peer.base_url))
    for key in ("openai", "github"):
        services.secrets.set(key, SecretValue(f"{key}-CANARY-value"), owner="peer")
    return peer


def events(services: Services, kind: str) -> list[AuditDecision]:
    return [e.decision for e in services.audit.events() if e.key == SCHEME[kind]]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["header", "query", "cookie", "bearer"])
async def test_a_stored_key_reaches_the_agent_and_the_client_holds_none(
    start_peer: StartPeer, services: Services, kind: str
) -> None:
    peer = protected_peer(start_peer, kind, services)
    services.secrets.set(SCHEME[kind], SecretValue(SECRET), owner="peer", scheme=SCHEME[kind])
    prompter = ScriptedPrompter()  # no prompt expected: the value is stored and granted
    record = services.catalog.get_agent("peer")
    async with bridged(record, make_broker(services, prompter)) as bridge:
        streamed = await a2a_client_run(bridge.url(), "go keys=openai")
        blocking = await a2a_client_run(bridge.url(), "go keys=github", streaming=False)
    for run in (streamed, blocking):
        assert run.state == "TASK_STATE_COMPLETED", run.events
        assert SECRET.encode() not in run.received
    assert "openai: len=" in streamed.text and "github: len=" in blocking.text
    assert prompter.requests == []
    assert AuditDecision.RELEASED in events(services, kind) and AuditDecision.REFUSED not in events(
        services, kind
    )
    assert peer.process.poll() is None


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["header", "query", "bearer"])
async def test_a_missing_key_is_asked_for_after_the_401_then_kept(
    start_peer: StartPeer, services: Services, kind: str
) -> None:
    protected_peer(start_peer, kind, services)
    answer = PromptAnswer.grant(GrantScope.ALWAYS, {SCHEME[kind]: NewValue(SecretValue(SECRET))})
    prompter = ScriptedPrompter(answer)
    async with bridged(services.catalog.get_agent("peer"), make_broker(services, prompter)) as bridge:
        first = await a2a_client_run(bridge.url(), "go keys=openai")
        again = await a2a_client_run(bridge.url(), "go keys=openai", binding="HTTP+JSON")
    assert first.state == again.state == "TASK_STATE_COMPLETED"
    assert len(prompter.requests) == 1
    assert prompter.requests[0].items[0].scheme == SCHEME[kind]
    stored = services.catalog.find_secret(SCHEME[kind], "peer", SCHEME[kind])
    assert stored is not None and services.vault.get(stored.secret_id) == SecretValue(SECRET)
    assert SECRET.encode() not in first.received + again.received
    assert events(services, kind)[:4] == [
        AuditDecision.REFUSED,
        AuditDecision.CREATED,
        AuditDecision.GRANTED,
        AuditDecision.RELEASED,
    ]


@pytest.mark.asyncio
async def test_a_refused_key_is_asked_for_again_and_retried_once(
    start_peer: StartPeer, services: Services
) -> None:
    protected_peer(start_peer, "header", services)
    old = services.secrets.set("apiKey", SecretValue(STALE), owner="peer", scheme="apiKey").record
    fixed = PromptAnswer.grant(GrantScope.ALWAYS, {"apiKey": NewValue(SecretValue(SECRET))})
    prompter = ScriptedPrompter(fixed, default=PromptAnswer.deny("no more"))
    async with bridged(services.catalog.get_agent("peer"), make_broker(services, prompter)) as bridge:
        run = await a2a_client_run(bridge.url(), "go keys=openai")
    assert run.state == "TASK_STATE_COMPLETED"
    assert len(prompter.requests) == 1 and prompter.requests[0].items[0].stored.secret_id == old.secret_id  # type: ignore[union-attr]
    assert services.vault.get(old.secret_id) == SecretValue(SECRET)
    # Both attempts are in the audit: released (refused by the agent), asked again, released again.
    assert events(services, "header") == [
        AuditDecision.CREATED,
        AuditDecision.RELEASED,
        AuditDecision.REFUSED,
        AuditDecision.UPDATED,
        AuditDecision.GRANTED,
        AuditDecision.RELEASED,
        AuditDecision.RELEASED,  # the client's tasks/get afterwards, with the fixed value
    ]
    for value in (SECRET, STALE):
        assert value.encode() not in run.received
