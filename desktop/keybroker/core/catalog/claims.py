# SPDX-License-Identifier: Apache-2.0
"""Who may write a secret right now: one writer per secret, within a process and across processes.

A secret is named by its identity (key, owner, scheme): a create has no `secret_id` yet, and two
creates of one key must meet. Two layers, both needed:

- in this process, `WriteLocks` serialises every write of one identity (create, replace, delete): the
  management API's threads, the settings window's jobs and the broker's prompt answers queue up
  instead of interleaving their vault and catalog steps (which left values in the vault without a row);
- across processes (the app and a CLI run without it), the row itself is claimed in one `BEGIN
  IMMEDIATE` transaction before the vault is touched: a create inserts its row `pending` only when no
  row of that identity exists (`claim_new_secret`), a replace marks its `ready` row with its pid
  (`claim_secret`, the row stays listed and releasable meanwhile), a delete moves it to `deleting`.
  A row another live process holds answers "busy"; a claim whose writer is dead (or older than
  `STALE_AFTER_SECONDS`) is taken over. core/secrets/recovery.py settles unsettled rows at start-up.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from keybroker.core.catalog.db import Database
from keybroker.core.catalog.rows import SECRET_ROWS
from keybroker.core.errors import SecretBusyError
from keybroker.core.models import SecretRecord
from keybroker.core.ports import Clock

__all__ = [
    "STALE_AFTER_SECONDS",
    "Claim",
    "Identity",
    "SecretClaims",
    "WriteLocks",
    "identity",
    "writer_alive",
]

#: A writer that has held a row this long is presumed dead even if its pid was reused.
STALE_AFTER_SECONDS = 120.0

#: (key, owner or "", scheme or ""): what the catalog's unique index `secrets_identity` holds.
Identity = tuple[str, str, str]
#: What `claim_secret` found: the row is now ours, gone (deleted meanwhile), or held by another writer.
Claim = Literal["claimed", "gone", "busy"]

#: Built from module constants only; every value is a bound parameter.
_INSERT_PENDING = (
    f"INSERT INTO secrets ({SECRET_ROWS.columns}, state, state_pid, state_since) "  # noqa: S608
    f"VALUES ({SECRET_ROWS.placeholders}, 'pending', ?, ?)"
)
_BUSY_HINT = "another change to it is under way; try again in a moment"


def identity(key: str, owner: str | None, scheme: str | None) -> Identity:
    """The identity of the secret stored under `key` for `owner` (None: shared) and `scheme`."""
    return (key, owner or "", scheme or "")


def writer_alive(pid: int | None, since: float | None, now: float) -> bool:
    """Whether another live process holds a row it marked with `pid` at `since` (this one: False)."""
    if pid is None or since is None or now - since > STALE_AFTER_SECONDS:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _loop_running() -> bool:
    """Whether this thread runs an event loop (asyncio is not imported for it: `secrets show` stays light)."""
    aio = sys.modules.get("asyncio")
    return aio is not None and aio._get_running_loop() is not None


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


class WriteLocks:
    """One writer at a time per identity, in this process (threads and the event loop alike)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._slots: dict[Identity, _Slot] = {}

    def __repr__(self) -> str:
        with self._guard:
            return f"WriteLocks(held={len(self._slots)})"

    def _enter(self, ident: Identity) -> _Slot:
        with self._guard:
            slot = self._slots.setdefault(ident, _Slot())
            slot.users += 1
            return slot

    def _leave(self, ident: Identity, slot: _Slot, *, locked: bool) -> None:
        if locked:
            slot.lock.release()
        with self._guard:
            slot.users -= 1
            if slot.users == 0:
                self._slots.pop(ident, None)

    @contextmanager
    def hold(self, *identities: Identity) -> Iterator[None]:
        """Wait for and hold every identity given (in one order, so two holders never deadlock).

        On a thread that runs an event loop it does not wait (the writer it would wait for may need
        that loop to finish): a held identity is `SecretBusyError` there.
        """
        wait = not _loop_running()
        held: list[tuple[Identity, _Slot]] = []
        try:
            for ident in sorted(set(identities)):
                slot = self._enter(ident)
                if not slot.lock.acquire(blocking=wait):
                    self._leave(ident, slot, locked=False)
                    raise SecretBusyError(f"secret {ident[0]!r} is being changed", hint=_BUSY_HINT)
                held.append((ident, slot))
            yield
        finally:
            for ident, slot in reversed(held):
                self._leave(ident, slot, locked=True)

    @asynccontextmanager
    async def ahold(self, *identities: Identity) -> AsyncIterator[None]:
        """`hold` for a coroutine: waits without blocking the event loop (it polls the locks)."""
        import asyncio

        held: list[tuple[Identity, _Slot]] = []
        try:
            for ident in sorted(set(identities)):
                slot = self._enter(ident)
                delay = 0.002
                try:
                    while not slot.lock.acquire(blocking=False):
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 0.05)
                except BaseException:
                    self._leave(ident, slot, locked=False)
                    raise
                held.append((ident, slot))
            yield
        finally:
            for ident, slot in reversed(held):
                self._leave(ident, slot, locked=True)


class SecretClaims(Database):
    """The cross-process half (module docstring): claims on secret rows, each one transaction."""

    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        super().__init__(path, clock=clock)
        self.writes = WriteLocks()
        """The in-process half: writers of one identity hold it while they write."""

    def claim_new_secret(self, record: SecretRecord) -> bool:
        """Insert `record` `pending`, unless a row of its identity exists in any state (then False). A
        team's read-only secret (schema migration 6) is another identity: Keybroker never creates one."""
        now, me = self.clock.now(), os.getpid()
        with self.transaction() as conn:
            taken = conn.execute(
                "SELECT 1 FROM secrets WHERE key = ? AND ifnull(owner, '') = ? AND ifnull(scheme, '') = ? "
                "AND team IS NULL",
                identity(record.key, record.owner, record.scheme),
            ).fetchone()
            if taken is not None:
                return False
            conn.execute(_INSERT_PENDING, (*SECRET_ROWS.row(record), me, now))
        return True

    def claim_secret(self, secret_id: str, *, deleting: bool = False) -> Claim:
        """Mark a `ready` row as ours before its value changes (`deleting`: move it to `deleting`)."""
        now, me = self.clock.now(), os.getpid()
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT state, state_pid, state_since FROM secrets WHERE secret_id = ?", (secret_id,)
            ).fetchone()
            if row is None:
                return "gone"
            state, pid, since = row
            if state != "ready" or writer_alive(pid, since, now):
                return "busy"
            conn.execute(
                "UPDATE secrets SET state = ?, state_pid = ?, state_since = ? WHERE secret_id = ?",
                ("deleting" if deleting else "ready", me, now, secret_id),
            )
        return "claimed"

    def release_claim(self, secret_id: str) -> None:
        """Let go of a `ready` row this process claimed (a row since settled otherwise is left alone)."""
        self._write(
            "UPDATE secrets SET state_pid = NULL, state_since = NULL "
            "WHERE secret_id = ? AND state = 'ready' AND state_pid = ?",
            (secret_id, os.getpid()),
        )
