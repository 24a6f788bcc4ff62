# SPDX-License-Identifier: Apache-2.0
"""Model grants in the catalog: an agent's demand answered with a model, remembered for a scope.

The rules are the secret grants' (core/broker/grant_rules.py): MINUTES ends at `expires`,
CONVERSATION covers its conversation, UNTIL_LOCK ends at a lock, only ALWAYS survives a restart, and a
grant given for another version of the agent's card does not count (the user is asked again). Model
demands are fulfilled in a task's first message only, so "once" and "this task" answers cover that
one task and are never stored (the token they mint ends with the task: tokens.py).
Each grant made or ended is audited (`granted`, `revoked`), the key being the demand (`llm:default`).
"""

from __future__ import annotations

import secrets as _random

from keybroker.core.audit.log import AuditLog
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import UnknownGrantError
from keybroker.core.llm.records import GRANT_ROWS, ModelGrant
from keybroker.core.models import AuditDecision, GrantScope

__all__ = ["ModelGrantBook", "model_grant_live", "new_model_grant_id"]

#: Scopes a model grant is stored for (ONCE and TASK cover one task: kept in memory with its token).
STORED_SCOPES = frozenset(
    {GrantScope.CONVERSATION, GrantScope.MINUTES, GrantScope.UNTIL_LOCK, GrantScope.ALWAYS}
)


def new_model_grant_id() -> str:
    """An opaque model grant id."""
    return "mg_" + _random.token_hex(8)


def model_grant_live(grant: ModelGrant, now: float, *, context_id: str | None, fingerprint: str) -> bool:
    """Whether `grant` answers a demand now, in conversation `context_id`, of a card `fingerprint`."""
    if grant.card_fingerprint != fingerprint:
        return False
    if grant.scope == GrantScope.MINUTES:
        return grant.expires is not None and now < grant.expires
    if grant.scope == GrantScope.CONVERSATION:
        return bool(grant.context_id) and grant.context_id == context_id
    return grant.scope in STORED_SCOPES


class ModelGrantBook:
    """Stores, lists, revokes and ends model grants (module docstring)."""

    def __init__(self, catalog: Catalog, audit: AuditLog) -> None:
        self._catalog = catalog
        self._audit = audit

    def all(self, *, agent: str | None = None) -> list[ModelGrant]:
        """Stored grants (MINUTES ones past their end are pruned), oldest first."""
        sql = f"SELECT {GRANT_ROWS.columns} FROM model_grants"
        rows = self._catalog.query(
            sql + (" WHERE agent = ? ORDER BY created" if agent else " ORDER BY created"),
            (agent,) if agent else (),
        )
        grants = [GRANT_ROWS.record(r) for r in rows]
        now = self._catalog.clock.now()
        expired = [g for g in grants if g.scope == GrantScope.MINUTES and (g.expires or 0) <= now]
        if expired:
            self._delete([g.grant_id for g in expired])
        return [g for g in grants if g not in expired]

    def find(self, grant_id: str) -> ModelGrant | None:
        """The stored grant with this id, or None."""
        rows = self._catalog.query(
            f"SELECT {GRANT_ROWS.columns} FROM model_grants WHERE grant_id = ?", (grant_id,)
        )
        return GRANT_ROWS.record(rows[0]) if rows else None

    def add(self, grant: ModelGrant, *, caller: str | None, detail: str) -> None:
        """Store `grant` (when its scope is stored) replacing the agent's others for that demand; audited."""
        if grant.scope in STORED_SCOPES:
            sql = f"INSERT INTO model_grants ({GRANT_ROWS.columns}) VALUES ({GRANT_ROWS.placeholders})"
            with self._catalog.transaction() as conn:
                if grant.scope == GrantScope.ALWAYS:
                    conn.execute(
                        "DELETE FROM model_grants WHERE agent = ? AND demand = ? AND scope = ?",
                        (grant.agent, grant.demand, GrantScope.ALWAYS.value),
                    )
                conn.execute(sql, GRANT_ROWS.row(grant))
        self._audit.append(
            AuditDecision.GRANTED,
            agent=grant.agent,
            key=grant.demand,
            scope=grant.scope.value,
            task_id=grant.task_id,
            context_id=grant.context_id,
            caller=caller,
            detail=f"{detail}: {grant.provider}/{grant.model} "
            f"({'the provider key handed over' if grant.handover else 'through the gateway'})",
        )

    def revoke(self, grant_id: str, *, caller: str | None) -> ModelGrant:
        """End one stored grant (audited); `UnknownGrantError` (exit 3) when there is none."""
        grant = self.find(grant_id)
        if grant is None or not self._delete([grant_id]):
            raise UnknownGrantError(
                f"no model grant with id {grant_id!r}", hint="see `keybroker models grants`"
            )
        self._ended(grant, caller, "revoked")
        return grant

    def end(self, *, keep_always: bool, caller: str | None, why: str) -> list[ModelGrant]:
        """End every stored grant short of ALWAYS (a lock, a restart); each audited `revoked`."""
        doomed = [g for g in self.all() if not (keep_always and g.scope == GrantScope.ALWAYS)]
        self._delete([g.grant_id for g in doomed])
        for grant in doomed:
            self._ended(grant, caller, why)
        return doomed

    def _ended(self, grant: ModelGrant, caller: str | None, why: str) -> None:
        self._audit.append(
            AuditDecision.REVOKED,
            agent=grant.agent,
            key=grant.demand,
            scope=grant.scope.value,
            caller=caller,
            detail=f"model grant {grant.grant_id} ({grant.provider}/{grant.model}): {why}",
        )

    def _delete(self, ids: list[str]) -> int:
        if not ids:
            return 0
        with self._catalog.transaction() as conn:
            return sum(
                int(conn.execute("DELETE FROM model_grants WHERE grant_id = ?", (i,)).rowcount) for i in ids
            )
