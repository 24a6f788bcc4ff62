"""'This task' grants end with their task (`Broker.task_ended`), or at their ceiling when it is never seen
to end; the end is audited `revoked`."""

from __future__ import annotations

import pytest

from keybroker.core.a2a.task_state import terminal_task_state
from keybroker.core.broker.grant_rules import (
    TASK_GRANT_CEILING,
    expired_grants,
    grant_expired,
    grant_is_live,
    make_grant,
    task_grant_end,
)
from keybroker.core.broker.prompts import NewValue, PromptAnswer
from keybroker.core.models import AgentRecord, AuditDecision, Grant, GrantScope, SecretValue
from keybroker.core.secrets.records import new_grant_id
from keybroker.wiring.services import Services
from tests.core.broker.test_broker import (
    DEMO_URL,
    GITHUB,
    OTHER_URL,
    SLACK,
    CountingVault,
    add_agent,
    fulfil,
    make_broker,
    revealed,
)
from tests.core.conftest import CardServer
from tests.fakes import FakeClock, ScriptedPrompter

TASK = PromptAnswer.grant(GrantScope.TASK)


@pytest.fixture
def demo(services: Services, cards: CardServer) -> AgentRecord:
    return add_agent(services, cards, DEMO_URL, "demo", "Demo Agent")


@pytest.fixture
def other(services: Services, cards: CardServer) -> AgentRecord:
    return add_agent(services, cards, OTHER_URL, "other", "Other Agent")


@pytest.fixture
def vault(services: Services) -> CountingVault:
    return CountingVault(services.vault)


# The states ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "ended"),
    [
        ("completed", "completed"),
        ("failed", "failed"),
        ("canceled", "canceled"),
        ("rejected", "rejected"),
        ("TASK_STATE_COMPLETED", "completed"),
        ("TASK_STATE_FAILED", "failed"),
        ("TASK_STATE_CANCELED", "canceled"),
        ("TASK_STATE_REJECTED", "rejected"),
        ("input-required", None),
        ("auth-required", None),
        ("TASK_STATE_INPUT_REQUIRED", None),
        ("TASK_STATE_AUTH_REQUIRED", None),
        ("submitted", None),
        ("working", None),
        ("TASK_STATE_WORKING", None),
        ("TASK_STATE_UNSPECIFIED", None),
        ("unknown", None),
        ("", None),
        ("completed-ish", None),
    ],
)
def test_terminal_states_in_both_protocol_versions(state: str, ended: str | None) -> None:
    assert terminal_task_state(state) == ended


# The ceiling (pure) ----------------------------------------------------------------------------


def _task_grant(created: float, expires: float | None) -> Grant:
    return Grant("g", "demo", "s", GrantScope.TASK, created, expires=expires, task_id="t")


def test_a_task_grant_lives_until_its_ceiling() -> None:
    g = _task_grant(100.0, 100.0 + TASK_GRANT_CEILING)
    end = 100.0 + TASK_GRANT_CEILING
    assert grant_is_live(g, end - 0.001, task_id="t") and not grant_expired(g, end - 0.001)
    assert not grant_is_live(g, end, task_id="t") and grant_expired(g, end)
    assert expired_grants([g], end) == [g]


def test_a_task_grant_without_an_end_takes_the_ceiling_from_its_creation() -> None:
    # Written by an older Keybroker (no `expires` on task grants): it still cannot live forever.
    g = _task_grant(100.0, None)
    assert task_grant_end(g) == 100.0 + TASK_GRANT_CEILING
    assert grant_is_live(g, 100.0 + TASK_GRANT_CEILING - 1, task_id="t")
    assert grant_expired(g, 100.0 + TASK_GRANT_CEILING)


def test_the_ceiling_is_a_day() -> None:
    # DESIGN §3: only ALWAYS survives a restart; a lock ends TASK grants; this bounds the rest.
    assert TASK_GRANT_CEILING == 24 * 3600


# The broker ----------------------------------------------------------------------------------


def _task_grants(services: Services, slug: str = "demo") -> list[Grant]:
    return [g for g in services.catalog.list_grants(agent=slug) if g.scope is GrantScope.TASK]


