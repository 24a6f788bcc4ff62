"""`Broker.fulfil_if_granted`: the fast path's one call. All released on grants and audited, or None
with nothing released, audited, asked or spent; values read once, catalog rows read once."""

from __future__ import annotations

import pytest

from keybroker.core.broker.broker import Broker
from keybroker.core.broker.grant_rules import make_grant
from keybroker.core.models import (
    AgentRecord,
    AuditDecision,
    Grant,
    GrantScope,
    SecretDemand,
    SecretRecord,
    SecretValue,
)
from keybroker.core.secrets.records import new_grant_id
from keybroker.wiring.services import Services
from tests.core.broker.test_broker import DEMO_URL, GITHUB, SLACK, CountingVault, add_agent, make_broker
from tests.core.conftest import CardServer
from tests.fakes import ScriptedPrompter


@pytest.fixture
def demo(services: Services, cards: CardServer) -> AgentRecord:
    return add_agent(services, cards, DEMO_URL, "demo", "Demo Agent")


@pytest.fixture
def vault(services: Services) -> CountingVault:
    return CountingVault(services.vault)


def _grant(
    services: Services, agent: AgentRecord, secret: SecretRecord, scope: GrantScope, **kw: object
) -> Grant:
    """A grant of `scope` on `secret` to `agent`, made now and stored (`kw`: make_grant's others)."""
    now = services.catalog.clock.now()
    grant = make_grant(agent=agent, secret=secret, scope=scope, now=now, grant_id=new_grant_id(), **kw)  # type: ignore[arg-type]
    services.catalog.add_grant(grant)
    return grant


async def _granted(
    broker: Broker,
    agent: AgentRecord,
    *demands: SecretDemand,
    context_id: str = "ctx-1",
    task_id: str | None = None,
) -> dict[str, str] | None:
    """`fulfil_if_granted` for `demands` (a run-time demand when `task_id` is given): the values
    released, revealed, or None."""
    answer = await broker.fulfil_if_granted(
        agent,
        list(demands),
        phase="runtime" if task_id else "preflight",
        task_id=task_id,
        context_id=context_id,
        run_id=new_grant_id(),
        caller="pid 7 (python3)",
    )
    return None if answer is None else {k: v.reveal() for k, v in answer.values.items()}


@pytest.mark.asyncio
async def test_everything_granted_is_released_audited_and_counted(
    services: Services, demo: AgentRecord, vault: CountingVault
) -> None:
    services.secrets.set("github", SecretValue("ghp_own"), owner="demo")
    services.secrets.set("slack", SecretValue("xoxb_own"), owner="demo")
    prompter = ScriptedPrompter()
    broker = make_broker(services, prompter, vault)
    for _ in range(3):
        assert await _granted(broker, demo, GITHUB, SLACK) == {"github": "ghp_own", "slack": "xoxb_own"}
    assert prompter.requests == []
    assert vault.reads == 2  # each value read once, then served from the cache
    assert broker._triage.inputs.reads == 1  # the catalog rows read once: nothing changed since
    released = [e for e in services.audit.events() if e.decision is AuditDecision.RELEASED]
    assert [(e.key, e.scope, e.caller, e.detail) for e in released[:2]] == [
        ("github", "always", "pid 7 (python3)", "preflight"),
        ("slack", "always", "pid 7 (python3)", "preflight"),
    ]
    assert len(released) == 6
    assert [r.use_count for r in services.catalog.list_secrets()] == [3, 3]
    assert services.audit.verify().ok


@pytest.mark.asyncio
async def test_one_demand_needing_a_prompt_releases_nothing_and_asks_no_one(
    services: Services, demo: AgentRecord
) -> None:
    services.secrets.set("github", SecretValue("ghp_own"), owner="demo")
    prompter = ScriptedPrompter()
    broker = make_broker(services, prompter)
    count = services.audit.count()
    assert await _granted(broker, demo, GITHUB, SLACK) is None
    assert prompter.requests == [] and services.audit.count() == count
    assert await _granted(broker, demo) == {}  # nothing demanded: nothing to record
    assert services.audit.count() == count and broker._group.commits == 0


@pytest.mark.asyncio
async def test_a_once_grant_is_left_unspent_for_the_full_path(services: Services, demo: AgentRecord) -> None:
    shared = services.secrets.set("github", SecretValue("ghp_shared")).record
    clock = services.catalog.clock
    once = make_grant(
        agent=demo, secret=shared, scope=GrantScope.ONCE, now=clock.now(), grant_id=new_grant_id()
    )
    services.catalog.add_grant(once)
    broker = make_broker(services, ScriptedPrompter())
    count = services.audit.count()
    assert await _granted(broker, demo, GITHUB) is None
    assert services.catalog.list_grants(agent="demo") == [once]
    assert services.audit.count() == count


@pytest.mark.asyncio
async def test_a_grant_given_or_revoked_meanwhile_is_seen_by_the_next_call(
    services: Services, demo: AgentRecord
) -> None:
    shared = services.secrets.set("github", SecretValue("ghp_shared")).record
    broker = make_broker(services, ScriptedPrompter())
    assert await _granted(broker, demo, GITHUB) is None
    clock = services.catalog.clock
    grant = make_grant(
        agent=demo, secret=shared, scope=GrantScope.ALWAYS, now=clock.now(), grant_id=new_grant_id()
    )
    services.catalog.add_grant(grant)
    assert await _granted(broker, demo, GITHUB) == {"github": "ghp_shared"}
    services.grants.revoke(grant.grant_id)
    assert await _granted(broker, demo, GITHUB) is None
