"""Decisions remembered on the fast path (decision_memo.py, issue 16): remembered while nothing they rest
on changed, and never once something did. A grant revoked or given, a secret removed by another
connection to the catalog (as the CLI in another process writes it), a lock, a failed lock, an N-minute
grant's end, a clock set back, another conversation: each holds for the very next request, and the
audit holds one record per release, in order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keybroker.core.broker.decision_memo import DecisionMemo
from keybroker.core.broker.grant_rules import make_grant
from keybroker.core.broker.policy import Allow, Ask
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.models import (
    AgentRecord,
    AuditDecision,
    GrantScope,
    SecretValue,
)
from keybroker.wiring.services import Services
from tests.core.broker.test_broker import DEMO_URL, GITHUB, SLACK, add_agent, make_broker
from tests.core.broker.test_fulfil_if_granted import _grant, _granted
from tests.core.conftest import CardServer, fill_the_disk, free_the_disk
from tests.fakes import FakeClock, ScriptedPrompter


@pytest.fixture
def demo(services: Services, cards: CardServer) -> AgentRecord:
    return add_agent(services, cards, DEMO_URL, "demo", "Demo Agent")


@pytest.fixture
def other(services: Services, clock: FakeClock) -> Iterator[Catalog]:
    """A second connection to the same catalog file: what the CLI in another process writes through."""
    catalog = Catalog(services.catalog.path, clock=clock)
    yield catalog
    catalog.close()


def _released(services: Services) -> list[str]:
    return [e.key or "" for e in services.audit.events() if e.decision is AuditDecision.RELEASED]


@pytest.mark.asyncio
async def test_a_granted_request_is_decided_once_then_remembered(
    services: Services, demo: AgentRecord
) -> None:
    services.secrets.set("github", SecretValue("ghp_own"), owner="demo")
    broker = make_broker(services, ScriptedPrompter())
    for _ in range(4):  # each request has its own run id and placeholder ids: no grant depends on them
        assert await _granted(broker, demo, GITHUB) == {"github": "ghp_own"}
    assert broker._triage.memo.decided == 1
    assert _released(services) == ["github"] * 4


@pytest.mark.asyncio
async def test_a_revoke_by_another_connection_holds_for_the_next_request(
    services: Services, demo: AgentRecord, other: Catalog
) -> None:
    services.secrets.set("github", SecretValue("ghp_own"), owner="demo")
    broker = make_broker(services, ScriptedPrompter())
    assert await _granted(broker, demo, GITHUB) == {"github": "ghp_own"}
    assert await _granted(broker, demo, GITHUB) == {"github": "ghp_own"}
    (grant,) = services.catalog.list_grants(agent="demo")
    assert other.delete_grant(grant.grant_id)
    assert await _granted(broker, demo, GITHUB) is None
    assert _released(services) == ["github", "github"]
    assert services.audit.verify().ok


@pytest.mark.asyncio
async def test_a_grant_given_by_another_connection_is_seen_by_the_next_request(
    services: Services, demo: AgentRecord, other: Catalog
) -> None:
    shared = services.secrets.set("github", SecretValue("ghp_shared")).record
    broker = make_broker(services, ScriptedPrompter())
    assert await _granted(broker, demo, GITHUB) is None
    assert await _granted(broker, demo, GITHUB) is None
    now = services.catalog.clock.now()
    other.add_grant(make_grant(agent=demo, secret=shared, scope=GrantScope.ALWAYS, now=now, grant_id="g-2"))
    assert await _granted(broker, demo, GITHUB) == {"github": "ghp_shared"}


@pytest.mark.asyncio
async def test_a_secret_removed_by_another_connection_is_not_released_from_memory(
    services: Services, demo: AgentRecord, other: Catalog
) -> None:
    record = services.secrets.set("github", SecretValue("ghp_own"), owner="demo").record
    broker = make_broker(services, ScriptedPrompter())
    assert await _granted(broker, demo, GITHUB) == {"github": "ghp_own"}  # the value is now cached
    other.delete_grants(secret_id=record.secret_id)
    other.delete_secret(record.secret_id)
    assert await _granted(broker, demo, GITHUB) is None
    assert _released(services) == ["github"]


@pytest.mark.asyncio
async def test_a_minutes_grant_ends_for_the_request_at_its_end(
    services: Services, demo: AgentRecord, clock: FakeClock
) -> None:
    shared = services.secrets.set("github", SecretValue("ghp_shared")).record
    grant = _grant(services, demo, shared, GrantScope.MINUTES, minutes=1)
    assert grant.expires is not None
    broker = make_broker(services, ScriptedPrompter())
    assert await _granted(broker, demo, GITHUB) == {"github": "ghp_shared"}
    clock.t = grant.expires - 0.001
    assert await _granted(broker, demo, GITHUB) == {"github": "ghp_shared"}
    clock.t = grant.expires  # at its end exactly it has ended (grant_rules.grant_is_live)
    assert await _granted(broker, demo, GITHUB) is None
    assert services.catalog.list_grants(agent="demo") == [grant]  # ended by time alone, no write
    assert _released(services) == ["github", "github"]


@pytest.mark.asyncio
async def test_a_clock_set_back_decides_again(
    services: Services, demo: AgentRecord, clock: FakeClock
) -> None:
    shared = services.secrets.set("github", SecretValue("ghp_shared")).record
    grant = _grant(services, demo, shared, GrantScope.MINUTES, minutes=1)
    assert grant.expires is not None
    broker = make_broker(services, ScriptedPrompter())
    clock.t = grant.expires + 5
    assert await _granted(broker, demo, GITHUB) is None
    clock.t = grant.expires - 5  # the wall clock went back: the grant is live again, as decide says
    assert await _granted(broker, demo, GITHUB) == {"github": "ghp_shared"}


@pytest.mark.asyncio
async def test_a_lock_holds_for_the_next_request(services: Services, demo: AgentRecord) -> None:
    shared = services.secrets.set("github", SecretValue("ghp_shared")).record
    _grant(services, demo, shared, GrantScope.UNTIL_LOCK)
    broker = make_broker(services, ScriptedPrompter())
    assert await _granted(broker, demo, GITHUB) == {"github": "ghp_shared"}
    broker.lock()
    assert await _granted(broker, demo, GITHUB) is None
    assert _released(services) == ["github"]


@pytest.mark.asyncio
async def test_a_lock_that_could_not_end_the_grants_still_holds_for_the_next_request(
    services: Services, demo: AgentRecord
) -> None:
    shared = services.secrets.set("github", SecretValue("ghp_shared")).record
    _grant(services, demo, shared, GrantScope.UNTIL_LOCK)
    broker = make_broker(services, ScriptedPrompter())
    assert await _granted(broker, demo, GITHUB) == {"github": "ghp_shared"}
    fill_the_disk(services)
    with pytest.raises(Exception):  # noqa: B017 - the catalog's error, whichever it is
        broker.lock()
    free_the_disk(services)
    assert await _granted(broker, demo, GITHUB) is None
    assert _released(services) == ["github"]


@pytest.mark.asyncio
async def test_a_conversation_grant_is_decided_per_conversation(
    services: Services, demo: AgentRecord
) -> None:
    shared = services.secrets.set("github", SecretValue("ghp_shared")).record
    _grant(services, demo, shared, GrantScope.CONVERSATION, context_id="ctx-1")
    broker = make_broker(services, ScriptedPrompter())
    assert await _granted(broker, demo, GITHUB, context_id="ctx-1") == {"github": "ghp_shared"}
    assert await _granted(broker, demo, GITHUB, context_id="ctx-2") is None
    assert await _granted(broker, demo, GITHUB, context_id="ctx-1") == {"github": "ghp_shared"}
    assert _released(services) == ["github", "github"]


@pytest.mark.asyncio
async def test_a_task_grant_is_decided_per_task(services: Services, demo: AgentRecord) -> None:
    shared = services.secrets.set("github", SecretValue("ghp_shared")).record
    _grant(services, demo, shared, GrantScope.TASK, task_id="t-1")
    broker = make_broker(services, ScriptedPrompter())
    assert await _granted(broker, demo, GITHUB, task_id="t-1") == {"github": "ghp_shared"}
    assert await _granted(broker, demo, GITHUB, task_id="t-2") is None
    assert await _granted(broker, demo, GITHUB, task_id="t-1") == {"github": "ghp_shared"}
    assert _released(services) == ["github", "github"]


@pytest.mark.asyncio
async def test_every_release_has_one_record_in_order_and_the_chain_verifies(
    services: Services, demo: AgentRecord, other: Catalog
) -> None:
    services.secrets.set("github", SecretValue("ghp_own"), owner="demo")
    slack = services.secrets.set("slack", SecretValue("xoxb_shared")).record
    broker = make_broker(services, ScriptedPrompter())
    expected: list[str] = []
    for n in range(6):
        if n == 2:
            other.add_grant(
                make_grant(
                    agent=demo,
                    secret=slack,
                    scope=GrantScope.ALWAYS,
                    now=services.catalog.clock.now(),
                    grant_id="g-slack",
                )
            )
        if n == 4:
            other.delete_grant("g-slack")
        answer = await _granted(broker, demo, SLACK, GITHUB)
        if 2 <= n < 4:
            assert answer == {"slack": "xoxb_shared", "github": "ghp_own"}
            expected += ["slack", "github"]
        else:
            assert answer is None
    assert _released(services) == expected
    seqs = [e.seq for e in services.audit.events()]
    assert seqs == sorted(seqs) == list(range(seqs[0], seqs[0] + len(seqs)))
    assert services.audit.verify().ok


def test_the_memo_forgets_everything_when_its_basis_moves(demo: AgentRecord) -> None:
    memo = DecisionMemo()
    ask = Ask(reason="no grant", secret=None, offers=(), card_changed=False)
    answers: list[Ask] = []

    def decide() -> Ask:
        answers.append(ask)
        return ask

    for basis in [((1, 1), None), ((1, 1), None), ((1, 2), None), ((1, 2), 5.0), ((1, 2), 5.0)]:
        assert memo.decision(basis, 10.0, demo, "github", None, (None, None), list, decide) is ask
    assert memo.decided == len(answers) == 3
    assert not isinstance(ask, Allow)
