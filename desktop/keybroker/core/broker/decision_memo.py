"""Release decisions remembered while nothing they rest on can have changed (issue 16).

`policy.decide` is pure: its answer depends on the request (agent slug, URL and card fingerprint, key,
scheme, task and context ids), the secret records and grants (`PolicyInputs`, read again only when the
catalog's stamp moves), the grants a failed lock ended in memory only (`Triage.lock_failed_at`), and
the clock. A `DecisionMemo` keeps each answer with what it rested on, and gives it back only while
all of that is unchanged:

- the inputs' stamp and `lock_failed_at` are the memo's basis: when either differs, everything is
  forgotten (a grant given or revoked, a secret stored or removed, here or in another process, a lock);
- the clock: an answer is kept for `[at, until)`, where `at` is when it was decided and `until` the
  first moment after `at` at which one of the agent's grants ends by time (a MINUTES grant's expiry, a
  TASK grant's ceiling). In that interval every grant's liveness by time is what it was at `at`, so
  `decide` would answer the same; a clock set back before `at` decides again;
- task and context ids: they count only for TASK and CONVERSATION grants, so they are part of the
  key only when the agent holds a grant of that scope (otherwise each request's fresh ids would make
  every answer new).

The memo never decides anything itself, and a release decided on it is checked against the catalog's
stamp inside the audit's write transaction as before (audit/group.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from keybroker.core.broker.grant_rules import task_grant_end
from keybroker.core.broker.policy import Decision
from keybroker.core.models import AgentRecord, Grant, GrantScope

__all__ = ["DecisionMemo"]

#: Answers remembered at most; beyond it the memo starts again.
_MAX_ANSWERS = 4096

#: What a remembered answer rests on besides the clock: the inputs' stamp and `lock_failed_at`.
Basis = tuple[tuple[int, int] | None, float | None]

_Key = tuple[str, str, str, str, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class _Shape:
    """What of an agent's grants a decision's key and lifetime depend on."""

    by_task: bool
    by_context: bool
    ends: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class _Answer:
    decision: Decision
    at: float
    until: float


class DecisionMemo:
    """Decisions by request, kept while their basis and the clock allow (module docstring)."""

    def __init__(self) -> None:
        self._basis: Basis | None = None
        self._answers: dict[_Key, _Answer] = {}
        self._shapes: dict[str, _Shape] = {}
        self.decided = 0
        """How often an answer was decided rather than remembered (tests count it)."""

    def __repr__(self) -> str:
        return f"DecisionMemo(answers={len(self._answers)}, decided={self.decided})"

    def decision(
        self,
        basis: Basis,
        now: float,
        agent: AgentRecord,
        key: str,
        scheme: str | None,
        ids: tuple[str | None, str | None],
        grants: Callable[[], Sequence[Grant]],
        decide: Callable[[], Decision],
    ) -> Decision:
        """The answer `decide()` gives now: remembered, or decided (and remembered).

        `grants()`: the agent's grants as `decide` sees them (read only when the agent's shape is not
        known on this basis)."""
        if basis != self._basis or len(self._answers) >= _MAX_ANSWERS:
            self._basis = basis
            self._answers = {}
            self._shapes = {}
        shape = self._shapes.get(agent.slug)
        if shape is None:
            shape = self._shapes[agent.slug] = _shape_of(grants())
        task_id, context_id = ids
        memo_key: _Key = (
            agent.slug,
            agent.url,
            agent.fingerprint,
            key,
            scheme,
            task_id if shape.by_task else None,
            context_id if shape.by_context else None,
        )
        answer = self._answers.get(memo_key)
        if answer is not None and answer.at <= now < answer.until:
            return answer.decision
        decision = decide()
        self.decided += 1
        until = min((end for end in shape.ends if end > now), default=math.inf)
        self._answers[memo_key] = _Answer(decision, now, until)
        return decision


def _shape_of(grants: Sequence[Grant]) -> _Shape:
    ends: list[float] = []
    for grant in grants:
        if grant.scope is GrantScope.MINUTES:
            # A MINUTES grant without an end is never live (grant_rules.grant_is_live): nothing to wait for.
            if grant.expires is not None:
                ends.append(grant.expires)
        elif grant.scope is GrantScope.TASK:
            ends.append(task_grant_end(grant))
    return _Shape(
        by_task=any(g.scope is GrantScope.TASK for g in grants),
        by_context=any(g.scope is GrantScope.CONVERSATION for g in grants),
        ends=tuple(sorted(set(ends))),
    )
