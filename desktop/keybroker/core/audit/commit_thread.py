"""One long-lived thread for the group commit's transactions (group.py), shared by every event loop.

`asyncio.to_thread` cost 70-100 µs of CPU per round trip here (a context copy, the default executor's
work item and its future, and the chaining of that future to the loop's one), and the group commit
makes one round trip per release at concurrency 1 (issue 16). A job here is a put on a queue and, once
it ran, one `call_soon_threadsafe`: 35-50 µs. Jobs run one at a time, in the order they came, whatever
loop or catalog they come from; each catalog serialises its own writers anyway.

The thread starts on first use and lives as long as the process: a daemon asleep on its queue (no
timer wakes an idle app). Should a job ever end it (an exception that is not an `Exception`), the next
job starts a new one. A job's outcome goes to a callback on its caller's loop (the group commit answers
its batch there, with no task of its own waiting); a loop closed before its job ended is skipped when
the outcome comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["THREAD_NAME", "Done", "submit_to_commit_thread"]

THREAD_NAME = "keybroker-audit-commit"

#: Called on the caller's loop with the job's result and its exception (None when it returned).
Done = Callable[[Any, Exception | None], object]
_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, Done]
_jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_start_lock = threading.Lock()


def submit_to_commit_thread(fn: Callable[[], Any], loop: asyncio.AbstractEventLoop, done: Done) -> None:
    """Run `fn()` on the commit thread, then `done(result, exception)` on `loop` (not when it closed)."""
    _ensure_thread()
    _jobs.put((fn, loop, done))


def _ensure_thread() -> None:
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_serve, name=THREAD_NAME, daemon=True)
            _thread.start()


def _serve() -> None:
    while True:
        fn, loop, done = _jobs.get()
        result: Any = None
        error: Exception | None = None
        try:
            result = fn()
        except Exception as exc:  # the caller's to handle (a full disk, a locked catalog)
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits for the answer
            loop.call_soon_threadsafe(done, result, error)
        del fn, loop, done, result, error  # nothing of a job kept while the thread sleeps
