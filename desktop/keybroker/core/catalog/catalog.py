# SPDX-License-Identifier: Apache-2.0
"""Everything that is not a value: agents, secret records, grants and the audit table (SQLite, WAL).

The catalog never holds a secret value. A secret's row moves through states so a crash between the
vault write and the catalog write is found at the next start (see `core/secrets/recovery.py`):
`pending` (row written, value maybe not yet in the vault) -> `ready`; `deleting` (value being
removed) -> row gone. Each unsettled row records the writer's pid so a live writer in another
process is never "repaired" under its feet; a `ready` row being replaced carries its writer's pid
too (claims.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from keybroker.core.catalog.claims import SecretClaims
from keybroker.core.catalog.rows import AGENT_ROWS, GRANT_ROWS, SECRET_ROWS
from keybroker.core.errors import UnknownAgentError, UnknownSecretError
from keybroker.core.models import (
    AgentRecord,
    Grant,
    GrantScope,
    SecretRecord,
)

SecretState = str  # "pending" | "ready" | "deleting"
#: Where a secret row's state columns start, after the record's own.
_N = len(SECRET_ROWS.names)


@dataclass(frozen=True, slots=True)
class ApPush:
    """A value `agents push-secrets` sent to an agent's AP secrets API (never the value itself)."""

    agent: str
    key: str
    secret_id: str
    remote_id: str | None
    pushed: float


@dataclass(frozen=True, slots=True)
class UnsettledSecret:
    """A secret row caught between the vault and the catalog."""

    record: SecretRecord
    state: SecretState
    pid: int | None
    since: float | None


class _Any:
    """Sentinel: "any owner"."""


ANY_OWNER: Any = _Any()


