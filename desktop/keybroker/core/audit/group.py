"""Group commit of the events that let a value out: one transaction and one sync for every release
queued while the last commit was on the disk (issue 16).

A release's `released` event must be on the disk before its value leaves (log.py). Appended one at a
time on the event loop, each costs a `BEGIN IMMEDIATE` and an fsync and stalls every other request
meanwhile. `GroupCommit.append` queues a release's events instead; one batch at a time commits
everything queued, off the loop (commit_thread.py), in one durable transaction (`synchronous=FULL`),
use counts included, and only then answers each waiting release (from a callback on the loop, which
then starts the next batch: no task of its own runs between, issue 16) (inside it, the batch's events are
chained on one read of the log's tip and written with one `executemany`, its use counts with another). A
release thus still waits for its own record, at concurrency 1 for the one sync it paid before, and
concurrent releases share one.

A release decided on the catalog as it stood at some `Stamp` (broker/policy_inputs.py) carries it:
inside the write transaction, which no other writer can enter, the stamp is read again, and when
anything changed since (a grant revoked here or by the CLI, a lock, a secret removed) that release is
not recorded and its caller is answered None, to decide again. No revoke can slip between a
decision and its release.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keybroker.core.audit.commit_thread import submit_to_commit_thread
from keybroker.core.audit.log import AuditLog
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.catalog.rows import AUDIT_ROWS
from keybroker.core.models import AuditEvent

log = logging.getLogger("keybroker.audit")

Stamp = tuple[int, int]


@dataclass(slots=True)
class _Pending:
    """One caller's events, waiting for the next commit."""

    entries: tuple[Mapping[str, Any], ...]
    uses: tuple[str, ...]
    stamp: Stamp | None
    future: asyncio.Future[list[AuditEvent] | None]
    events: list[AuditEvent] = field(default_factory=list)


class GroupCommit:
    """Batches durable audit appends across concurrent callers (module docstring)."""

    def __init__(self, audit: AuditLog, catalog: Catalog) -> None:
        self._audit = audit
        self._catalog = catalog
        self._queue: list[_Pending] = []
        #: The loop whose batch is on the commit thread, or None when none is.
        self._committing: asyncio.AbstractEventLoop | None = None
        self.commits = 0
        """Transactions committed so far (tests and the benchmark count them)."""

    def __repr__(self) -> str:
        return f"GroupCommit(queued={len(self._queue)}, commits={self.commits})"

    async def append(
        self,
        entries: Sequence[Mapping[str, Any]],
        *,
        uses: Sequence[str] = (),
        stamp: Stamp | None = None,
    ) -> list[AuditEvent] | None:
        """Append `entries` (log.py's `insert_many` fields: decision, agent... detail) durably and count a
        use of each of `uses`; the events once they are on the disk, or None when the catalog changed
        since `stamp` (nothing appended). A failed commit (a full disk) raises its `CatalogError`."""
        loop = asyncio.get_running_loop()
        pending = _Pending(tuple(entries), tuple(uses), stamp, loop.create_future())
        busy = self._committing
        if busy is not None and busy is not loop and not busy.is_running():
            # Its loop stopped or closed mid-commit: nobody will answer that batch, nor start the next.
            self._queue = [p for p in self._queue if p.future.get_loop() is loop]
            busy = self._committing = None
        self._queue.append(pending)
        if busy is None:  # at the loop's next turn, so that the releases of this one share the batch
            self._committing = loop
            loop.call_soon(self._start, loop)
        return await pending.future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Commit what is queued (callers that stopped waiting left out: nothing is released to them)."""
        batch = [p for p in self._queue if not p.future.done()]
        self._queue = []
        if not batch:
            self._committing = None
            return
        self._committing = loop
        done = functools.partial(self._committed, loop, batch)
        try:
            submit_to_commit_thread(functools.partial(self._commit, batch), loop, done)
        except Exception as exc:  # no thread to commit on (the process is out of them): callers hear so
            self._committing = None
            _answer(batch, exc)

    def _committed(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Pending], _: object, error: Exception | None
    ) -> None:
        """On the loop, once `batch`'s transaction ended: answer its callers, start the next batch, and
        then, once the callers went on (their requests reach their agents first), tell the head
        writer and the listeners."""
        try:
            if error is None:
                self.commits += 1
            _answer(batch, error)
            if error is None:  # after the callers' wake-ups, which `_answer` queued
                loop.call_soon(self._publish, [e for p in batch for e in p.events])
        finally:
            self._start(loop)

    def _publish(self, events: list[AuditEvent]) -> None:
        try:
            self._audit.published(events)
        except Exception:  # the head writer or a listener failed: the batch is on the disk all the same
            log.exception("after an audit commit")

    def _commit(self, batch: list[_Pending]) -> None:
        """One durable transaction for `batch` (on a worker thread)."""
        with self._catalog.transaction(durable=True, policy=False) as conn:
            now = self._catalog.stamp_in(conn)
            accepted: list[_Pending] = []
            for pending in batch:
                if pending.stamp is not None and pending.stamp != now:
                    pending.stamp = _REFUSED
                else:
                    accepted.append(pending)
            # One chain insert and one use-count update for the whole batch, in the callers' order.
            chained = self._audit.insert_many(conn, [e for p in accepted for e in p.entries])
            rows = iter(chained)
            for pending in accepted:
                for _ in pending.entries:
                    fields = next(rows)
                    pending.events.append(AUDIT_ROWS.record([fields[c] for c in AUDIT_ROWS.names]))
            used = self._catalog.clock.now()
            conn.executemany(
                "UPDATE secrets SET use_count = use_count + 1, last_used = ? WHERE secret_id = ?",
                [(used, sid) for p in accepted for sid in p.uses],
            )
            if chained:
                self._audit.write_head(conn, chained[-1])
        for pending in batch:
            if pending.stamp == _REFUSED:
                log.info("a release was decided again: the catalog changed before its record was written")


def _answer(batch: list[_Pending], error: Exception | None) -> None:
    """Each caller of `batch` still waiting: its events (None: refused), or `error` when nothing of the
    batch is on the disk."""
    for pending in batch:
        if pending.future.done():  # its caller stopped waiting (cancelled)
            continue
        if error is not None:
            pending.future.set_exception(error)
        else:
            pending.future.set_result(pending.events if pending.stamp != _REFUSED else None)


#: Marks a pending release refused at commit (the catalog changed since its decision).
_REFUSED: Stamp = (-1, -1)
