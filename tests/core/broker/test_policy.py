"""Tests for keybroker.core.broker.policy, grant_rules and transport: release decisions, grants, transport."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random

import pytest

from keybroker.core.broker.grant_rules import (
    MAX_GRANT_MINUTES,
    TASK_GRANT_CEILING,
    expired_grants,
    grant_is_live,
    grants_after_lock,
    grants_after_restart,
    make_grant,
    owner_grant,
)
from keybroker.core.broker.policy import Allow, Ask, Deny, ReleaseRequest, candidate_secret, decide
from keybroker.core.broker.transport import insecure_transport_reason, is_loopback_url
from keybroker.core.errors import InvalidInputError
from keybroker.core.models import AgentRecord, Grant, GrantScope, SecretRecord
from tests.fakes import FakeClock

KEY = "SLACK_API_KEY"
CARD_A = "a" * 64
CARD_B = "b" * 64
NEW_CARD = "c" * 64


def agent(slug: str, *, fingerprint: str = CARD_A, url: str = "http://127.0.0.1:9000") -> AgentRecord:
    return AgentRecord(
        slug=slug,
        url=url,
        card_url=f"{url}/.well-known/agent-card.json",
        name=slug.title(),
        description="",
        protocol_versions=("1.0",),
        fingerprint=fingerprint,
    )


def secret(
    secret_id: str, owner: str | None, *, key: str = KEY, scheme: str | None = None, updated: float = 0.0
) -> SecretRecord:
    return SecretRecord(secret_id=secret_id, key=key, owner=owner, scheme=scheme, updated=updated)


def grant(
    grant_id: str,
    who: AgentRecord,
    record: SecretRecord,
    scope: GrantScope,
    *,
    created: float = 0.0,
    expires: float | None = None,
    task_id: str | None = None,
    context_id: str | None = None,
    fingerprint: str | None = None,
) -> Grant:
    return Grant(
        grant_id=grant_id,
        agent=who.slug,
        secret_id=record.secret_id,
        scope=scope,
        created=created,
        expires=expires,
        task_id=task_id,
        context_id=context_id,
        card_fingerprint=who.fingerprint if fingerprint is None else fingerprint,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ALICE = agent("alice")
BOB = agent("bob", fingerprint=CARD_B)
CAROL = agent("carol")
ALICE_OWN = secret("s-alice", "alice")
BOB_OWN = secret("s-bob", "bob")
SHARED = secret("s-shared", None)


# candidate_secret --------------------------------------------------------------------------------


def test_candidate_own_value_wins_over_shared_in_any_order() -> None:
    records = [SHARED, ALICE_OWN, BOB_OWN]
    for order in itertools.permutations(records):
        assert candidate_secret("alice", KEY, None, order) == ALICE_OWN


def test_candidate_falls_back_to_shared() -> None:
    assert candidate_secret("carol", KEY, None, [ALICE_OWN, SHARED, BOB_OWN]) == SHARED


def test_candidate_never_another_agents_value() -> None:
    assert candidate_secret("carol", KEY, None, [ALICE_OWN, BOB_OWN]) is None


def test_candidate_none_when_nothing_stored_or_other_key() -> None:
    assert candidate_secret("alice", KEY, None, []) is None
    assert candidate_secret("alice", KEY, None, [secret("s-x", "alice", key="OTHER")]) is None


def test_candidate_scheme_binding_works_both_ways() -> None:
    bound = secret("s-bound", None, scheme="bearer")
    unbound = secret("s-unbound", None)
    assert candidate_secret("alice", KEY, "bearer", [bound, unbound]) == bound
    assert candidate_secret("alice", KEY, None, [bound, unbound]) == unbound
    assert candidate_secret("alice", KEY, "bearer", [unbound]) is None
    assert candidate_secret("alice", KEY, None, [bound]) is None
    assert candidate_secret("alice", KEY, "apiKey", [bound]) is None


def test_candidate_duplicates_resolve_deterministically_to_latest() -> None:
    older = secret("s-1", "alice", updated=10.0)
    newer = secret("s-2", "alice", updated=20.0)
    for order in itertools.permutations([older, newer, SHARED]):
        assert candidate_secret("alice", KEY, None, order) == newer


# grant_is_live -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", [GrantScope.ONCE, GrantScope.UNTIL_LOCK, GrantScope.ALWAYS])
def test_unbounded_scopes_are_live_for_any_request(scope: GrantScope) -> None:
    g = grant("g", ALICE, SHARED, scope)
    assert grant_is_live(g, 1e12)
    assert grant_is_live(g, 0.0, task_id="t", context_id="c")


def test_minutes_grant_ends_exactly_at_expires(clock: FakeClock) -> None:
    g = make_grant(
        agent=ALICE, secret=SHARED, scope=GrantScope.MINUTES, now=clock.now(), grant_id="g", minutes=5
    )
    assert g.expires == clock.now() + 300
    clock.advance(299.999)
    assert grant_is_live(g, clock.now())
    clock.advance(0.001)
    assert clock.now() == g.expires
    assert not grant_is_live(g, clock.now())
    clock.advance(1)
    assert not grant_is_live(g, clock.now())


def test_minutes_grant_without_end_is_not_live() -> None:
    assert not grant_is_live(grant("g", ALICE, SHARED, GrantScope.MINUTES, expires=None), 0.0)


@pytest.mark.parametrize(("task_id", "live"), [("t-1", True), ("t-2", False), (None, False), ("", False)])
def test_task_grant_matches_only_its_task(task_id: str | None, live: bool) -> None:
    g = grant("g", ALICE, SHARED, GrantScope.TASK, task_id="t-1")
    assert grant_is_live(g, 0.0, task_id=task_id, context_id="t-1") is live


@pytest.mark.parametrize(("context_id", "live"), [("c-1", True), ("c-2", False), (None, False), ("", False)])
def test_conversation_grant_matches_only_its_context(context_id: str | None, live: bool) -> None:
    g = grant("g", ALICE, SHARED, GrantScope.CONVERSATION, context_id="c-1")
    assert grant_is_live(g, 0.0, task_id="c-1", context_id=context_id) is live


def test_task_and_conversation_grants_with_empty_ids_never_match() -> None:
    assert not grant_is_live(grant("g", ALICE, SHARED, GrantScope.TASK, task_id=""), 0.0, task_id="")
    g = grant("g", ALICE, SHARED, GrantScope.CONVERSATION, context_id=None)
    assert not grant_is_live(g, 0.0, context_id=None)


# decide: who gets what ---------------------------------------------------------------------------


def test_nothing_stored_asks_for_a_new_value(clock: FakeClock) -> None:
    d = decide(ReleaseRequest(ALICE, KEY), [secret("s-x", None, key="OTHER")], [], clock.now())
    assert isinstance(d, Ask)
    assert d.secret is None
    assert d.offers == ()
    assert not d.card_changed
    assert "no value" in d.reason and KEY in d.reason


def test_own_value_with_owner_grant_is_allowed_without_prompt(clock: FakeClock) -> None:
    g = owner_grant(agent=ALICE, secret=ALICE_OWN, now=clock.now(), grant_id="g-owner")
    d = decide(ReleaseRequest(ALICE, KEY), [SHARED, ALICE_OWN], [g], clock.now())
    assert d == Allow(secret=ALICE_OWN, grant=g, consume=False)


def test_own_value_without_grant_asks_for_it(clock: FakeClock) -> None:
    d = decide(ReleaseRequest(ALICE, KEY), [ALICE_OWN], [], clock.now())
    assert isinstance(d, Ask)
    assert d.secret == ALICE_OWN
    assert "no grant" in d.reason


def test_shared_value_without_grant_asks_on_first_use(clock: FakeClock) -> None:
    d = decide(ReleaseRequest(CAROL, KEY), [SHARED], [], clock.now())
    assert isinstance(d, Ask)
    assert d.secret == SHARED
    assert d.offers == ()
    assert "first use" in d.reason


def test_shared_value_grant_of_another_agent_does_not_count(clock: FakeClock) -> None:
    g = grant("g", ALICE, SHARED, GrantScope.ALWAYS)
    d = decide(ReleaseRequest(CAROL, KEY), [SHARED], [g], clock.now())
    assert isinstance(d, Ask)
    assert "first use" in d.reason


def test_shared_value_with_grant_is_allowed(clock: FakeClock) -> None:
    g = grant("g", CAROL, SHARED, GrantScope.ALWAYS)
    assert decide(ReleaseRequest(CAROL, KEY), [SHARED], [g], clock.now()) == Allow(SHARED, g, False)


def test_grant_on_another_secret_id_does_not_count(clock: FakeClock) -> None:
    other = secret("s-other", None, key="OTHER")
    g = grant("g", CAROL, other, GrantScope.ALWAYS)
    d = decide(ReleaseRequest(CAROL, KEY), [SHARED, other], [g], clock.now())
    assert isinstance(d, Ask)


def test_own_value_wins_even_when_shared_one_has_a_grant(clock: FakeClock) -> None:
    on_shared = grant("g-shared", ALICE, SHARED, GrantScope.ALWAYS)
    d = decide(ReleaseRequest(ALICE, KEY), [SHARED, ALICE_OWN], [on_shared], clock.now())
    assert isinstance(d, Ask)
    assert d.secret == ALICE_OWN
    on_own = grant("g-own", ALICE, ALICE_OWN, GrantScope.MINUTES, expires=clock.now() + 60)
    d = decide(ReleaseRequest(ALICE, KEY), [SHARED, ALICE_OWN], [on_shared, on_own], clock.now())
    assert d == Allow(ALICE_OWN, on_own, False)


def test_value_of_agent_a_is_only_offered_to_agent_b(clock: FakeClock) -> None:
    a_owner = owner_grant(agent=ALICE, secret=ALICE_OWN, now=clock.now(), grant_id="g-a")
    d = decide(ReleaseRequest(BOB, KEY), [ALICE_OWN], [a_owner], clock.now())
    assert isinstance(d, Ask)
    assert d.secret is None
    assert d.offers == (ALICE_OWN,)
    assert "alice" in d.reason and "bob" in d.reason


def test_other_agents_values_are_offered_next_to_shared(clock: FakeClock) -> None:
    records = [BOB_OWN, SHARED, ALICE_OWN]
    d = decide(ReleaseRequest(CAROL, KEY), records, [], clock.now())
    assert isinstance(d, Ask)
    assert d.secret == SHARED
    assert d.offers == (ALICE_OWN, BOB_OWN)  # sorted by owner, whatever the input order
    d_own = decide(ReleaseRequest(BOB, KEY), records, [], clock.now())
    assert isinstance(d_own, Ask)
    assert d_own.secret == BOB_OWN
    assert d_own.offers == (ALICE_OWN,)


def test_value_of_agent_a_released_to_b_only_on_bs_grant_for_it(clock: FakeClock) -> None:
    b_on_a = make_grant(
        agent=BOB, secret=ALICE_OWN, scope=GrantScope.UNTIL_LOCK, now=clock.now(), grant_id="g-b"
    )
    assert decide(ReleaseRequest(BOB, KEY), [ALICE_OWN, SHARED], [b_on_a], clock.now()) == Allow(
        ALICE_OWN, b_on_a, False
    )
    # The same grant does nothing for a third agent.
    d = decide(ReleaseRequest(CAROL, KEY), [ALICE_OWN], [b_on_a], clock.now())
    assert isinstance(d, Ask)
    assert d.offers == (ALICE_OWN,)


def test_bs_own_value_wins_over_a_value_b_was_granted_from_a(clock: FakeClock) -> None:
    b_on_a = grant("g-b-on-a", BOB, ALICE_OWN, GrantScope.ALWAYS)
    d = decide(ReleaseRequest(BOB, KEY), [ALICE_OWN, BOB_OWN], [b_on_a], clock.now())
    assert isinstance(d, Ask)
    assert d.secret == BOB_OWN


def test_shared_grant_comes_before_a_grant_on_another_agents_value(clock: FakeClock) -> None:
    on_shared = grant("g-1", CAROL, SHARED, GrantScope.ALWAYS)
    on_alice = grant("g-2", CAROL, ALICE_OWN, GrantScope.ALWAYS)
    d = decide(ReleaseRequest(CAROL, KEY), [ALICE_OWN, SHARED], [on_alice, on_shared], clock.now())
    assert d == Allow(SHARED, on_shared, False)


def test_scheme_bound_value_only_for_its_scheme(clock: FakeClock) -> None:
    bound = secret("s-bound", "alice", scheme="bearer")
    g = owner_grant(agent=ALICE, secret=bound, now=clock.now(), grant_id="g")
    assert isinstance(decide(ReleaseRequest(ALICE, KEY, scheme="bearer"), [bound], [g], 0.0), Allow)
    d = decide(ReleaseRequest(ALICE, KEY), [bound], [g], 0.0)
    assert isinstance(d, Ask)
    assert d.secret is None


# decide: the card fingerprint --------------------------------------------------------------------


@pytest.mark.parametrize("scope", list(GrantScope))
def test_changed_card_suspends_every_scope(scope: GrantScope, clock: FakeClock) -> None:
    g = make_grant(
        agent=ALICE,
        secret=ALICE_OWN,
        scope=scope,
        now=clock.now(),
        grant_id="g",
        minutes=10,
        task_id="t",
        context_id="c",
    )
    request = ReleaseRequest(ALICE, KEY, task_id="t", context_id="c")
    assert isinstance(decide(request, [ALICE_OWN], [g], clock.now()), Allow)
    changed = dataclasses.replace(request, agent=dataclasses.replace(ALICE, fingerprint=NEW_CARD))
    d = decide(changed, [ALICE_OWN], [g], clock.now())
    assert isinstance(d, Ask)
    assert d.card_changed
    assert "card" in d.reason and "changed" in d.reason
    assert d.secret == ALICE_OWN


def test_changed_card_suspends_owner_grant_and_a_fresh_grant_restores(clock: FakeClock) -> None:
    old = owner_grant(agent=ALICE, secret=ALICE_OWN, now=clock.now(), grant_id="g-old")
    alice_now = dataclasses.replace(ALICE, fingerprint=NEW_CARD)
    d = decide(ReleaseRequest(alice_now, KEY), [ALICE_OWN], [old], clock.now())
    assert isinstance(d, Ask) and d.card_changed
    clock.advance(5)
    fresh = owner_grant(agent=alice_now, secret=ALICE_OWN, now=clock.now(), grant_id="g-new")
    assert fresh.card_fingerprint == NEW_CARD
    d = decide(ReleaseRequest(alice_now, KEY), [ALICE_OWN], [old, fresh], clock.now())
    assert d == Allow(ALICE_OWN, fresh, False)


def test_grant_without_recorded_card_fails_closed(clock: FakeClock) -> None:
    g = dataclasses.replace(grant("g", CAROL, SHARED, GrantScope.ALWAYS), card_fingerprint=None)
    d = decide(ReleaseRequest(CAROL, KEY), [SHARED], [g], clock.now())
    assert isinstance(d, Ask) and d.card_changed


def test_dead_grant_with_old_card_is_not_reported_as_card_change(clock: FakeClock) -> None:
    g = grant("g", CAROL, SHARED, GrantScope.MINUTES, expires=clock.now(), fingerprint=NEW_CARD)
    d = decide(ReleaseRequest(CAROL, KEY), [SHARED], [g], clock.now())
    assert isinstance(d, Ask)
    assert not d.card_changed
    assert "expired" in d.reason


# decide: scopes ----------------------------------------------------------------------------------


def test_once_grant_is_consumed(clock: FakeClock) -> None:
    g = make_grant(agent=CAROL, secret=SHARED, scope=GrantScope.ONCE, now=clock.now(), grant_id="g")
    assert decide(ReleaseRequest(CAROL, KEY), [SHARED], [g], clock.now()) == Allow(SHARED, g, True)


@pytest.mark.parametrize(
    "scope",
    [GrantScope.ALWAYS, GrantScope.UNTIL_LOCK, GrantScope.MINUTES, GrantScope.TASK, GrantScope.CONVERSATION],
)
def test_lasting_grant_preferred_over_once(scope: GrantScope, clock: FakeClock) -> None:
    once = make_grant(agent=CAROL, secret=SHARED, scope=GrantScope.ONCE, now=0.0, grant_id="a-once")
    other = make_grant(
        agent=CAROL,
        secret=SHARED,
        scope=scope,
        now=clock.now(),
        grant_id="z-lasting",
        minutes=1,
        task_id="t",
        context_id="c",
    )
    request = ReleaseRequest(CAROL, KEY, task_id="t", context_id="c")
    for grants in ([once, other], [other, once]):
        assert decide(request, [SHARED], grants, clock.now()) == Allow(SHARED, other, False)
    # Once the lasting one no longer applies, the once-grant is spent.
    elsewhere = ReleaseRequest(CAROL, KEY, task_id="t-2", context_id="c-2")
    clock.advance(61)
    d = decide(elsewhere, [SHARED], [once, other], clock.now())
    if scope in (GrantScope.ALWAYS, GrantScope.UNTIL_LOCK):
        assert d == Allow(SHARED, other, False)
    else:
        assert d == Allow(SHARED, once, True)


def test_minutes_grant_expires_on_the_fake_clock(clock: FakeClock) -> None:
    g = make_grant(
        agent=CAROL, secret=SHARED, scope=GrantScope.MINUTES, now=clock.now(), grant_id="g", minutes=2
    )
    request = ReleaseRequest(CAROL, KEY)
    clock.advance(119)
    assert isinstance(decide(request, [SHARED], [g], clock.now()), Allow)
    clock.advance(1)
    d = decide(request, [SHARED], [g], clock.now())
    assert isinstance(d, Ask)
    assert "expired" in d.reason
    assert not d.card_changed


def _in_run(scope: GrantScope, run_id: str | None) -> ReleaseRequest:
    """A request in run `run_id` for `scope`'s kind of run; the other id is one a grant never names."""
    if scope == GrantScope.TASK:
        return ReleaseRequest(CAROL, KEY, task_id=run_id, context_id="run-1")
    return ReleaseRequest(CAROL, KEY, task_id="run-1", context_id=run_id)