@pytest.mark.asyncio
@pytest.mark.parametrize("state", ["TASK_STATE_COMPLETED", "failed", "TASK_STATE_CANCELED", "rejected"])
async def test_a_terminal_state_ends_the_task_grant_and_is_audited(
    services: Services, demo: AgentRecord, vault: CountingVault, state: str
) -> None:
    record = services.secrets.set("github", SecretValue("ghp_shared")).record
    prompter = ScriptedPrompter(TASK, TASK)
    broker = make_broker(services, prompter, vault)
    assert revealed(await fulfil(broker, demo, task_id="t1")) == {"github": "ghp_shared"}
    [grant] = _task_grants(services)
    assert grant.task_id == "t1"

    ended = broker.task_ended("demo", "t1", state=terminal_task_state(state) or state)

    assert ended == [grant]
    assert _task_grants(services) == []
    event = services.audit.events()[-1]
    assert (event.decision, event.agent, event.key, event.secret_id, event.scope, event.task_id) == (
        AuditDecision.REVOKED,
        "demo",
        "github",
        record.secret_id,
        "task",
        "t1",
    )
    assert event.detail == f"task {terminal_task_state(state)}: its this-task grant ended"
    # The same task id asking again (an agent reusing ids) is asked again, and the value is read anew.
    reads = vault.reads
    assert revealed(await fulfil(broker, demo, task_id="t1", run_id="again")) == {"github": "ghp_shared"}
    assert len(prompter.requests) == 2 and vault.reads == reads + 1


@pytest.mark.asyncio
@pytest.mark.parametrize("state", ["TASK_STATE_INPUT_REQUIRED", "auth-required", "working", "nonsense"])
async def test_a_state_that_is_not_terminal_changes_nothing(
    services: Services, demo: AgentRecord, state: str
) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    prompter = ScriptedPrompter(TASK)
    broker = make_broker(services, prompter)
    await fulfil(broker, demo, task_id="t1")
    events = len(services.audit.events())

    assert broker.task_ended("demo", "t1", state=state) == []

    assert len(_task_grants(services)) == 1 and len(services.audit.events()) == events
    assert revealed(await fulfil(broker, demo, task_id="t1", run_id="r2")) == {"github": "ghp_shared"}
    assert len(prompter.requests) == 1


@pytest.mark.asyncio
async def test_only_that_agents_grants_for_that_task_end(
    services: Services, demo: AgentRecord, other: AgentRecord
) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    services.secrets.set("slack", SecretValue("xoxb_shared"))
    broker = make_broker(services, ScriptedPrompter(default=TASK))
    await fulfil(broker, demo, (GITHUB, SLACK), task_id="t1")  # two grants for t1
    await fulfil(broker, demo, task_id="t2")
    await fulfil(broker, other, task_id="t1")  # another agent's task with the same id
    keep = services.catalog.list_grants()
    conversation = make_grant(
        agent=demo,
        secret=services.catalog.find_secret("github", None),  # type: ignore[arg-type]
        scope=GrantScope.CONVERSATION,
        now=services.catalog.clock.now(),
        grant_id=new_grant_id(),
        context_id="ctx-1",
    )
    services.catalog.add_grant(conversation)

    ended = broker.task_ended("demo", "t1", state="completed")

    assert sorted(services.catalog.find_secret_by_id(g.secret_id).key for g in ended) == ["github", "slack"]  # type: ignore[union-attr]
    left = services.catalog.list_grants()
    assert {(g.agent, g.task_id) for g in left if g.scope is GrantScope.TASK} == {
        ("demo", "t2"),
        ("other", "t1"),
    }
    assert conversation in left
    assert len(left) == len(keep) + 1 - 2
    revoked = [e for e in services.audit.events() if e.decision is AuditDecision.REVOKED]
    assert sorted(e.key for e in revoked) == ["github", "slack"]


@pytest.mark.asyncio
async def test_ending_twice_ends_and_audits_once(services: Services, demo: AgentRecord) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    broker = make_broker(services, ScriptedPrompter(TASK))
    await fulfil(broker, demo, task_id="t1")
    assert len(broker.task_ended("demo", "t1", state="completed")) == 1
    events = len(services.audit.events())
    assert broker.task_ended("demo", "t1", state="completed") == []
    assert broker.task_ended("demo", "", state="completed") == []
    assert len(services.audit.events()) == events


@pytest.mark.asyncio
async def test_a_preflight_task_grant_ends_with_the_task_its_run_created(
    services: Services, demo: AgentRecord
) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    broker = make_broker(services, ScriptedPrompter(TASK))
    await fulfil(broker, demo, phase="preflight", task_id=None, context_id=None, run_id="run-7")
    [grant] = _task_grants(services)
    assert grant.task_id == "keybroker-run:run-7"  # no task id yet: bound to the run

    ended = broker.task_ended("demo", "task-77", state="completed", run_id="run-7")

    assert [g.grant_id for g in ended] == [grant.grant_id]
    assert _task_grants(services) == []
    assert services.audit.events()[-1].task_id == "task-77"