class Catalog(SecretClaims):
    """Everything that is not a value: agents, secret records, grants, AP pushes (see the module doc).

    Who may write a secret right now (in-process locks, cross-process row claims) is claims.py's."""

    # agents -------------------------------------------------------------------------------------

    def upsert_agent(self, agent: AgentRecord) -> None:
        """Insert or replace an agent (by slug). Another agent's own port is an `IntegrityError`, never a
        replaced row (`OR REPLACE` would delete that agent to make room)."""
        updates = ", ".join(f"{name} = excluded.{name}" for name in AGENT_ROWS.names if name != "slug")
        self._write(
            f"INSERT INTO agents ({AGENT_ROWS.columns}) VALUES ({AGENT_ROWS.placeholders}) "
            f"ON CONFLICT (slug) DO UPDATE SET {updates}",
            AGENT_ROWS.row(agent),
        )

    def find_agent(self, slug: str) -> AgentRecord | None:
        """The agent with this slug, or None."""
        rows = self.query(f"SELECT {AGENT_ROWS.columns} FROM agents WHERE slug = ?", (slug,))
        return AGENT_ROWS.record(rows[0]) if rows else None

    def get_agent(self, slug: str) -> AgentRecord:
        """The agent with this slug; `UnknownAgentError` (exit 3) otherwise."""
        agent = self.find_agent(slug)
        if agent is None:
            raise UnknownAgentError(f"no agent with slug {slug!r}", hint="see `keybroker agents list`")
        return agent

    def list_agents(self) -> list[AgentRecord]:
        """Every agent, by slug."""
        rows = self.query(f"SELECT {AGENT_ROWS.columns} FROM agents ORDER BY slug")
        return [AGENT_ROWS.record(r) for r in rows]

    def remove_agent(self, slug: str) -> None:
        """Remove an agent, every grant it holds and its sign-ins (owned secrets stay unless purged)."""
        with self.transaction() as conn:
            if conn.execute("DELETE FROM agents WHERE slug = ?", (slug,)).rowcount == 0:
                raise UnknownAgentError(f"no agent with slug {slug!r}")
            conn.execute("DELETE FROM grants WHERE agent = ?", (slug,))
            # Its sign-ins too (issue 13): a later agent given the slug must never get its tokens. The
            # vault entries they named are then leftovers (`doctor --fix` removes them).
            conn.execute("DELETE FROM signins WHERE agent = ?", (slug,))
            conn.execute("DELETE FROM model_grants WHERE agent = ?", (slug,))  # issue 14

    # secrets ------------------------------------------------------------------------------------

    def insert_secret(self, record: SecretRecord, *, state: SecretState = "pending") -> None:
        """Insert a secret row; `pending` until the vault holds its value."""
        self._write(
            f"INSERT INTO secrets ({SECRET_ROWS.columns}, state, state_pid, state_since) "
            f"VALUES ({SECRET_ROWS.placeholders}, ?, ?, ?)",
            (*SECRET_ROWS.row(record), state, os.getpid(), self.clock.now()),
        )

    def set_secret_state(self, secret_id: str, state: SecretState) -> None:
        """Move a row to `ready` (settled) or `deleting` (value being removed)."""
        settled = state == "ready"
        self._write(
            "UPDATE secrets SET state = ?, state_pid = ?, state_since = ? WHERE secret_id = ?",
            (state, None if settled else os.getpid(), None if settled else self.clock.now(), secret_id),
        )

    def find_secret_by_id(self, secret_id: str) -> SecretRecord | None:
        """A ready secret by id."""
        rows = self.query(
            f"SELECT {SECRET_ROWS.columns} FROM secrets WHERE secret_id = ? AND state = 'ready'", (secret_id,)
        )
        return SECRET_ROWS.record(rows[0]) if rows else None

    def get_secret(self, secret_id: str) -> SecretRecord:
        """A ready secret by id; `UnknownSecretError` otherwise."""
        record = self.find_secret_by_id(secret_id)
        if record is None:
            raise UnknownSecretError(f"no secret with id {secret_id!r}")
        return record

    def find_secret(
        self, key: str, owner: str | None, scheme: str | None = None, *, team: str | None = None
    ) -> SecretRecord | None:
        """The ready secret with exactly this key, owner (None = shared) and scheme; a team's with `team`
        (a team's secret is never "the shared one")."""
        rows = self.query(
            f"SELECT {SECRET_ROWS.columns} FROM secrets WHERE key = ? AND ifnull(owner, '') = ? "
            "AND ifnull(scheme, '') = ? AND ifnull(team, '') = ? AND state = 'ready'",
            (key, owner or "", scheme or "", team or ""),
        )
        return SECRET_ROWS.record(rows[0]) if rows else None

    def list_secrets(
        self, *, owner: Any = ANY_OWNER, key: str | None = None, team: Any = ANY_OWNER
    ) -> list[SecretRecord]:
        """Ready secrets, optionally of one owner (None = shared only, without teams' secrets), of one
        team (a name; None = no team's), and/or of one key."""
        sql = f"SELECT {SECRET_ROWS.columns} FROM secrets WHERE state = 'ready'"
        params: list[Any] = []
        if owner is not ANY_OWNER:
            sql += " AND ifnull(owner, '') = ?"
            params.append(owner or "")
            if owner is None and team is ANY_OWNER:
                sql += " AND team IS NULL"
        if team is not ANY_OWNER:
            sql += " AND ifnull(team, '') = ?"
            params.append(team or "")
        if key is not None:
            sql += " AND key = ?"
            params.append(key)
        sql += " ORDER BY key, ifnull(owner, ''), ifnull(team, ''), ifnull(scheme, '')"
        return [SECRET_ROWS.record(r) for r in self.query(sql, params)]

    def update_secret(
        self,
        secret_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        updated: float | None = None,
    ) -> None:
        """Change a secret's metadata; `updated` defaults to now."""
        sets = ["updated = ?"]
        params: list[Any] = [self.clock.now() if updated is None else updated]
        if name is not None:
            sets.append("name = ?")
            params.append(name)
        if description is not None:
            sets.append("description = ?")
            params.append(description)
        params.append(secret_id)
        if self._write(f"UPDATE secrets SET {', '.join(sets)} WHERE secret_id = ?", params) == 0:
            raise UnknownSecretError(f"no secret with id {secret_id!r}")

    def record_use(self, secret_id: str, when: float | None = None) -> None:
        """Count a release."""
        self._write(
            "UPDATE secrets SET use_count = use_count + 1, last_used = ? WHERE secret_id = ?",
            (self.clock.now() if when is None else when, secret_id),
            policy=False,  # a statistic: no release decision reads it
        )

    def delete_secret(self, secret_id: str) -> None:
        """Drop a secret row (and, by cascade, its grants)."""
        self._write("DELETE FROM secrets WHERE secret_id = ?", (secret_id,))

    def unsettled_secrets(self) -> list[UnsettledSecret]:
        """Rows caught mid-write (`pending`) or mid-delete (`deleting`)."""
        rows = self.query(
            f"SELECT {SECRET_ROWS.columns}, state, state_pid, state_since FROM secrets WHERE state != 'ready'"
        )
        return [UnsettledSecret(SECRET_ROWS.record(r), str(r[_N]), r[_N + 1], r[_N + 2]) for r in rows]

    def all_secret_ids(self) -> list[str]:
        """Every secret id in any state (for purge)."""
        return [str(r[0]) for r in self.query("SELECT secret_id FROM secrets")]

    # grants -------------------------------------------------------------------------------------

    def add_grant(self, grant: Grant) -> None:
        """Store a grant."""
        self._write(
            f"INSERT OR REPLACE INTO grants ({GRANT_ROWS.columns}) VALUES ({GRANT_ROWS.placeholders})",
            GRANT_ROWS.row(grant),
        )

    def list_grants(self, *, agent: str | None = None, secret_id: str | None = None) -> list[Grant]:
        """Stored grants (the caller filters liveness with `grant_rules.grant_is_live`)."""
        sql = f"SELECT {GRANT_ROWS.columns} FROM grants WHERE 1 = 1"
        params: list[Any] = []
        if agent is not None:
            sql += " AND agent = ?"
            params.append(agent)
        if secret_id is not None:
            sql += " AND secret_id = ?"
            params.append(secret_id)
        sql += " ORDER BY created, grant_id"
        return [GRANT_ROWS.record(r) for r in self.query(sql, params)]

    def find_grant(self, grant_id: str) -> Grant | None:
        """One grant by id."""
        rows = self.query(f"SELECT {GRANT_ROWS.columns} FROM grants WHERE grant_id = ?", (grant_id,))
        return GRANT_ROWS.record(rows[0]) if rows else None

    def delete_grant(self, grant_id: str) -> bool:
        """Remove one grant; False when it was not there."""
        return self._write("DELETE FROM grants WHERE grant_id = ?", (grant_id,)) > 0

    def delete_grants(
        self,
        *,
        agent: str | None = None,
        secret_id: str | None = None,
        keep_always: bool = False,
    ) -> list[Grant]:
        """Remove matching grants and return what was removed."""
        doomed = [
            g
            for g in self.list_grants(agent=agent, secret_id=secret_id)
            if not (keep_always and g.scope is GrantScope.ALWAYS)
        ]
        with self.transaction() as conn:
            conn.executemany("DELETE FROM grants WHERE grant_id = ?", [(g.grant_id,) for g in doomed])
        return doomed

    # AP pushes ----------------------------------------------------------------------------------

    def record_push(self, push: ApPush) -> None:
        """Remember that `push.key` was sent to `push.agent` (replacing an earlier record)."""
        self._write(
            "INSERT OR REPLACE INTO ap_pushes (agent, key, secret_id, remote_id, pushed) "
            "VALUES (?, ?, ?, ?, ?)",
            (push.agent, push.key, push.secret_id, push.remote_id, push.pushed),
        )

    def list_pushes(self, agent: str) -> list[ApPush]:
        """What was pushed to `agent`, by key."""
        rows = self.query(
            "SELECT agent, key, secret_id, remote_id, pushed FROM ap_pushes WHERE agent = ? ORDER BY key",
            (agent,),
        )
        return [ApPush(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def forget_push(self, agent: str, key: str) -> None:
        """Drop the record of a push (deleted at the agent, or gone there)."""
        self._write("DELETE FROM ap_pushes WHERE agent = ? AND key = ?", (agent, key))

    # whole catalog -------------------------------------------------------------------------------

    def purge(self, *, audit: bool = False) -> None:
        """Remove agents, secrets and grants; the audit log too with `audit` (purge removes its head)."""
        with self.transaction() as conn:
            if audit:
                conn.execute("DELETE FROM audit")
            conn.execute("DELETE FROM ap_pushes")
            conn.execute("DELETE FROM signins")
            conn.execute("DELETE FROM grants")
            conn.execute("DELETE FROM secrets")
            conn.execute("DELETE FROM agents")
            for table in ("model_grants", "model_usage", "model_budgets", "model_providers"):  # issue 14
                conn.execute(f"DELETE FROM {table}")