@pytest.mark.parametrize(
    ("scope", "word"), [(GrantScope.TASK, "task"), (GrantScope.CONVERSATION, "conversation")]
)
def test_task_and_conversation_grants_stay_in_their_run(
    scope: GrantScope, word: str, clock: FakeClock
) -> None:
    g = make_grant(
        agent=CAROL,
        secret=SHARED,
        scope=scope,
        now=clock.now(),
        grant_id="g",
        task_id="run-1",
        context_id="run-1",
    )
    assert decide(_in_run(scope, "run-1"), [SHARED], [g], clock.now()) == Allow(SHARED, g, False)
    for request in (_in_run(scope, "run-2"), _in_run(scope, None)):
        d = decide(request, [SHARED], [g], clock.now())
        assert isinstance(d, Ask)
        assert word in d.reason


def test_lock_ends_until_lock_grants(clock: FakeClock) -> None:
    g = grant("g", CAROL, SHARED, GrantScope.UNTIL_LOCK)
    request = ReleaseRequest(CAROL, KEY)
    assert isinstance(decide(request, [SHARED], [g], clock.now()), Allow)
    assert isinstance(decide(request, [SHARED], grants_after_lock([g]), clock.now()), Ask)


# decide: transport -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:8080",
        "HTTP://Example.COM",
        "http://10.0.0.7:9000",
        "http://0.0.0.0:9000",
        "http://[2001:db8::1]:9000",
        "http://localhost.example.com",
        "ws://example.com",
    ],
)
def test_clear_text_to_remote_host_is_denied_even_with_a_grant(url: str, clock: FakeClock) -> None:
    remote = agent("remote", url=url)
    g = grant("g", remote, SHARED, GrantScope.ALWAYS)
    d = decide(ReleaseRequest(remote, KEY), [SHARED], [g], clock.now())
    assert isinstance(d, Deny)
    host = url.split("//", 1)[1].split(":9000")[0].split(":8080")[0].lower()
    assert host in d.reason
    assert "https" in d.reason and "allow" in d.reason


