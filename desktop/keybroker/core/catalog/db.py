# SPDX-License-Identifier: Apache-2.0
"""The catalog's SQLite database: one connection in WAL mode, migrations, write transactions.

Every write is one `BEGIN IMMEDIATE` transaction, so the app and the CLI (two processes) never
interleave writes; SQLite errors become `CatalogError`s that say what to do (a full disk, a busy
database). core/catalog/catalog.py adds the tables' operations on top.

`change_stamp` tells a reader that remembers what it read (the broker's grant decisions, issue 16)
whether anything may have changed since: a counter of this connection's commits (writes marked
`policy=False`, the audit's appends and use counts, leave it alone) and SQLite's `data_version`,
which moves when another connection or process (the CLI) commits.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keybroker.core.catalog.schema import MIGRATIONS, SCHEMA_VERSION
from keybroker.core.errors import CatalogError
from keybroker.core.ports import Clock, SystemClock

__all__ = ["Database"]


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


class Database:
    """The SQLite database behind the catalog. One connection, guarded by a lock; calls are short."""

    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        self.path = path
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.RLock()
        #: This connection's commits that may change a release decision (`change_stamp`).
        self.generation = 0
        #: The `synchronous` level set on the connection (None: unknown, set it again).
        self._sync_level: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
            if os.name == "posix":
                path.chmod(0o600)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._synchronous("NORMAL")
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
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _rollback(self) -> None:
        # SQLite rolls back by itself after some errors (SQLITE_FULL); a second ROLLBACK would fail.
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    @contextmanager
    def transaction(self, *, durable: bool = False, policy: bool = True) -> Iterator[sqlite3.Connection]:
        """`BEGIN IMMEDIATE` ... `COMMIT`: one writer at a time across processes.

        `durable`: the commit is on the disk when this returns (the WAL is synced, `synchronous=FULL`),
        not only in the OS's cache: for an audit event that lets a value out of Keybroker. Other
        writes keep `synchronous=NORMAL` (WAL mode: safe from corruption, the last ones may be lost
        in a power cut). The level is set only when it changes: a run of durable commits (releases,
        one after another) sets it once, not twice each (issue 16). `policy=False`: the write changes
        nothing a release decision reads (audit rows, use counts), so `change_stamp` stays (the
        module docstring).
        """
        with self._lock:
            try:
                self._synchronous("FULL" if durable else "NORMAL")
                with self._immediate() as conn:
                    yield conn
            finally:
                if policy:  # committed or not: a reader that re-reads for nothing loses nothing
                    self.generation += 1

    def change_stamp(self) -> tuple[int, int]:
        """(this connection's policy commits, SQLite's `data_version`): equal stamps mean nothing a
        release decision reads changed in between, in this process or another."""
        with self._lock:
            return self.stamp_in(self._conn)

    def try_change_stamp(self) -> tuple[int, int] | None:
        """`change_stamp`, or None instead of waiting while another thread holds the connection (a
        commit being synced)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self.stamp_in(self._conn)
        finally:
            self._lock.release()

    def stamp_in(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """`change_stamp` on `conn` (this connection, inside a transaction or not)."""
        try:
            return self.generation, int(conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise _catalog_error(exc, self.path) from None

    def _synchronous(self, level: str) -> None:
        """`PRAGMA synchronous=<level>` unless the connection is at that level already."""
        if level == self._sync_level:
            return
        self._sync_level = None  # unknown until it is set
        try:
            self._conn.execute(f"PRAGMA synchronous={level}")
        except sqlite3.Error as exc:
            raise _catalog_error(exc, self.path) from None
        self._sync_level = level

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
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

    def _write(self, sql: str, params: Sequence[Any] = (), *, policy: bool = True) -> int:
        with self.transaction(policy=policy) as conn:
            return int(conn.execute(sql, params).rowcount)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
