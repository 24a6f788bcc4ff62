"""Everything that is not a value: agents, secret records, grants and the audit table (SQLite, WAL).

The catalog never holds a secret value. A secret's row moves through states so a crash between the
vault write and the catalog write is found at the next start (see `core/secrets/recovery.py`):
`pending` (row written, value maybe not yet in the vault) -> `ready`; `deleting` (value being
removed) -> row gone. Each unsettled row records the writer's pid so a live writer in another
process is never "repaired" under its feet.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keybroker.core.errors import CatalogError, UnknownAgentError, UnknownSecretError
from keybroker.core.models import (
    AgentRecord,
    Grant,
    GrantScope,
    SecretDemand,
    SecretRecord,
    SecurityScheme,
)
from keybroker.core.ports import Clock, SystemClock

SecretState = str  # "pending" | "ready" | "deleting"

_MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE agents (
        slug TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        card_url TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        protocol_versions TEXT NOT NULL DEFAULT '[]',
        fingerprint TEXT NOT NULL,
        demands TEXT NOT NULL DEFAULT '[]',
        schemes TEXT NOT NULL DEFAULT '[]',
        security TEXT NOT NULL DEFAULT '[]',
        streaming INTEGER NOT NULL DEFAULT 0,
        require_token INTEGER NOT NULL DEFAULT 0,
        added REAL NOT NULL,
        last_seen REAL NOT NULL,
        card_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE secrets (
        secret_id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        owner TEXT,
        scheme TEXT,
        name TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        updated REAL NOT NULL,
        last_used REAL,
        use_count INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('pending', 'ready', 'deleting')),
        state_pid INTEGER,
        state_since REAL
    );
    CREATE UNIQUE INDEX secrets_identity ON secrets (key, ifnull(owner, ''), ifnull(scheme, ''));
    CREATE INDEX secrets_owner ON secrets (owner);
    CREATE TABLE grants (
        grant_id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        secret_id TEXT NOT NULL REFERENCES secrets (secret_id) ON DELETE CASCADE,
        scope TEXT NOT NULL,
        created REAL NOT NULL,
        expires REAL,
        task_id TEXT,
        context_id TEXT,
        card_fingerprint TEXT
    );
    CREATE INDEX grants_agent ON grants (agent);
    CREATE INDEX grants_secret ON grants (secret_id);
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        decision TEXT NOT NULL,
        agent TEXT,
        key TEXT,
        secret_id TEXT,
        scope TEXT,
        task_id TEXT,
        context_id TEXT,
        caller TEXT,
        detail TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX audit_agent ON audit (agent);
    CREATE INDEX audit_ts ON audit (ts);
    """,
    # 2: what `agents push-secrets` sent to an agent's own Agent Protocol secrets API, so a later push
    # deletes there only what it pushed and was revoked here (core/a2a/ap_push.py)
    """
    CREATE TABLE ap_pushes (
        agent TEXT NOT NULL,
        key TEXT NOT NULL,
        secret_id TEXT NOT NULL,
        remote_id TEXT,
        pushed REAL NOT NULL,
        PRIMARY KEY (agent, key)
    );
    """,
)

SCHEMA_VERSION = len(_MIGRATIONS)

_AGENT_COLS = (
    "slug, url, card_url, name, description, protocol_versions, fingerprint, demands, schemes, "
    "security, streaming, require_token, added, last_seen, card_json"
)
_SECRET_COLS = "secret_id, key, owner, name, description, scheme, created, updated, last_used, use_count"  # noqa: S105
_GRANT_COLS = "grant_id, agent, secret_id, scope, created, expires, task_id, context_id, card_fingerprint"


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


def _catalog_error(exc: sqlite3.Error, path: Path) -> CatalogError:
    text = str(exc)
    if "disk is full" in text or "disk I/O" in text:
        return CatalogError(
            f"the catalog at {path} cannot be written: {text}",
            # Only this catalog write was rolled back: whether the operation around it changed anything
            # else (a vault value) is for its caller to say.
            hint="free some disk space and try again",
        )
    if "locked" in text or "busy" in text:
        return CatalogError(
            f"the catalog at {path} is busy: {text}", hint="another Keybroker process holds it; retry"
        )
    return CatalogError(f"catalog error at {path}: {text}")