def test_deny_comes_first_even_with_nothing_stored(clock: FakeClock) -> None:
    remote = agent("remote", url="http://example.com")
    assert isinstance(decide(ReleaseRequest(remote, KEY), [], [], clock.now()), Deny)


def test_deny_reason_never_shows_the_url_query_or_userinfo() -> None:
    reason = insecure_transport_reason("http://user:pw-123@example.com/a?token=tok-456#frag-789")
    assert reason is not None
    assert "example.com" in reason
    for leaked in ("pw-123", "tok-456", "frag-789", "user"):
        assert leaked not in reason


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "HTTPS://example.com:8443/a2a",
        "http://127.0.0.1:7411",
        "http://127.1.2.3",
        "http://localhost:9000",
        "http://[::1]:9000",
    ],
)
def test_encrypted_or_loopback_targets_are_fine(url: str, clock: FakeClock) -> None:
    a = agent("a", url=url)
    g = grant("g", a, SHARED, GrantScope.ALWAYS)
    assert isinstance(decide(ReleaseRequest(a, KEY), [SHARED], [g], clock.now()), Allow)


@pytest.mark.parametrize("allowed", ["example.com", "EXAMPLE.com", "example.com:8080"])
def test_user_allowed_insecure_host_is_fine(allowed: str, clock: FakeClock) -> None:
    a = agent("a", url="http://example.com:8080")
    g = grant("g", a, SHARED, GrantScope.ALWAYS)
    d = decide(
        ReleaseRequest(a, KEY), [SHARED], [g], clock.now(), allowed_insecure_hosts=frozenset({allowed})
    )
    assert isinstance(d, Allow)
    other = decide(
        ReleaseRequest(a, KEY), [SHARED], [g], clock.now(), allowed_insecure_hosts=frozenset({"example.org"})
    )
    assert isinstance(other, Deny)


