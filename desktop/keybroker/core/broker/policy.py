"""Pure release decisions: which stored value an agent may receive, and on which grant (DESIGN §3, §4).

No I/O, no clock reads, no catalog: the caller passes the request, the candidate records, the grants and
`now`, and gets back `Allow`, `Ask` or `Deny`. The same inputs always give the same answer, whatever order
the records and grants arrive in.

Rules, in the order `decide` applies them:

1. Transport: a value never travels in clear to a host that is not loopback, unless the user allowed that
   host (`Deny`, before anything else: asking for a value that cannot be sent would be pointless).
2. Which value: an agent's own value wins over a shared one with the same key (and scheme binding). When the
   agent owns one, only that one is considered. Otherwise the shared value comes first, then values stored
   for other agents, but only on a grant this agent holds for them, which only a prompt that named both
   agents can have created.
3. Which grant: one for this agent and that `secret_id`, live for this request (`grant_is_live`) and given
   for the agent's current card. A grant given for another card fingerprint is suspended: the user is asked
   again and told the card changed. Among several, one that is not consumed wins, so a once-grant is only
   spent when nothing else covers the release.
4. Otherwise `Ask`, with the value a yes would release (own, then shared, else none: the prompt collects one)
   and the values stored for other agents, which the prompt may offer by naming both agents.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import urlsplit

from keybroker.core.errors import InvalidInputError
from keybroker.core.models import AgentRecord, Grant, GrantScope, SecretRecord

#: The longest "N minutes" grant: a week. Longer belongs to "until lock" or "always".
MAX_GRANT_MINUTES = 7 * 24 * 60

#: The longest a "this task" grant lives when its task is never seen to end (the agent died, the client
#: went away): a day. The bridge ends it sooner, as soon as it sees the task reach a terminal state.
TASK_GRANT_CEILING = 24 * 60 * 60.0


#: URL schemes whose traffic is encrypted; anything else to a non-loopback host counts as clear text.
_ENCRYPTED_SCHEMES = frozenset({"https", "wss"})

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


def _matches(record: SecretRecord, key: str, scheme: str | None) -> bool:
    return record.key == key and record.scheme == scheme


def candidate_secret(
    agent_slug: str, key: str, scheme: str | None, secrets: Iterable[SecretRecord]
) -> SecretRecord | None:
    """The value a yes would release to `agent_slug`: its own, else the shared one, else None.

    Scheme-bound values (`scheme` set) only answer requests for that scheme, and unbound ones only
    requests without a scheme. Values stored for other agents are never a candidate.
    """
    matching = sorted((r for r in secrets if _matches(r, key, scheme)), key=_record_order)
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


# Grants ------------------------------------------------------------------------------------------


def grant_is_live(
    grant: Grant, now: float, *, task_id: str | None = None, context_id: str | None = None
) -> bool:
    """Whether `grant` covers a release at `now` for this task and conversation.

    MINUTES: `now < expires` (at `expires` exactly it has ended). TASK and CONVERSATION: the request's
    task or context id equals the grant's (a request without one matches none); a TASK grant also ends
    at its ceiling (`task_grant_end`). ONCE, UNTIL_LOCK, ALWAYS: live while they exist (a lock or a
    restart removes them: `grants_after_lock`).
    """
    if grant.scope == GrantScope.MINUTES:
        return grant.expires is not None and now < grant.expires
    if grant.scope == GrantScope.TASK:
        return bool(grant.task_id) and grant.task_id == task_id and now < task_grant_end(grant)
    if grant.scope == GrantScope.CONVERSATION:
        return bool(grant.context_id) and grant.context_id == context_id
    return True


def task_grant_end(grant: Grant) -> float:
    """When a TASK grant ends at the latest: its `expires`, else `created + TASK_GRANT_CEILING`."""
    return grant.expires if grant.expires is not None else grant.created + TASK_GRANT_CEILING


def _grant_order(grant: Grant) -> tuple[int, float, str]:
    return (_SCOPE_PREFERENCE[grant.scope], grant.created, grant.grant_id)


def make_grant(
    *,
    agent: AgentRecord,
    secret: SecretRecord,
    scope: GrantScope | str,
    now: float,
    grant_id: str,
    minutes: float | None = None,
    task_id: str | None = None,
    context_id: str | None = None,
) -> Grant:
    """The grant a user's yes creates, bound to the agent's current card.

    MINUTES needs `0 < minutes <= MAX_GRANT_MINUTES`, TASK a `task_id`, CONVERSATION a `context_id`;
    otherwise `InvalidInputError`. Arguments the scope does not use are ignored, not stored. A TASK grant
    expires at `now + TASK_GRANT_CEILING` unless its task is seen to end first.
    """
    if not grant_id:
        raise InvalidInputError("a grant needs an id")
    try:
        scope = GrantScope(scope)
    except ValueError:
        choices = ", ".join(s.value for s in GrantScope)
        raise InvalidInputError(f"unknown grant scope {scope!r}", hint=f"use one of {choices}") from None
    expires: float | None = None
    if scope == GrantScope.MINUTES:
        if minutes is None or not math.isfinite(minutes) or not 0 < minutes <= MAX_GRANT_MINUTES:
            raise InvalidInputError(
                "a minutes grant needs a number of minutes",
                hint=f"give more than 0 and at most {MAX_GRANT_MINUTES} minutes",
            )
        expires = now + minutes * 60.0
    if scope == GrantScope.TASK:
        if not task_id:
            raise InvalidInputError("a task grant needs the task id")
        expires = now + TASK_GRANT_CEILING
    if scope == GrantScope.CONVERSATION and not context_id:
        raise InvalidInputError("a conversation grant needs the context id")
    return Grant(
        grant_id=grant_id,
        agent=agent.slug,
        secret_id=secret.secret_id,
        scope=scope,
        created=now,
        expires=expires,
        task_id=task_id if scope == GrantScope.TASK else None,
        context_id=context_id if scope == GrantScope.CONVERSATION else None,
        card_fingerprint=agent.fingerprint,
    )


def owner_grant(*, agent: AgentRecord, secret: SecretRecord, now: float, grant_id: str) -> Grant:
    """The revocable ALWAYS grant a value stored for `agent` on purpose carries (INTERFACES.md)."""
    if secret.owner != agent.slug:
        raise InvalidInputError(
            f"secret {secret.secret_id} is not stored for agent {agent.slug}",
            hint="an owner grant is only for the agent the value was stored for",
        )
    return make_grant(agent=agent, secret=secret, scope=GrantScope.ALWAYS, now=now, grant_id=grant_id)


def grants_after_lock(grants: Iterable[Grant]) -> list[Grant]:
    """The grants that survive a lock: only ALWAYS ones."""
    return [g for g in grants if g.scope == GrantScope.ALWAYS]


def grants_after_restart(grants: Iterable[Grant]) -> list[Grant]:
    """The grants that survive a restart: only ALWAYS ones (DESIGN §3)."""
    return [g for g in grants if g.scope == GrantScope.ALWAYS]


def grant_expired(grant: Grant, now: float) -> bool:
    """Whether `grant` has ended by time alone at `now`: a MINUTES grant past (or without) its end, a
    TASK grant past its ceiling. Other scopes never expire by time."""
    if grant.scope == GrantScope.MINUTES:
        return grant.expires is None or now >= grant.expires
    if grant.scope == GrantScope.TASK:
        return now >= task_grant_end(grant)
    return False


def expired_grants(grants: Iterable[Grant], now: float) -> list[Grant]:
    """Grants that have ended by time at `now` (`grant_expired`), for the caller to prune."""
    return [g for g in grants if grant_expired(g, now)]


# Transport ---------------------------------------------------------------------------------------


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1; Python versions disagree on its is_loopback
    return address.is_loopback


def is_loopback_url(url: str) -> bool:
    """Whether `url` names a loopback host: 127.0.0.0/8, ::1 or "localhost" (no other name)."""
    try:
        host = urlsplit(url.strip()).hostname  # lowercased, IPv6 brackets stripped
    except ValueError:
        return False
    return host is not None and _is_loopback_host(host)


def insecure_transport_reason(
    url: str, *, allowed_insecure_hosts: frozenset[str] = frozenset()
) -> str | None:
    """Why a value must not be sent to `url`, or None when it may (DESIGN §4).

    Encrypted schemes go anywhere; anything else only to loopback or to a host the user allowed. The
    reason names the host and the fix, never the whole URL (its query could hold a credential).
    """
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return "the agent's URL is malformed (bad host or port), so Keybroker cannot tell whether it is safe"
    if host is None:
        return "the agent's URL names no host, so Keybroker cannot tell whether it is safe"
    scheme = parts.scheme.lower()
    if scheme in _ENCRYPTED_SCHEMES or _is_loopback_host(host):
        return None
    allowed = {h.strip().lower().strip("[]") for h in allowed_insecure_hosts}
    if host in allowed or (port is not None and f"{host}:{port}" in allowed):
        return None
    shown = f"[{host}]" if ":" in host else host
    return (
        f"{shown} is not a loopback address and {scheme or 'this URL'}:// is not encrypted, so the value "
        f"would travel in clear; serve the agent over https, or allow plain http to {shown} "
        "in Keybroker's settings"
    )


# The decision ------------------------------------------------------------------------------------


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
