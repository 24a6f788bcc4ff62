"""Each demand of a run, sorted before anything is released or asked: Allow (on an existing grant; a
ONCE grant is spent here, so two runs never spend it twice), Ask, or declined at once (audited through
the run's `Tally`).

A demand is declined unasked when its key is invalid, a rule denies it (`policy.decide`), or the user
declined it earlier in the same run. A value the agent just refused (`stale`) is asked for again even
under a grant. Grants a failed lock could not end in the catalog count as ended (`lock_failed_at`).
The secret records and grants come from `PolicyInputs` (policy_inputs.py): read again only when the
catalog changed. `remembered` gives `decide`'s answer from a `DecisionMemo` (decision_memo.py) while
nothing it rests on changed: the fast path's per-request decision.
"""

from __future__ import annotations

from collections.abc import Sequence

from keybroker.core.broker.decision_memo import DecisionMemo
from keybroker.core.broker.fulfilment import RunContext, Tally
from keybroker.core.broker.policy import Allow, Ask, Decision, Deny, ReleaseRequest, decide, scheme_key
from keybroker.core.broker.policy_inputs import PolicyInputs, Stamp
from keybroker.core.broker.state import RunMemory
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import InvalidInputError
from keybroker.core.models import AgentRecord, AuditDecision, Grant, GrantScope, SecretDemand, validate_key

#: How often a consumed-elsewhere ONCE grant is re-decided before giving up on it.
_DECIDE_ATTEMPTS = 3


class Triage:
    """Decides a run's demands against the catalog's secrets and grants (module docstring)."""

    def __init__(self, catalog: Catalog, runs: RunMemory, *, allowed_insecure_hosts: frozenset[str]) -> None:
        self._catalog = catalog
        self._runs = runs
        self._allowed_insecure_hosts = allowed_insecure_hosts
        self.inputs = PolicyInputs(catalog)
        #: Set when a lock could not end the grants in the catalog (a full disk): grants short of ALWAYS
        #: given up to then count as ended anyway, so a failed lock still stops every release.
        self.lock_failed_at: float | None = None
        self.memo = DecisionMemo()

    def classify(
        self, run: RunContext, demand: SecretDemand, tally: Tally, stale: bool = False
    ) -> Decision | None:
        """Decide one demand; declines are settled here (None), Allow and Ask go back to the caller."""
        key = demand.key
        try:
            validate_key(key)
        except InvalidInputError:
            tally.decline(key, None, AuditDecision.DENIED, "invalid demand key", audit_key=False)
            return None
        for _ in range(_DECIDE_ATTEMPTS):
            self.refresh()
            decision = self.decide(run, demand)
            if stale and isinstance(decision, Allow):
                reason = (
                    f"{run.agent.slug} refused the stored value for {key}: "
                    "type a new one, or allow to retry with the stored one"
                )
                return Ask(reason=reason, secret=decision.secret, offers=(), card_changed=False)
            if isinstance(decision, Deny):
                tally.decline(key, None, AuditDecision.DENIED, decision.reason)
                return None
            if isinstance(decision, Ask):
                if self._runs.declined(run.run_key, key):
                    secret_id = decision.secret.secret_id if decision.secret else None
                    detail = "declined earlier in this run"
                    tally.decline(key, secret_id, AuditDecision.DENIED, detail)
                    return None
                return decision
            # A ONCE grant is spent before the value is read, so two runs never spend it twice.
            if not decision.consume or self._catalog.delete_grant(decision.grant.grant_id):
                return decision
        detail = "its once grant was spent by another run"
        tally.decline(key, None, AuditDecision.DENIED, detail)
        return None

    def refresh(self, *, wait: bool = True, local: bool = False) -> tuple[Stamp, frozenset[str]]:
        """Bring the inputs up to date with the catalog (`PolicyInputs.refresh`)."""
        return self.inputs.refresh(wait=wait, local=local)

    def decide(self, run: RunContext, demand: SecretDemand, now: float | None = None) -> Decision:
        """What the policy says about `demand` on the inputs as last refreshed, at `now` (default: the
        clock's time); a scheme's value may be stored under another key."""
        ids = run.grant_ids
        key = demand.key
        if demand.scheme is not None:
            # A scheme's value may be stored under another key (`secrets set X-API-Key --scheme apiKey`).
            bound = scheme_key(run.agent.slug, demand.scheme, self.inputs.secrets())
            key = bound or key
        request = ReleaseRequest(
            agent=run.agent, key=key, scheme=demand.scheme, task_id=ids.task_id, context_id=ids.context_id
        )
        return decide(
            request,
            self.inputs.secrets(key),
            self._grants_of(run.agent.slug),
            self._now if now is None else now,
            allowed_insecure_hosts=self._allowed_insecure_hosts,
        )

    def remembered(self, run: RunContext, demand: SecretDemand) -> Decision:
        """`decide(run, demand)` on the inputs as last refreshed, from the memo while nothing it rests on
        changed (decision_memo.py). Raises `InvalidInputError` for an invalid key (never remembered)."""
        ids, now = run.grant_ids, self._now
        return self.memo.decision(
            (self.inputs.stamp, self.lock_failed_at),
            now,
            run.agent,
            demand.key,
            demand.scheme,
            (ids.task_id, ids.context_id),
            lambda: self._grants_of(run.agent.slug),
            lambda: self._validated_decision(run, demand, now),
        )

    def _validated_decision(self, run: RunContext, demand: SecretDemand, now: float) -> Decision:
        validate_key(demand.key)
        return self.decide(run, demand, now)

    def releasable(self, agent: AgentRecord, demands: Sequence[SecretDemand]) -> frozenset[str]:
        """The keys of `demands` that would be released now without asking (`Broker.releasable`)."""
        run = RunContext(agent, "preflight", None, None, None, None)
        self.refresh()
        found: set[str] = set()
        for demand in demands:
            try:
                validate_key(demand.key)
            except InvalidInputError:
                continue
            if isinstance(self.decide(run, demand), Allow):
                found.add(demand.key)
        return frozenset(found)

    def _grants_of(self, slug: str) -> list[Grant]:
        """The agent's grants that may release: all of them, unless a lock failed to end some."""
        grants = self.inputs.grants_of(slug)
        cutoff = self.lock_failed_at
        if cutoff is None:
            return grants
        return [g for g in grants if g.scope is GrantScope.ALWAYS or g.created > cutoff]

    @property
    def _now(self) -> float:
        return self._catalog.clock.now()
