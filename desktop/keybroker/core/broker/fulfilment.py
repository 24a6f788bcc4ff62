"""One `Broker.fulfil` call: what it is about (`RunContext`) and what it released and declined (`Tally`,
each entry audited as it is made), answered as a `Fulfilment`.

No value is logged, audited or shown in a repr: values only travel inside `SecretValue`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from keybroker.core.audit.log import AuditLog
from keybroker.core.broker.answer import GrantIds
from keybroker.core.broker.prompts import Phase
from keybroker.core.broker.run_grants import placeholder
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import AuditWriteError, KeybrokerError
from keybroker.core.models import AgentRecord, AuditDecision, GrantScope, SecretRecord, SecretValue

log = logging.getLogger("keybroker.broker")


@dataclass(frozen=True, slots=True)
class Fulfilment:
    """What `fulfil` released and declined. `reasons` says, per declined key, why (for logs and status)."""

    values: Mapping[str, SecretValue]
    declined: frozenset[str]
    timed_out: bool = False
    reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunContext:
    """One `fulfil` call's context."""

    agent: AgentRecord
    phase: Phase
    task_id: str | None
    context_id: str | None
    run_id: str | None
    caller: str | None

    @property
    def run_key(self) -> str | None:
        """What "declined in this run" is keyed by: the run id, else the task id (None: neither)."""
        if self.run_id:
            return f"run:{self.run_id}"
        return f"task:{self.task_id}" if self.task_id else None

    @property
    def grant_ids(self) -> GrantIds:
        """The ids a TASK or CONVERSATION grant is bound to (a run's placeholder until they are known)."""
        mark = placeholder(self.run_id) if self.run_id else None
        return GrantIds(self.task_id or mark, self.context_id or mark)


class Tally:
    """What one run released and declined so far; each release and decline is audited as it is added."""

    def __init__(self, catalog: Catalog, audit: AuditLog, run: RunContext) -> None:
        self._catalog = catalog
        self._audit = audit
        self._run = run
        self.values: dict[str, SecretValue] = {}
        self.reasons: dict[str, str] = {}
        self.timed_out = False

    def __repr__(self) -> str:
        return f"Tally(released={sorted(self.values)}, declined={sorted(self.reasons)})"

    def release(
        self, key: str, secret: SecretRecord, scope: GrantScope, value: SecretValue, detail: str | None
    ) -> None:
        """Count `value` as released for `key`, once its `released` event is on the disk.

        The event comes first and is synced (audit/log.py): when it cannot be written (a full disk, a
        locked vault that cannot take the head) the value is not counted and `AuditWriteError` says
        so; nothing may leave without its record. The use count follows, best effort (a statistic).
        """
        run = self._run
        try:
            self._audit.append(
                AuditDecision.RELEASED,
                agent=run.agent.slug,
                key=key,
                secret_id=secret.secret_id,
                scope=scope.value,
                task_id=run.task_id,
                context_id=run.context_id,
                caller=run.caller,
                detail=_join(run.phase, detail),
            )
        except KeybrokerError as exc:
            raise AuditWriteError(
                f"the audit log could not record the release of {key!r} to agent {run.agent.slug!r}, "
                "so nothing was released",
                hint=f"{exc.message}; {exc.hint}" if exc.hint else exc.message,
            ) from None
        try:
            self._catalog.record_use(secret.secret_id)
        except KeybrokerError as exc:
            log.warning("released %s to %s but could not count the use: %s", key, run.agent.slug, exc)
        self.values[key] = value
        log.debug("released %s to %s (%s, %s)", key, run.agent.slug, scope.value, run.phase)

    def decline(
        self,
        key: str,
        secret_id: str | None,
        decision: AuditDecision,
        detail: str,
        *,
        audit_key: bool = True,
    ) -> None:
        """Count `key` as declined, audited as `decision` with `detail` (without the key: `audit_key`)."""
        run = self._run
        self._audit.append(
            decision,
            agent=run.agent.slug,
            key=key if audit_key else None,
            secret_id=secret_id,
            task_id=run.task_id,
            context_id=run.context_id,
            caller=run.caller,
            detail=detail,
        )
        self.reasons[key] = detail
        log.info("%s for %s %s: %s", key if audit_key else "a demand", run.agent.slug, decision.value, detail)

    def result(self) -> Fulfilment:
        """The answer `fulfil` gives."""
        return Fulfilment(
            values=MappingProxyType(self.values),
            declined=frozenset(self.reasons),
            timed_out=self.timed_out,
            reasons=MappingProxyType(self.reasons),
        )


def _join(phase: Phase, detail: str | None) -> str:
    return f"{phase}: {detail}" if detail else phase