class Catalog:
    """The SQLite catalog. One connection, guarded by a lock; calls are short."""

    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        self.path = path
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
            if os.name == "posix":
                path.chmod(0o600)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._migrate()
        except sqlite3.Error as exc:
            raise _catalog_error(exc, path) from None
        except OSError as exc:
            raise CatalogError(f"cannot open the catalog at {path}: {exc.strerror}") from None

    # plumbing -----------------------------------------------------------------------------------

    def _migrate(self) -> None:
        # The common case, an up-to-date catalog, is checked without taking the write lock: every CLI
        # command opens the catalog, and a running app may be holding it. Otherwise check again under it.
        if int(self._conn.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION:
            return
        with self.transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise CatalogError(
                    f"the catalog at {self.path} is from a newer Keybroker (schema {version})",
                    hint="upgrade Keybroker",
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _rollback(self) -> None:
        # SQLite rolls back by itself after some errors (SQLITE_FULL); a second ROLLBACK would fail.
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """`BEGIN IMMEDIATE` ... `COMMIT`: one writer at a time across processes."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _catalog_error(exc, self.path) from None
            try:
                yield self._conn
            except sqlite3.IntegrityError as exc:
                self._rollback()
                raise CatalogError(f"catalog constraint failed: {exc}") from None
            except sqlite3.Error as exc:
                self._rollback()
                raise _catalog_error(exc, self.path) from None
            except BaseException:
                self._rollback()
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise _catalog_error(exc, self.path) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query outside any write transaction."""
        with self._lock:
            try:
                cur = self._conn.execute(sql, params)
                return list(cur.fetchall())
            except sqlite3.Error as exc:
                raise _catalog_error(exc, self.path) from None

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.transaction() as conn:
            return int(conn.execute(sql, params).rowcount)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    # agents -------------------------------------------------------------------------------------

    def upsert_agent(self, agent: AgentRecord) -> None:
        """Insert or replace an agent (by slug)."""
        self._write(
            f"INSERT OR REPLACE INTO agents ({_AGENT_COLS}) VALUES ({', '.join('?' * 15)})",
            _agent_row(agent),
        )

    def find_agent(self, slug: str) -> AgentRecord | None:
        """The agent with this slug, or None."""
        rows = self.query(f"SELECT {_AGENT_COLS} FROM agents WHERE slug = ?", (slug,))
        return _agent_from_row(rows[0]) if rows else None

    def get_agent(self, slug: str) -> AgentRecord:
        """The agent with this slug; `UnknownAgentError` (exit 3) otherwise."""
        agent = self.find_agent(slug)
        if agent is None:
            raise UnknownAgentError(f"no agent with slug {slug!r}", hint="see `keybroker agents list`")
        return agent

    def list_agents(self) -> list[AgentRecord]:
        """Every agent, by slug."""
        return [_agent_from_row(r) for r in self.query(f"SELECT {_AGENT_COLS} FROM agents ORDER BY slug")]

    def remove_agent(self, slug: str) -> None:
        """Remove an agent and every grant it holds (owned secrets stay unless purged separately)."""
        with self.transaction() as conn:
            if conn.execute("DELETE FROM agents WHERE slug = ?", (slug,)).rowcount == 0:
                raise UnknownAgentError(f"no agent with slug {slug!r}")
            conn.execute("DELETE FROM grants WHERE agent = ?", (slug,))

    # secrets ------------------------------------------------------------------------------------

    def insert_secret(self, record: SecretRecord, *, state: SecretState = "pending") -> None:
        """Insert a secret row; `pending` until the vault holds its value."""
        self._write(
            f"INSERT INTO secrets ({_SECRET_COLS}, state, state_pid, state_since) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*_secret_row(record), state, os.getpid(), self.clock.now()),
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
            f"SELECT {_SECRET_COLS} FROM secrets WHERE secret_id = ? AND state = 'ready'", (secret_id,)
        )
        return _secret_from_row(rows[0]) if rows else None

    def get_secret(self, secret_id: str) -> SecretRecord:
        """A ready secret by id; `UnknownSecretError` otherwise."""
        record = self.find_secret_by_id(secret_id)
        if record is None:
            raise UnknownSecretError(f"no secret with id {secret_id!r}")
        return record

    def find_secret(self, key: str, owner: str | None, scheme: str | None = None) -> SecretRecord | None:
        """The ready secret with exactly this key, owner (None = shared) and scheme."""
        rows = self.query(
            f"SELECT {_SECRET_COLS} FROM secrets WHERE key = ? AND ifnull(owner, '') = ? "
            "AND ifnull(scheme, '') = ? AND state = 'ready'",
            (key, owner or "", scheme or ""),
        )
        return _secret_from_row(rows[0]) if rows else None

    def list_secrets(self, *, owner: Any = ANY_OWNER, key: str | None = None) -> list[SecretRecord]:
        """Ready secrets, optionally of one owner (None = shared only) and/or one key."""
        sql = f"SELECT {_SECRET_COLS} FROM secrets WHERE state = 'ready'"
        params: list[Any] = []
        if owner is not ANY_OWNER:
            sql += " AND ifnull(owner, '') = ?"
            params.append(owner or "")
        if key is not None:
            sql += " AND key = ?"
            params.append(key)
        sql += " ORDER BY key, ifnull(owner, ''), ifnull(scheme, '')"
        return [_secret_from_row(r) for r in self.query(sql, params)]

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
        )

    def delete_secret(self, secret_id: str) -> None:
        """Drop a secret row (and, by cascade, its grants)."""
        self._write("DELETE FROM secrets WHERE secret_id = ?", (secret_id,))

    def unsettled_secrets(self) -> list[UnsettledSecret]:
        """Rows caught mid-write (`pending`) or mid-delete (`deleting`)."""
        rows = self.query(
            f"SELECT {_SECRET_COLS}, state, state_pid, state_since FROM secrets WHERE state != 'ready'"
        )
        return [UnsettledSecret(_secret_from_row(r), str(r[10]), r[11], r[12]) for r in rows]

    def all_secret_ids(self) -> list[str]:
        """Every secret id in any state (for purge)."""
        return [str(r[0]) for r in self.query("SELECT secret_id FROM secrets")]

    # grants -------------------------------------------------------------------------------------

    def add_grant(self, grant: Grant) -> None:
        """Store a grant."""
        self._write(
            f"INSERT OR REPLACE INTO grants ({_GRANT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _grant_row(grant),
        )

    def list_grants(self, *, agent: str | None = None, secret_id: str | None = None) -> list[Grant]:
        """Stored grants (the caller filters liveness with `policy.grant_is_live`)."""
        sql = f"SELECT {_GRANT_COLS} FROM grants WHERE 1 = 1"
        params: list[Any] = []
        if agent is not None:
            sql += " AND agent = ?"
            params.append(agent)
        if secret_id is not None:
            sql += " AND secret_id = ?"
            params.append(secret_id)
        sql += " ORDER BY created, grant_id"
        return [_grant_from_row(r) for r in self.query(sql, params)]

    def find_grant(self, grant_id: str) -> Grant | None:
        """One grant by id."""
        rows = self.query(f"SELECT {_GRANT_COLS} FROM grants WHERE grant_id = ?", (grant_id,))
        return _grant_from_row(rows[0]) if rows else None

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

    def purge(self) -> None:
        """Remove agents, secrets and grants. The audit table stays: purge is itself audited."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM ap_pushes")
            conn.execute("DELETE FROM grants")
            conn.execute("DELETE FROM secrets")
            conn.execute("DELETE FROM agents")


# row mapping -------------------------------------------------------------------------------------


def _agent_row(a: AgentRecord) -> tuple[Any, ...]:
    return (
        a.slug,
        a.url,
        a.card_url,
        a.name,
        a.description,
        json.dumps(list(a.protocol_versions)),
        a.fingerprint,
        json.dumps([[d.key, d.name, d.description] for d in a.demands]),
        json.dumps(
            [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "location": s.location,
                    "param_name": s.param_name,
                    "http_scheme": s.http_scheme,
                    "bearer_format": s.bearer_format,
                    "description": s.description,
                }
                for s in a.schemes
            ]
        ),
        json.dumps([list(req) for req in a.security]),
        int(a.streaming),
        int(a.require_token),
        a.added,
        a.last_seen,
        a.card_json,
    )


def _agent_from_row(r: Sequence[Any]) -> AgentRecord:
    return AgentRecord(
        slug=r[0],
        url=r[1],
        card_url=r[2],
        name=r[3],
        description=r[4],
        protocol_versions=tuple(json.loads(r[5])),
        fingerprint=r[6],
        demands=tuple(SecretDemand(k, n, d) for k, n, d in json.loads(r[7])),
        schemes=tuple(SecurityScheme(**s) for s in json.loads(r[8])),
        security=tuple(tuple(req) for req in json.loads(r[9])),
        streaming=bool(r[10]),
        require_token=bool(r[11]),
        added=r[12],
        last_seen=r[13],
        card_json=r[14],
    )


def _secret_row(s: SecretRecord) -> tuple[Any, ...]:
    return (
        s.secret_id,
        s.key,
        s.owner,
        s.name,
        s.description,
        s.scheme,
        s.created,
        s.updated,
        s.last_used,
        s.use_count,
    )


def _secret_from_row(r: Sequence[Any]) -> SecretRecord:
    return SecretRecord(
        secret_id=r[0],
        key=r[1],
        owner=r[2],
        name=r[3],
        description=r[4],
        scheme=r[5],
        created=r[6],
        updated=r[7],
        last_used=r[8],
        use_count=r[9],
    )


def _grant_row(g: Grant) -> tuple[Any, ...]:
    return (
        g.grant_id,
        g.agent,
        g.secret_id,
        g.scope.value,
        g.created,
        g.expires,
        g.task_id,
        g.context_id,
        g.card_fingerprint,
    )


def _grant_from_row(r: Sequence[Any]) -> Grant:
    return Grant(
        grant_id=r[0],
        agent=r[1],
        secret_id=r[2],
        scope=GrantScope(r[3]),
        created=r[4],
        expires=r[5],
        task_id=r[6],
        context_id=r[7],
        card_fingerprint=r[8],
    )