def test_allowed_ipv6_host_in_brackets(clock: FakeClock) -> None:
    a = agent("a", url="http://[2001:db8::1]:9000")
    allowed = frozenset({"[2001:db8::1]"})
    assert isinstance(
        decide(ReleaseRequest(a, KEY), [], [], clock.now(), allowed_insecure_hosts=allowed), Ask
    )


def test_target_url_is_checked_instead_of_agent_url(clock: FakeClock) -> None:
    g = grant("g", ALICE, SHARED, GrantScope.ALWAYS)
    out = ReleaseRequest(ALICE, KEY, target_url="http://example.com/rpc")
    assert isinstance(decide(out, [SHARED], [g], clock.now()), Deny)
    remote = agent("remote", url="http://example.com")
    back = ReleaseRequest(remote, KEY, target_url="https://example.com/rpc")
    assert isinstance(decide(back, [SHARED], [grant("g", remote, SHARED, GrantScope.ALWAYS)], 0.0), Allow)


@pytest.mark.parametrize("url", ["", "not a url", "http://[::1", "http://example.com:99999", "http://"])
def test_malformed_target_is_denied(url: str, clock: FakeClock) -> None:
    a = agent("a", url=url)
    assert isinstance(decide(ReleaseRequest(a, KEY), [SHARED], [], clock.now()), Deny)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:7411", True),
        ("http://127.255.255.254/x", True),
        ("http://localhost", True),
        ("http://LOCALHOST:80/a", True),
        ("http://[::1]:8080", True),
        ("https://[::ffff:127.0.0.1]", True),
        ("  http://127.0.0.1  ", True),
        ("http://128.0.0.1", False),
        ("http://10.0.0.1", False),
        ("http://0.0.0.0", False),
        ("http://[::]", False),
        ("http://[::ffff:10.0.0.1]", False),
        ("http://localhost.evil.example", False),
        ("http://127.0.0.1.nip.io", False),
        ("http://evil-localhost", False),
        ("http://2130706433", False),
        ("127.0.0.1:7411", False),
        ("", False),
        ("not a url", False),
        ("http://[::1", False),
    ],
)
def test_is_loopback_url(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


# decide: determinism -----------------------------------------------------------------------------


def test_decide_ignores_input_order(clock: FakeClock) -> None:
    records = [SHARED, ALICE_OWN, BOB_OWN, secret("s-dave", "dave"), secret("s-other", None, key="X")]
    grants = [
        grant("g1", CAROL, SHARED, GrantScope.ONCE, created=1.0),
        grant("g2", CAROL, SHARED, GrantScope.ONCE, created=2.0),
        grant("g3", CAROL, ALICE_OWN, GrantScope.MINUTES, expires=clock.now() + 1),
        grant("g4", CAROL, SHARED, GrantScope.TASK, task_id="t-9"),
        grant("g5", BOB, SHARED, GrantScope.ALWAYS),
        grant("g6", CAROL, SHARED, GrantScope.ALWAYS, fingerprint=NEW_CARD),
    ]
    rng = random.Random(7)
    for request in (ReleaseRequest(CAROL, KEY), ReleaseRequest(BOB, KEY), ReleaseRequest(ALICE, KEY)):
        expected = decide(request, records, grants, clock.now())
        for _ in range(50):
            r, g = records[:], grants[:]
            rng.shuffle(r)
            rng.shuffle(g)
            assert decide(request, r, g, clock.now()) == expected
    # The oldest once-grant is the one spent, whatever the order.
    d = decide(ReleaseRequest(CAROL, KEY), [SHARED], grants[1::-1], clock.now())
    assert d == Allow(SHARED, grants[0], True)


# make_grant and owner_grant ----------------------------------------------------------------------


def test_make_grant_records_the_card_and_only_the_fields_its_scope_uses(clock: FakeClock) -> None:
    g = make_grant(
        agent=BOB,
        secret=SHARED,
        scope="task",
        now=clock.now(),
        grant_id="g-1",
        minutes=3,
        task_id="t",
        context_id="c",
    )
    assert g == Grant(
        grant_id="g-1",
        agent="bob",
        secret_id="s-shared",
        scope=GrantScope.TASK,
        created=clock.now(),
        expires=clock.now() + TASK_GRANT_CEILING,  # the ceiling of a task never seen to end
        task_id="t",
        card_fingerprint=CARD_B,
    )


@pytest.mark.parametrize(
    "minutes", [None, 0, -1, math.nan, math.inf, -math.inf, MAX_GRANT_MINUTES + 0.5, 10**9]
)
def test_make_grant_rejects_bad_minutes(minutes: float | None) -> None:
    with pytest.raises(InvalidInputError):
        make_grant(
            agent=ALICE, secret=SHARED, scope=GrantScope.MINUTES, now=0.0, grant_id="g", minutes=minutes
        )


def test_make_grant_accepts_the_longest_minutes() -> None:
    g = make_grant(
        agent=ALICE,
        secret=SHARED,
        scope=GrantScope.MINUTES,
        now=100.0,
        grant_id="g",
        minutes=MAX_GRANT_MINUTES,
    )
    assert g.expires == 100.0 + MAX_GRANT_MINUTES * 60


@pytest.mark.parametrize(
    ("scope", "task_id", "context_id"),
    [
        (GrantScope.TASK, None, None),
        (GrantScope.TASK, "", None),
        (GrantScope.TASK, None, "c"),
        (GrantScope.CONVERSATION, None, None),
        (GrantScope.CONVERSATION, None, ""),
        (GrantScope.CONVERSATION, "t", None),
        ("forever", "t", "c"),
    ],
)
def test_make_grant_rejects_missing_run_ids_and_unknown_scopes(
    scope: GrantScope | str, task_id: str | None, context_id: str | None
) -> None:
    with pytest.raises(InvalidInputError):
        make_grant(
            agent=ALICE,
            secret=SHARED,
            scope=scope,
            now=0.0,
            grant_id="g",
            minutes=5,
            task_id=task_id,
            context_id=context_id,
        )


def test_make_grant_needs_an_id() -> None:
    with pytest.raises(InvalidInputError):
        make_grant(agent=ALICE, secret=SHARED, scope=GrantScope.ALWAYS, now=0.0, grant_id="")


def test_owner_grant_is_always_and_bound_to_the_card(clock: FakeClock) -> None:
    g = owner_grant(agent=BOB, secret=BOB_OWN, now=clock.now(), grant_id="g")
    assert (g.agent, g.secret_id, g.scope, g.card_fingerprint) == ("bob", "s-bob", GrantScope.ALWAYS, CARD_B)
    assert g.expires is None and g.created == clock.now()


@pytest.mark.parametrize("record", [ALICE_OWN, SHARED])
def test_owner_grant_only_for_the_owner(record: SecretRecord) -> None:
    with pytest.raises(InvalidInputError):
        owner_grant(agent=BOB, secret=record, now=0.0, grant_id="g")


# lock, restart, pruning --------------------------------------------------------------------------


def _one_of_each() -> list[Grant]:
    return [
        grant(f"g-{scope.value}", CAROL, SHARED, scope, expires=100.0, task_id="t", context_id="c")
        for scope in GrantScope
    ]


def test_only_always_survives_lock_and_restart() -> None:
    grants = [*_one_of_each(), grant("g-always-2", ALICE, ALICE_OWN, GrantScope.ALWAYS)]
    for survivors in (grants_after_lock(grants), grants_after_restart(grants)):
        assert [g.grant_id for g in survivors] == ["g-always", "g-always-2"]


def test_expired_grants_are_minutes_and_task_grants_past_their_end() -> None:
    grants = [*_one_of_each(), grant("g-broken", CAROL, SHARED, GrantScope.MINUTES, expires=None)]
    assert [g.grant_id for g in expired_grants(grants, 99.9)] == ["g-broken"]
    assert [g.grant_id for g in expired_grants(grants, 100.0)] == ["g-task", "g-minutes", "g-broken"]


@pytest.mark.parametrize("scope", list(GrantScope))
def test_make_grant_stores_run_ids_and_end_only_for_their_scope(scope: GrantScope) -> None:
    g = make_grant(
        agent=ALICE,
        secret=SHARED,
        scope=scope,
        now=10.0,
        grant_id="g",
        minutes=1,
        task_id="t",
        context_id="c",
    )
    assert g.scope is scope
    ends = {GrantScope.MINUTES: 70.0, GrantScope.TASK: 10.0 + TASK_GRANT_CEILING}
    assert g.expires == ends.get(scope)
    assert g.task_id == ("t" if scope == GrantScope.TASK else None)
    assert g.context_id == ("c" if scope == GrantScope.CONVERSATION else None)


# Team secrets (a team vault's read-only values): released under the shared rules ------------------


def team_secret(secret_id: str, team: str, *, updated: float = 0.0) -> SecretRecord:
    return SecretRecord(secret_id=secret_id, key=KEY, owner=None, team=team, updated=updated)


def test_a_team_secret_is_asked_for_per_agent_like_a_shared_one() -> None:
    alice, bob = agent("alice"), agent("bob")
    team = team_secret("team:ops:SLACK_API_KEY", "ops")
    first = decide(ReleaseRequest(alice, KEY), [team], [], 0.0)
    assert isinstance(first, Ask) and first.secret == team
    assert first.reason == "team secret SLACK_API_KEY (team ops): first use by alice"
    given = grant("g1", alice, team, GrantScope.ALWAYS)
    assert isinstance(decide(ReleaseRequest(alice, KEY), [team], [given], 0.0), Allow)
    assert isinstance(decide(ReleaseRequest(bob, KEY), [team], [given], 0.0), Ask)  # bob: his own prompt


def test_own_then_the_users_shared_then_a_teams_value() -> None:
    newer_team = team_secret("team:ops:K", "ops", updated=100.0)
    shared = secret("sec_shared", None, updated=1.0)
    own = secret("sec_own", "alice")
    assert candidate_secret("alice", KEY, None, [newer_team, shared]) == shared  # however recent the team's
    assert candidate_secret("alice", KEY, None, [newer_team, shared, own]) == own
    other_team = team_secret("team:abc:K", "abc")
    assert candidate_secret("alice", KEY, None, [newer_team, other_team]) == other_team  # by team name
