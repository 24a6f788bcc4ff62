# SPDX-License-Identifier: Apache-2.0
"""Stop sse-starlette's shutdown watcher once no event stream is open (DESIGN §2: no idle timer).

a2a-sdk streams through sse-starlette, whose `EventSourceResponse` starts, on first use, one
`_shutdown_watcher` task per thread that polls for server shutdown every 0.5 s *forever*
(sse-starlette 3.x, `sse.py`). An idle tray app would wake twice a second. Each open stream
registers an event in the watcher's per-thread state; when none is left, this cancels the watcher.
Its own `finally` clears `watcher_started`, so the next stream starts a fresh one. If a future
sse-starlette renames these internals, this quietly does nothing (and the idle-wakeup test fails).
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["stop_idle_sse_watcher"]

_WATCHER = "_shutdown_watcher"


def stop_idle_sse_watcher() -> bool:
    """Cancel the watcher if no stream waits on it; True when one was cancelled."""
    try:
        from sse_starlette import sse
    except ImportError:  # pragma: no cover - a2a-sdk[http-server] brings it
        return False
    get_state = getattr(sse, "_get_shutdown_state", None)
    if get_state is None:
        return False
    state = get_state()
    if getattr(state, "events", None) or not getattr(state, "watcher_started", False):
        return False
    with contextlib.suppress(RuntimeError):
        for task in asyncio.all_tasks():
            coro = task.get_coro()
            if getattr(coro, "__qualname__", "") == _WATCHER and not task.done():
                task.cancel()
                return True
    return False