@pytest.mark.asyncio
async def test_a_task_grant_typed_into_the_prompt_ends_but_the_value_stays(
    services: Services, demo: AgentRecord
) -> None:
    answer = PromptAnswer.grant(GrantScope.TASK, {"github": NewValue(SecretValue("ghp_typed"))})
    broker = make_broker(services, ScriptedPrompter(answer))
    assert revealed(await fulfil(broker, demo, task_id="t1")) == {"github": "ghp_typed"}
    broker.task_ended("demo", "t1", state="completed")
    stored = services.catalog.find_secret("github", "demo")
    assert stored is not None and services.vault.get(stored.secret_id) == SecretValue("ghp_typed")
    assert services.catalog.list_grants(agent="demo") == []  # a typed value has no owner grant


@pytest.mark.asyncio
async def test_a_task_never_seen_to_end_loses_its_grant_at_the_ceiling(
    services: Services, demo: AgentRecord, clock: FakeClock, vault: CountingVault
) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    prompter = ScriptedPrompter(TASK, TASK)
    broker = make_broker(services, prompter, vault)
    await fulfil(broker, demo, task_id="t1")
    [grant] = _task_grants(services)
    assert grant.expires == grant.created + TASK_GRANT_CEILING

    clock.advance(TASK_GRANT_CEILING - 1)
    reads = vault.reads
    assert revealed(await fulfil(broker, demo, task_id="t1", run_id="r2")) == {"github": "ghp_shared"}
    assert len(prompter.requests) == 1 and vault.reads == reads  # still granted, from the cache
    assert [g.grant_id for g in services.grants.live(agent="demo")] == [grant.grant_id]

    clock.advance(1)
    assert services.grants.live(agent="demo") == []  # pruned as it is read
    assert revealed(await fulfil(broker, demo, task_id="t1", run_id="r3")) == {"github": "ghp_shared"}
    assert len(prompter.requests) == 2  # asked again
    assert vault.reads == reads + 1  # the cached value went with the grant


def test_the_grant_book_ends_task_grants_by_agent_and_task(services: Services, demo: AgentRecord) -> None:
    record = services.secrets.set("github", SecretValue("ghp_shared")).record
    now = services.catalog.clock.now()
    for task in ("t1", "t2"):
        services.catalog.add_grant(
            make_grant(
                agent=demo, secret=record, scope=GrantScope.TASK, now=now, grant_id=f"g-{task}", task_id=task
            )
        )
    ended = services.grants.end_task("demo", "t1", state="failed", caller="bridge")
    assert [g.grant_id for g in ended] == ["g-t1"]
    assert [g.grant_id for g in services.catalog.list_grants()] == ["g-t2"]
    event = services.audit.events()[-1]
    assert (event.decision, event.caller, event.detail) == (
        AuditDecision.REVOKED,
        "bridge",
        "task failed: its this-task grant ended",
    )
    assert services.audit.verify().ok  # the chain still holds


@pytest.mark.asyncio
async def test_a_task_end_reads_no_catalog_stamp_when_this_process_changed_nothing(
    services: Services, demo: AgentRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Task grants are given in this process alone: every request's task end would otherwise read
    SQLite's data_version (issue 16). A grant given here since is still seen and ended."""
    services.secrets.set("github", SecretValue("ghp_shared"))
    broker = make_broker(services, ScriptedPrompter(default=TASK))
    await fulfil(broker, demo, task_id="t1")  # a task grant for t1 (the inputs were read after it)
    broker.task_ended("demo", "t0", state="completed")
    reads: list[str] = []
    catalog = services.catalog
    for name in ("change_stamp", "try_change_stamp"):
        real = getattr(catalog, name)
        monkeypatch.setattr(catalog, name, lambda real=real, name=name: (reads.append(name), real())[1])
    assert broker.task_ended("demo", "t9", state="completed") == []  # every request's case: none to end
    assert reads == []
    assert len(broker.task_ended("demo", "t1", state="completed")) == 1  # seen without a read
    await fulfil(broker, demo, task_id="t2")  # a grant given here: this process changed the catalog
    reads.clear()
    assert len(broker.task_ended("demo", "t2", state="completed")) == 1
    assert reads  # read again, and the new grant seen
