"""The audit chain's head (count and last hash) kept outside the database, and its deferred writer.

The count is the newest event's sequence number, which equals the number of events in any log that
verifies (see `DeferredHeadWriter._tip`).

The head lives in the vault (`VaultHeadStore`), so cutting events off the end of the log is caught by
`AuditLog.verify` (log.py). The long-running app writes it off the appending thread (`DeferredHeadWriter`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Protocol

from keybroker.core.errors import VaultConflict
from keybroker.core.models import SecretValue
from keybroker.core.ports import SyncVault

log = logging.getLogger("keybroker.audit")

HEAD_ACCOUNT = "keybroker.audit-head"
_CONFLICT_ATTEMPTS = 3
#: While releases go on, the head is written to the vault at most once per this many seconds.
HEAD_PACE_SECONDS = 1.0


class HeadStore(Protocol):
    """Where the chain's head (count, last hash) is kept outside the database."""

    def read(self) -> tuple[int, str] | None:
        """The stored head, or None when none was stored."""
        ...

    def write(self, count: int, head: str) -> None:
        """Store the head."""
        ...


class VaultHeadStore:
    """Keeps the head in the OS vault as `count:hash`."""

    def __init__(self, vault: SyncVault, account: str = HEAD_ACCOUNT) -> None:
        self._vault = vault
        self._account = account

    def read(self) -> tuple[int, str] | None:
        """Parse the stored head; a malformed one reads as (-1, text) so verify reports it."""
        value = self._vault.get(self._account)
        if value is None:
            return None
        count, _, head = value.reveal().partition(":")
        try:
            return int(count), head
        except ValueError:
            return -1, head

    def write(self, count: int, head: str) -> None:
        """Store `count:hash`. A team vault's check-and-set may refuse it when another process stored a
        head at that moment: then theirs stands if it is as new as ours, else ours is written again."""
        for _ in range(_CONFLICT_ATTEMPTS):
            try:
                self._vault.set(self._account, SecretValue(f"{count}:{head}"))
                return
            except VaultConflict:
                stored = self.read()
                if stored is not None and stored[0] >= count:
                    return
        raise VaultConflict(f"the audit head kept changing while {count}:{head[:16]} was written")

    def clear(self) -> None:
        """Forget the head (purge)."""
        self._vault.delete(self._account)


class DeferredHeadWriter:
    """Writes the head off the caller's thread, coalescing bursts into one vault write.

    An OS vault write costs milliseconds (~3.6 ms of CPU between the app and gnome-keyring, measured
    by bench/audit_head.py; a team vault's, a network round trip or more); a release must cost far
    less (DESIGN §7). The
    writer reads the chain's tip itself on its own connection, writes it to the vault with no database
    lock held (a team vault may take seconds, or a leader election, to answer: appends must not wait
    for it), then reads the tip again and, when it moved, writes again (paced, below) until the head
    it stored is the newest one, whichever process appended meanwhile. It sleeps on an event: an idle
    app is never woken by it.

    Writes are paced, at most one per `pace` seconds: the first after a quiet spell at once, the next
    once `pace` has passed since it, holding the newest tip. A bridge releasing a value every few
    milliseconds otherwise wrote the vault after nearly every release (coalescing only merges those
    made during one write): with gnome-keyring, a D-Bus round trip costing the app ~0.8 ms of CPU and
    gnome-keyring ~1.7 ms, per release. The head is thus at most about `pace` behind the log while
    releases go on (it already lagged by a write's time; a team vault's can take seconds; log.py's
    `verify` tells a head behind an intact log from a cut one), and `flush` and `close` write the
    newest at once.
    """

    def __init__(self, db_path: str, head: HeadStore, *, pace: float = HEAD_PACE_SECONDS) -> None:
        self._db_path = db_path
        self._head = head
        self._pace = pace
        self._last_write = -pace  # (monotonic) none yet: the first write is not held
        self._hurry = threading.Event()  # a flush or close: the pace is not waited out
        self._wanted = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Ask for the head to be written (soon, on the writer's thread, which starts on first use)."""
        with self._lock:
            self._idle.clear()
            self._wanted.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="keybroker-audit-head", daemon=True)
                self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every requested write is done, the pace not waited out; True when it is. Hurries
        the next write only: the pace holds again for the releases after it."""
        with self._lock:
            if not self._idle.is_set():  # (an idle writer has nothing to hurry)
                self._hurry.set()
        return self._idle.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Finish the requested writes, then stop the thread."""
        self.flush(timeout)
        with self._lock:
            self._stop = True
            self._wanted.set()
            self._hurry.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _loop(self) -> None:
        conn = sqlite3.connect(self._db_path, isolation_level=None, timeout=10.0)
        try:
            while True:
                self._wanted.wait()
                held = self._last_write + self._pace - time.monotonic()
                if held > 0:
                    self._hurry.wait(held)  # the pace (class docstring), unless a flush or close hurries
                with self._lock:
                    if self._stop:
                        return
                    self._wanted.clear()
                    self._hurry.clear()  # spent on this write: a flush made during it hurries the next
                try:
                    self._write_tip(conn)
                except Exception:  # the head is best effort here; verify reports a stale one
                    log.exception("could not write the audit head to the vault")
                self._last_write = time.monotonic()
                with self._lock:
                    if not self._wanted.is_set():
                        self._idle.set()
                        self._hurry.clear()  # a flush that came during the write is answered by it
        finally:
            conn.close()
            self._idle.set()

    def _write_tip(self, conn: sqlite3.Connection) -> None:
        tip = self._tip(conn)
        if tip is None:
            return
        self._head.write(*tip)
        if self._tip(conn) != tip:  # appended meanwhile (here or by another process): one more round
            with self._lock:
                self._idle.clear()
                self._wanted.set()

    @staticmethod
    def _tip(conn: sqlite3.Connection) -> tuple[int, str] | None:
        """(count, last hash) of the newest event, or None for an empty log.

        The count is the newest event's sequence number: events are numbered 1, 2, 3... (log.py's
        `insert_many`), so in a log `AuditLog.verify` accepts the two are equal. It is one look-up by
        the primary key, where `count(*)` read the whole table at every release (2.9 ms at 50k events,
        growing with the log). In a log with events removed from the middle it stays the newest number
        rather than the rows left, which verify reports as well as the broken sequence itself.
        """
        row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row is not None else None
