"""Append-only, hash-chained audit log of every release and decision. Never a value.

Each row's hash covers its fields and the previous row's hash, so an edited, deleted or reordered
row breaks the chain. The head (count and last hash) is also kept in the vault, so cutting events off
the end is caught too (head.py): a short-lived process (the CLI) writes it before each commit, the
running app after, at most once a second while releases go on. Appends run under `BEGIN IMMEDIATE`,
so the app and the CLI never fork the chain. An
event that lets a value out is synced to the disk before `append` returns (fail closed: no event on
the disk, no value out). What makes a chain and what `verify` makes of one is chain.py's.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from keybroker.core.audit.chain import GENESIS, AuditReport, check_chain, event_hash
from keybroker.core.audit.head import HEAD_PACE_SECONDS, DeferredHeadWriter, HeadStore
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.catalog.rows import AUDIT_ROWS
from keybroker.core.models import AuditDecision, AuditEvent

__all__ = ["GENESIS", "AuditLog", "AuditReport", "event_hash"]  # (the chain's, from chain.py)

log = logging.getLogger("keybroker.audit")

#: Decisions whose event must be on the disk before the value leaves Keybroker (`signed_in`: an
#: agent's own sign-in hands the authorization code to the agent right after it is recorded).
_LETS_A_VALUE_OUT = frozenset({AuditDecision.RELEASED, AuditDecision.REVEALED, AuditDecision.SIGNED_IN})


class AuditLog:
    """Appends and checks audit events in the catalog's `audit` table."""

    def __init__(
        self,
        catalog: Catalog,
        head_store: HeadStore | None,
        *,
        head_required: bool = True,
        deferred_head: bool = False,
        head_pace: float = HEAD_PACE_SECONDS,
    ) -> None:
        """`head_required=False` for a session-only vault, where the head does not survive a restart.

        `deferred_head=True` (the long-running app) writes the head on a background thread after the
        row commits, at most once per `head_pace` seconds while releases go on (head.py), so a release
        does not wait for the vault; `flush()` and `close()` wait for it.
        """
        self._catalog = catalog
        self._head = head_store
        self._head_required = head_required
        self._listeners: list[Callable[[AuditEvent], None]] = []
        self._writer = (
            DeferredHeadWriter(str(catalog.path), head_store, pace=head_pace)
            if deferred_head and head_store is not None
            else None
        )

    def subscribe(self, listener: Callable[[AuditEvent], None]) -> None:
        """Call `listener(event)` after every append (from the appending thread; it must be quick).

        Every change to secrets, grants and agents is audited, so this is how the UI learns of changes
        made through the API, the broker or a prompt."""
        self._listeners.append(listener)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until the head in the vault matches the log (deferred mode); True when it does."""
        return self._writer.flush(timeout) if self._writer is not None else True

    def close(self) -> None:
        """Write the last head and stop the background writer."""
        if self._writer is not None:
            self._writer.close()

    def append(
        self,
        decision: AuditDecision,
        *,
        agent: str | None = None,
        key: str | None = None,
        secret_id: str | None = None,
        scope: str | None = None,
        task_id: str | None = None,
        context_id: str | None = None,
        caller: str | None = None,
        detail: str | None = None,
    ) -> AuditEvent:
        """Append one event; the head goes to the vault before the row commits.

        An event that lets a value out (`released`, `revealed`) is on the disk when this returns
        (`Database.transaction(durable=True)`): its caller hands the value over only after that, and
        a failure (a full disk) raises, so the value stays in."""
        durable = decision in _LETS_A_VALUE_OUT
        entry = {
            "decision": AuditDecision(decision).value,
            "agent": agent,
            "key": key,
            "secret_id": secret_id,
            "scope": scope,
            "task_id": task_id,
            "context_id": context_id,
            "caller": caller,
            "detail": detail,
        }
        with self._catalog.transaction(durable=durable, policy=False) as conn:
            (fields,) = self.insert_many(conn, [entry])
            self.write_head(conn, fields)
        event = AUDIT_ROWS.record([fields[c] for c in AUDIT_ROWS.names])
        self.published([event])
        return event

    def insert_many(
        self, conn: sqlite3.Connection, entries: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Chain `entries` (each: its decision, agent... detail) onto the log, in order, inside the
        caller's write transaction (no other writer can enter it, so the tip read once stays the tip):
        one read of the tip and one `executemany`, however many. Their fields, `seq` and `hash` included."""
        if not entries:
            return []
        last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq = 0 if last is None else int(last[0])
        prev = GENESIS if last is None else str(last[1])
        chained: list[dict[str, Any]] = []
        for entry in entries:
            seq += 1
            fields: dict[str, Any] = {
                "seq": seq,
                "ts": round(self._catalog.clock.now(), 6),
                **entry,
                "prev_hash": prev,
            }
            fields["hash"] = prev = event_hash(fields)
            chained.append(fields)
        conn.executemany(
            f"INSERT INTO audit ({AUDIT_ROWS.columns}) VALUES ({AUDIT_ROWS.placeholders})",
            [[fields[c] for c in AUDIT_ROWS.names] for fields in chained],
        )
        return chained

    def write_head(self, conn: sqlite3.Connection, fields: Mapping[str, Any]) -> None:
        """Store the head before the transaction that appended `fields` (the newest event) commits
        (unless the deferred writer does it after the commit: `published`)."""
        if self._head is not None and self._writer is None:
            # The newest event's number is the count in any log that verifies (head.py's `_tip`).
            self._head.write(int(fields["seq"]), fields["hash"])

    def published(self, events: Sequence[AuditEvent]) -> None:
        """After the commit that appended `events`: the deferred head, then the listeners."""
        if self._writer is not None:
            self._writer.request()
        for event in events:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:  # a broken listener must not undo or block an audited change
                    log.exception("audit listener failed")

    def events(
        self,
        *,
        agent: str | None = None,
        since: float | None = None,
        search: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Events oldest first, filtered; `limit` keeps the newest ones."""
        sql = f"SELECT {AUDIT_ROWS.columns} FROM audit WHERE 1 = 1"
        params: list[Any] = []
        if agent is not None:
            sql += " AND agent = ?"
            params.append(agent)
        if since is not None:
            sql += " AND ts >= ?"
            params.append(since)
        if search:
            like = f"%{search}%"
            sql += (
                " AND (ifnull(key, '') || ' ' || ifnull(agent, '') || ' ' || decision"
                " || ' ' || ifnull(detail, '')) LIKE ?"
            )
            params.append(like)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._catalog.query(sql, params)
        return [AUDIT_ROWS.record(r) for r in reversed(rows)]

    def count(self) -> int:
        """How many events the log holds."""
        return int(self._catalog.query("SELECT count(*) FROM audit")[0][0])

    def agents(self) -> set[str]:
        """Every agent slug the log mentions (agents removed since included)."""
        rows = self._catalog.query("SELECT DISTINCT agent FROM audit WHERE agent IS NOT NULL")
        return {str(r[0]) for r in rows}

    def _table_problem(self) -> str | None:
        """What is wrong with the `audit` table itself (dropped, or columns removed), if anything."""
        columns = {str(row[1]) for row in self._catalog.query("PRAGMA table_info(audit)")}
        if not columns:
            return "the audit table is gone (dropped): its events cannot be checked"
        missing = [name for name in AUDIT_ROWS.names if name not in columns]
        if missing:
            return f"the audit table was altered: column(s) {', '.join(missing)} are gone"
        return None

    def verify(self) -> AuditReport:
        """Recompute the chain and compare its end with the head in the vault.

        A head behind an intact log (the event it counts carries its hash) is a warning, not a problem:
        events appended since it was last written (head.py paces the running app's writes).
        Raises `VaultError` when the head cannot be read (a locked vault): no verdict either way.
        """
        self.flush()
        altered = self._table_problem()
        if altered is not None:  # tampering too: the events are gone or unreadable
            return AuditReport(ok=False, count=0, head=GENESIS, problems=(altered,), warnings=())
        # The head is read before the events: another process appending meanwhile then makes the log
        # longer than the head (a head behind: chain.py), never shorter (a false "removed").
        # A vault error (locked, unavailable) propagates: an unreadable head is no evidence of
        # tampering, and the caller reports it as a vault problem (exit 4), not a broken chain.
        stored = self._head.read() if self._head is not None else None
        rows = self._catalog.query(f"SELECT {AUDIT_ROWS.columns} FROM audit ORDER BY seq")
        return check_chain(rows, stored, kept=self._head is not None, required=self._head_required)
