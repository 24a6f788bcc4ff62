"""Append-only, hash-chained audit log of every release and decision. Never a value.

Each row's hash covers its fields and the previous row's hash, so an edited, deleted or reordered
row breaks the chain. The head (count and last hash) is also kept in the vault after every append,
so cutting events off the end is caught too (head.py). Appends run under `BEGIN IMMEDIATE` and the head
is written before the commit, so the app and the CLI never fork the chain or leave a stale head. An
event that lets a value out is synced to the disk before `append` returns (fail closed: no event on
the disk, no value out).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keybroker.core.audit.head import DeferredHeadWriter, HeadStore
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.catalog.rows import AUDIT_ROWS
from keybroker.core.models import AuditDecision, AuditEvent, from_json

log = logging.getLogger("keybroker.audit")

GENESIS = "0" * 64

#: Decisions whose event must be on the disk before the value leaves Keybroker (`signed_in`: an
#: agent's own sign-in hands the authorization code to the agent right after it is recorded).
_LETS_A_VALUE_OUT = frozenset({AuditDecision.RELEASED, AuditDecision.REVEALED, AuditDecision.SIGNED_IN})

#: Every column but the event's own hash goes into that hash, in table order.
_HASHED = AUDIT_ROWS.names[:-1]


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The outcome of `verify`."""

    ok: bool
    count: int
    head: str
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditReport:
        """The report `to_json` described (the management API's answer)."""
        return from_json(cls, data, problems=tuple, warnings=tuple)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "ok": self.ok,
            "count": self.count,
            "head": self.head,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
        }


def event_hash(fields: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the hashed fields (prev_hash included)."""
    canonical = json.dumps(
        {k: fields[k] for k in _HASHED}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class AuditLog:
    """Appends and checks audit events in the catalog's `audit` table."""

    def __init__(
        self,
        catalog: Catalog,
        head_store: HeadStore | None,
        *,
        head_required: bool = True,
        deferred_head: bool = False,
    ) -> None:
        """`head_required=False` for a session-only vault, where the head does not survive a restart.

        `deferred_head=True` (the long-running app) writes the head on a background thread after the
        row commits, so a release does not wait for the vault; `flush()` and `close()` wait for it.
        """
        self._catalog = catalog
        self._head = head_store
        self._head_required = head_required
        self._listeners: list[Callable[[AuditEvent], None]] = []
        self._writer = (
            DeferredHeadWriter(str(catalog.path), head_store)
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
        problems: list[str] = []
        warnings: list[str] = []
        self.flush()
        altered = self._table_problem()
        if altered is not None:  # tampering too: the events are gone or unreadable
            return AuditReport(ok=False, count=0, head=GENESIS, problems=(altered,), warnings=())
        # The head is read before the events: another process appending meanwhile then makes the log
        # longer than the head (a head behind, below), never shorter (a false "removed").
        # A vault error (locked, unavailable) propagates: an unreadable head is no evidence of
        # tampering, and the caller reports it as a vault problem (exit 4), not a broken chain.
        stored = self._head.read() if self._head is not None else None
        rows = self._catalog.query(f"SELECT {AUDIT_ROWS.columns} FROM audit ORDER BY seq")
        prev = GENESIS
        expected_seq = 1
        hash_at: dict[int, str] = {}
        for row in rows:
            fields = dict(zip(AUDIT_ROWS.names, row, strict=True))
            seq = fields["seq"]
            if seq != expected_seq:
                problems.append(f"event {seq}: expected sequence number {expected_seq} (an event is missing)")
            if fields["prev_hash"] != prev:
                problems.append(f"event {seq}: does not follow the event before it (deleted or reordered)")
            if event_hash(fields) != fields["hash"]:
                problems.append(f"event {seq}: its contents do not match its hash (edited)")
            prev = fields["hash"]
            if stored is not None and seq == stored[0]:
                hash_at[seq] = prev
            expected_seq = seq + 1
        count = len(rows)
        head = prev if rows else GENESIS
        if self._head is not None:
            if stored is None:
                if count and self._head_required:
                    problems.append("the vault holds no audit head although the log has events")
                elif count:
                    warnings.append("session-only vault: the audit head does not survive a restart")
            else:
                stored_count, stored_head = stored
                if stored_count < count and not problems and hash_at.get(stored_count) == stored_head:
                    # Events appended after the head was last written: the running app writes it at
                    # most about a second after a release (head.py's pace), and a crash can leave it
                    # behind. The events up to it are intact; no event it counts is gone.
                    behind = count - stored_count
                    warnings.append(
                        f"the vault's head is {behind} event{'s' if behind != 1 else ''} behind the log "
                        "(the running app writes it within about a second of a release)"
                    )
                elif stored_count != count:
                    # The head counts by the newest event's number: with that number still there,
                    # what is missing is missing before it (and reported by number above).
                    newest = expected_seq - 1
                    where = "from the end" if newest < stored_count else "before the newest one"
                    problems.append(
                        f"the vault's head says {stored_count} events, the log has {count} "
                        f"(events were removed {where})"
                        if stored_count > count
                        else f"the vault's head says {stored_count} events, the log has {count}"
                    )
                elif stored_head != head:
                    problems.append("the last event does not match the head kept in the vault")
        return AuditReport(
            ok=not problems, count=count, head=head, problems=tuple(problems), warnings=tuple(warnings)
        )
