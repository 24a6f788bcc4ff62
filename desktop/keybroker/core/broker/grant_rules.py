"""Pure grant rules: the grant a user's yes creates, when a grant covers a release, and what ends it
(DESIGN §3). No I/O and no clock reads: the caller passes `now`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from keybroker.core.errors import InvalidInputError
from keybroker.core.models import AgentRecord, Grant, GrantScope, SecretRecord

#: The longest "N minutes" grant: a week. Longer belongs to "until lock" or "always".
MAX_GRANT_MINUTES = 7 * 24 * 60

#: The longest a "this task" grant lives when its task is never seen to end (the agent died, the client
#: went away): a day. The bridge ends it sooner, as soon as it sees the task reach a terminal state.
TASK_GRANT_CEILING = 24 * 60 * 60.0


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
