"""Pure release decisions: which stored value an agent may receive, and on which grant (DESIGN §3, §4).

No I/O, no clock reads, no catalog: the caller passes the request, the candidate records, the grants and
`now`, and gets back `Allow`, `Ask` or `Deny`. The same inputs always give the same answer, whatever order
the records and grants arrive in.

Rules, in the order `decide` applies them:

1. Transport: a value never travels in clear to a host that is not loopback, unless the user allowed that
   host (`Deny`, before anything else: asking for a value that cannot be sent would be pointless).
2. Which value: an agent's own value wins over a shared one with the same key (and scheme binding). When the
   agent owns one, only that one is considered. Otherwise the shared value comes first (the user's own,
   then a team's from the team vault: a team's secret follows the shared rules), then values stored for
   other agents, but only on a grant this agent holds for them, which only a prompt that named both
   agents can have created.
3. Which grant: one for this agent and that `secret_id`, live for this request (`grant_is_live`) and given
   for the agent's current card. A grant given for another card fingerprint is suspended: the user is asked
   again and told the card changed. Among several, one that is not consumed wins, so a once-grant is only
   spent when nothing else covers the release.
4. Otherwise `Ask`, with the value a yes would release (own, then shared, else none: the prompt collects one)
   and the values stored for other agents, which the prompt may offer by naming both agents.

The transport rule is transport.py's; making grants, their liveness and their end are grant_rules.py's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from keybroker.core.broker.grant_rules import grant_is_live
from keybroker.core.broker.transport import insecure_transport_reason
from keybroker.core.models import AgentRecord, Grant, GrantScope, SecretRecord

#: Which grant to use when several cover a release: lasting ones first, ONCE (consumed) last.
_SCOPE_PREFERENCE = {
    GrantScope.ALWAYS: 0,
    GrantScope.UNTIL_LOCK: 1,
    GrantScope.MINUTES: 2,
    GrantScope.CONVERSATION: 3,
    GrantScope.TASK: 4,
    GrantScope.ONCE: 5,
}


@dataclass(frozen=True, slots=True)
class ReleaseRequest:
    """An agent asks for the value of `key` (bound to card scheme `scheme`, if any)."""

    agent: AgentRecord
    key: str
    scheme: str | None = None
    task_id: str | None = None
    context_id: str | None = None
    #: Where the value will be sent, when that is not `agent.url` (e.g. the card's interface URL).
    target_url: str | None = None


@dataclass(frozen=True, slots=True)
class Allow:
    """Release `secret` on `grant`. `consume`: a ONCE grant, which the caller deletes after the release."""

    secret: SecretRecord
    grant: Grant
    consume: bool


@dataclass(frozen=True, slots=True)
class Ask:
    """Ask the user first.

    `reason` is a sentence for the prompt and the audit. `secret` is what a plain yes releases (own value,
    then shared), None when nothing is stored yet and the prompt collects a new value. `offers` are values
    stored for *other* agents under the same key: the prompt may offer "use the value stored for <agent>"
    and must then name both agents. `card_changed`: a grant exists but was given for another agent card.
    """

    reason: str
    secret: SecretRecord | None
    offers: tuple[SecretRecord, ...]
    card_changed: bool


@dataclass(frozen=True, slots=True)
class Deny:
    """Never release, and don't ask: `reason` says why and what would fix it."""

    reason: str


Decision: TypeAlias = Allow | Ask | Deny


# Values ------------------------------------------------------------------------------------------


def _record_order(record: SecretRecord) -> tuple[float, str]:
    # Duplicates break a catalog invariant; if they happen anyway, the latest update wins, deterministically.
    return (-record.updated, record.secret_id)


def _shared_order(record: SecretRecord) -> tuple[int, str, float, str]:
    # The user's own shared value before a team's; among teams, by team name (then as above).
    return (record.team is not None, record.team or "", *_record_order(record))


def _matches(record: SecretRecord, key: str, scheme: str | None) -> bool:
    return record.key == key and record.scheme == scheme


def candidate_secret(
    agent_slug: str, key: str, scheme: str | None, secrets: Iterable[SecretRecord]
) -> SecretRecord | None:
    """The value a yes would release to `agent_slug`: its own, else the shared one, else None.

    Scheme-bound values (`scheme` set) only answer requests for that scheme, and unbound ones only
    requests without a scheme. Values stored for other agents are never a candidate.
    """
    matching = sorted((r for r in secrets if _matches(r, key, scheme)), key=_shared_order)
    own = next((r for r in matching if r.owner == agent_slug), None)
    if own is not None:
        return own
    return next((r for r in matching if r.owner is None), None)


