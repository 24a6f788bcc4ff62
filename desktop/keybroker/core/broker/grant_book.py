"""Live grants as the user sees and revokes them; lock and restart rules (DESIGN §3)."""

from __future__ import annotations

from keybroker.core.audit.log import AuditLog
from keybroker.core.broker.grant_rules import expired_grants, grant_is_live
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import UnknownGrantError
from keybroker.core.models import AuditDecision, Grant, GrantScope


class GrantBook:
    """Lists, revokes and ends grants; prunes expired ones as it reads."""

    def __init__(self, catalog: Catalog, audit: AuditLog) -> None:
        self.catalog = catalog
        self.audit = audit

    def live(self, *, agent: str | None = None) -> list[Grant]:
        """Grants that still count now (MINUTES grants past their end, TASK grants past their ceiling,
        are pruned)."""
        now = self.catalog.clock.now()
        grants = self.catalog.list_grants(agent=agent)
        for g in expired_grants(grants, now):
            self.catalog.delete_grant(g.grant_id)
        # A TASK or CONVERSATION grant lives as long as its own task or conversation may come back.
        return [g for g in grants if grant_is_live(g, now, task_id=g.task_id, context_id=g.context_id)]

    def revoke(self, grant_id: str, *, caller: str | None = None) -> Grant:
        """End one grant; `UnknownGrantError` (exit 3) when there is none."""
        grant = self.catalog.find_grant(grant_id)
        if grant is None or not self.catalog.delete_grant(grant_id):
            raise UnknownGrantError(f"no live grant with id {grant_id!r}", hint="see `keybroker grants list`")
        self._audit_ended(grant, caller=caller)
        return grant

    def _audit_ended(
        self, grant: Grant, *, caller: str | None, task_id: str | None = None, detail: str | None = None
    ) -> None:
        """One `revoked` audit event for `grant`, ended by a user or by its task's end."""
        record = self.catalog.find_secret_by_id(grant.secret_id)
        self.audit.append(
            AuditDecision.REVOKED,
            agent=grant.agent,
            key=record.key if record else None,
            secret_id=grant.secret_id,
            scope=grant.scope.value,
            task_id=task_id,
            caller=caller,
            detail=detail,
        )

    def end_task(self, agent: str, task_id: str, *, state: str, caller: str | None = None) -> list[Grant]:
        """The agent's task `task_id` reached terminal `state`: end its "this task" grants.

        Each grant ended is audited `revoked` (detail: the task and its state), like a user's revoke; a
        grant already gone (revoked, locked, ended by another call) is neither ended nor audited twice.
        """
        if not task_id:
            return []
        ended: list[Grant] = []
        for grant in self.catalog.list_grants(agent=agent):
            if grant.scope is not GrantScope.TASK or grant.task_id != task_id:
                continue
            if not self.catalog.delete_grant(grant.grant_id):
                continue
            self._audit_ended(
                grant, caller=caller, task_id=task_id, detail=f"task {state}: its this-task grant ended"
            )
            ended.append(grant)
        return ended

    def lock(self, *, caller: str | None = None) -> list[Grant]:
        """End every grant short of ALWAYS."""
        ended = self.catalog.delete_grants(keep_always=True)
        count = len(ended)
        detail = "no grant to end" if not count else f"ended {count} grant{'' if count == 1 else 's'}"
        self.audit.append(AuditDecision.LOCKED, caller=caller, detail=detail)
        return ended

    def end_session(self) -> list[Grant]:
        """At start-up: only ALWAYS grants survive a restart."""
        return self.catalog.delete_grants(keep_always=True)
