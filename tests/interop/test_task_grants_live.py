# SPDX-License-Identifier: Apache-2.0
""" "This task" grants end with their task, against real agents: an a2a-sdk 1.x agent (A2A 1.0) and the
agentstack-sdk 0.7.1 agent (A2A 0.3), driven through the bridge by a plain a2a-sdk client.

The bridge runs the real broker over a memory vault and a scripted prompter. A grant given for the
task exists while the task runs, is gone and audited `revoked` once the task completes, and the next
task asks again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from keybroker.core.broker.broker import Broker
from keybroker.core.broker.prompts import NewValue, PromptAnswer
from keybroker.core.models import AgentRecord, AuditDecision, AuditEvent, Grant, GrantScope, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.support import a2a_client_run, bridged, record_from_url
from tests.core.broker.test_broker import make_broker
from tests.fakes import ScriptedPrompter
from tests.interop.conftest import RunningPeer

EXTRA = "extra-CANARY-task-0123456789"
#: The keys each peer's card declares (its pre-flight demands).
DECLARED = {"a2a1": ("openai", "github"), "agentstack": ("github", "slack")}


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


class WatchedBroker:
    """The real broker, noting the TASK grants that still stood each time a task was reported ended."""

    def __init__(self, broker: Broker, services: Services) -> None:
        self.broker = broker
        self.services = services
        self.standing: list[tuple[str, str, list[Grant]]] = []
        broker_task_ended = broker.task_ended

        def task_ended(
            agent_slug: str, task_id: str, *, state: str, run_id: str | None = None
        ) -> Sequence[Grant]:
            before = [g for g in services.catalog.list_grants(agent=agent_slug) if g.scope is GrantScope.TASK]
            self.standing.append((task_id, state, before))
            return broker_task_ended(agent_slug, task_id, state=state, run_id=run_id)

        broker.task_ended = task_ended  # type: ignore[method-assign]


def _peer(kind: str, request: pytest.FixtureRequest) -> RunningPeer:
    fixture = "a2a1_agent" if kind == "a2a1" else "agentstack_agent"
    peer: RunningPeer = request.getfixturevalue(fixture)
    return peer


def _known(services: Services, peer: RunningPeer) -> AgentRecord:
    record = record_from_url(peer.base_url)
    services.catalog.upsert_agent(record)
    return services.catalog.get_agent(record.slug)


def _task_events(services: Services, task_id: str) -> list[AuditEvent]:
    return [e for e in services.audit.events() if e.task_id == task_id]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["a2a1", "agentstack"])
@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "blocking"])
async def test_a_runtime_task_grant_ends_with_its_task_and_the_next_task_asks_again(
    request: pytest.FixtureRequest, services: Services, kind: str, streaming: bool
) -> None:
    peer = _peer(kind, request)
    record = _known(services, peer)
    for key in DECLARED[kind]:  # pre-flight values are stored and granted: only `extra` is asked for
        services.secrets.set(key, SecretValue(f"{key}-CANARY-stored"), owner=record.slug)
    typed = PromptAnswer.grant(GrantScope.TASK, {"extra": NewValue(SecretValue(EXTRA))})
    prompter = ScriptedPrompter(typed, PromptAnswer.grant(GrantScope.TASK))
    watched = WatchedBroker(make_broker(services, prompter), services)

    async with bridged(record, watched.broker) as bridge:
        first = await a2a_client_run(bridge.url(), "go keys=extra", streaming=streaming)
        after_first = [g for g in services.catalog.list_grants() if g.scope is GrantScope.TASK]
        second = await a2a_client_run(bridge.url(), "go keys=extra", streaming=streaming)

    assert first.state == second.state == "TASK_STATE_COMPLETED", first.events
    assert EXTRA.encode() not in first.received + second.received
    task_1, task_2 = first.task["id"], second.task["id"]  # type: ignore[index]
    assert task_1 != task_2

    # During the task: the grant for `extra` stood, bound to that task, up to the moment it completed.
    ends_1 = [(state, grants) for task_id, state, grants in watched.standing if task_id == task_1]
    state, standing = ends_1[0]
    assert state == "completed"
    assert [(g.task_id, g.scope) for g in standing] == [(task_1, GrantScope.TASK)]
    # After: gone, and audited once (the client's tasks/get afterwards finds nothing left to end).
    assert after_first == []
    decisions = [(e.decision, e.key, e.scope) for e in _task_events(services, task_1)]
    assert decisions == [
        (AuditDecision.GRANTED, "extra", "task"),
        (AuditDecision.RELEASED, "extra", "task"),
        (AuditDecision.REVOKED, "extra", "task"),
    ]
    revoked = _task_events(services, task_1)[-1]
    assert revoked.agent == record.slug and revoked.detail == "task completed: its this-task grant ended"

    # The second task asked again (for the value now stored), and its grant ended the same way.
    assert len(prompter.requests) == 2
    assert prompter.requests[1].item("extra").stored is not None
    assert [e.decision for e in _task_events(services, task_2)][-1] is AuditDecision.REVOKED
    assert [g for g in services.catalog.list_grants() if g.scope is GrantScope.TASK] == []
    assert peer.process.poll() is None


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["a2a1", "agentstack"])
async def test_a_preflight_task_grant_is_bound_to_the_task_the_run_created_and_ends_with_it(
    request: pytest.FixtureRequest, services: Services, kind: str
) -> None:
    peer = _peer(kind, request)
    record = _known(services, peer)
    keys = DECLARED[kind]
    typed = PromptAnswer.grant(GrantScope.TASK, {k: NewValue(SecretValue(f"{k}-CANARY-typed")) for k in keys})
    prompter = ScriptedPrompter(typed, PromptAnswer.grant(GrantScope.TASK))
    watched = WatchedBroker(make_broker(services, prompter), services)

    async with bridged(record, watched.broker) as bridge:
        first = await a2a_client_run(bridge.url(), "go")
        second = await a2a_client_run(bridge.url(), "go")

    assert first.state == second.state == "TASK_STATE_COMPLETED", first.events
    task_1 = first.task["id"]  # type: ignore[index]
    assert prompter.requests[0].phase == "preflight" and len(prompter.requests) == 2
    # Given before the task existed, the grants were bound to the task as soon as the agent named it.
    _, state, standing = next(item for item in watched.standing if item[0] == task_1)
    assert state == "completed"
    assert sorted(g.task_id or "" for g in standing) == [task_1] * len(keys)
    revoked = [e for e in services.audit.events() if e.decision is AuditDecision.REVOKED]
    assert sorted((e.key, e.task_id) for e in revoked if e.task_id == task_1) == sorted(
        (k, task_1) for k in keys
    )
    assert [g for g in services.catalog.list_grants() if g.scope is GrantScope.TASK] == []