def scheme_key(agent_slug: str, scheme: str, secrets: Iterable[SecretRecord]) -> str | None:
    """The key under which a value bound to card scheme `scheme` is stored for `agent_slug`, or None.

    `secrets set NAME --agent S --scheme SCHEME` may use any NAME: the agent's own binding wins, then
    a shared one (the same order as `candidate_secret`); None when nothing is bound to the scheme.
    """
    bound = sorted((r for r in secrets if r.scheme == scheme), key=_record_order)
    own = next((r for r in bound if r.owner == agent_slug), None)
    if own is not None:
        return own.key
    shared = next((r for r in bound if r.owner is None), None)
    return shared.key if shared is not None else None


def _offers(
    agent_slug: str, key: str, scheme: str | None, secrets: Iterable[SecretRecord]
) -> tuple[SecretRecord, ...]:
    others = (r for r in secrets if _matches(r, key, scheme) and r.owner not in (None, agent_slug))
    return tuple(sorted(others, key=lambda r: (r.owner or "", *_record_order(r))))


# The decision ------------------------------------------------------------------------------------


def _grant_order(grant: Grant) -> tuple[int, float, str]:
    return (_SCOPE_PREFERENCE[grant.scope], grant.created, grant.grant_id)


def _ask_reason(
    request: ReleaseRequest,
    candidate: SecretRecord | None,
    offers: tuple[SecretRecord, ...],
    own_grants: Sequence[Grant],
    card_changed: bool,
) -> str:
    slug = request.agent.slug
    if card_changed:
        return f"the agent card of {slug} changed since the last grant: confirm again"
    if candidate is None:
        if not offers:
            return f"no value stored for {request.key} yet"
        owners = ", ".join(sorted({r.owner or "" for r in offers}))
        return f"{request.key} is stored only for {owners}: giving it to {slug} needs your yes"
    past = {g.scope for g in own_grants if g.secret_id == candidate.secret_id}
    if GrantScope.MINUTES in past:
        return f"grant expired: {slug} needs a new yes for {request.key}"
    if GrantScope.TASK in past:
        return f"the grant for {request.key} was for another task of {slug}"
    if GrantScope.CONVERSATION in past:
        return f"the grant for {request.key} was for another conversation with {slug}"
    if candidate.team is not None:
        return f"team secret {request.key} (team {candidate.team}): first use by {slug}"
    if candidate.owner is None:
        return f"shared secret {request.key}: first use by {slug}"
    return f"no grant yet: {slug} has no live grant for its own {request.key}"


def decide(
    request: ReleaseRequest,
    secrets: Sequence[SecretRecord],
    grants: Sequence[Grant],
    now: float,
    *,
    allowed_insecure_hosts: frozenset[str] = frozenset(),
) -> Decision:
    """Allow, Ask or Deny one release (the rules are in the module docstring)."""
    agent = request.agent
    problem = insecure_transport_reason(
        request.target_url or agent.url, allowed_insecure_hosts=allowed_insecure_hosts
    )
    if problem is not None:
        return Deny(f"{request.key} was not released to {agent.slug}: {problem}")

    candidate = candidate_secret(agent.slug, request.key, request.scheme, secrets)
    offers = _offers(agent.slug, request.key, request.scheme, secrets)
    own = candidate if candidate is not None and candidate.owner == agent.slug else None
    # Own value wins outright. Else shared first, then other agents' values this agent was granted.
    if own is not None:
        releasable: tuple[SecretRecord, ...] = (own,)
    else:
        releasable = ((candidate,) if candidate is not None else ()) + offers

    own_grants = [g for g in grants if g.agent == agent.slug]
    card_changed = False
    for record in releasable:
        live = [
            g
            for g in own_grants
            if g.secret_id == record.secret_id
            and grant_is_live(g, now, task_id=request.task_id, context_id=request.context_id)
        ]
        current = [g for g in live if g.card_fingerprint == agent.fingerprint]
        if current:
            grant = min(current, key=_grant_order)
            return Allow(secret=record, grant=grant, consume=grant.scope == GrantScope.ONCE)
        # A grant without a recorded card fails closed, like one for another card.
        card_changed = card_changed or bool(live)

    reason = _ask_reason(request, candidate, offers, own_grants, card_changed)
    return Ask(reason=reason, secret=candidate, offers=offers, card_changed=card_changed)
