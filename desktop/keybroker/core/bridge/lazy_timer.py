# SPDX-License-Identifier: Apache-2.0
"""A timer for a deadline that keeps moving later, without a loop timer made and cancelled per move.

A connection's header timeout starts again after every answer, and an event stream's keep-alive after
every event (connections.py, keepalive.py): at hundreds of requests a second, cancelling and setting a
loop timer each time is a measurable part of a request (issue 16). `LazyTimer.set` only records the new
deadline while the loop's timer is pending for an earlier one; when that timer goes off before the
deadline, it is set again for it, and the callback runs only once the deadline has come.

uvloop runs timers up to its clock's millisecond early: a timer within `TIMER_SLACK` of its deadline
counts as due (else it would be set again for a deadline µs away, again and again, until the clock
ticks).

    timer = LazyTimer(loop, on_due)
    timer.set(loop.time() + 10.0)   # again, later, as often as needed
    timer.cancel()                  # the loop keeps nothing
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["TIMER_SLACK", "LazyTimer"]

#: Seconds a timer may go off before its deadline and still count as due.
TIMER_SLACK = 0.005


class LazyTimer:
    """Calls `callback` (on the loop) once the last deadline `set` has come (module docstring)."""

    __slots__ = ("_at", "_callback", "_handle", "_loop", "deadline")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
        self._loop = loop
        self._callback = callback
        # What the loop's `call_at` gave, and when for: qasync's loop (the tray app's) gives a plain
        # `Handle`, without `when()`.
        self._handle: asyncio.Handle | None = None
        self._at = 0.0
        self.deadline = 0.0

    def set(self, deadline: float) -> None:
        """Call back at `deadline` (loop time) instead of any deadline set before."""
        self.deadline = deadline
        if self._handle is not None:
            if self._at <= deadline:
                return  # it goes off earlier and is set again for this deadline then
            self._handle.cancel()
        self._arm()

    def cancel(self) -> None:
        """No call back (until the next `set`)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        if self._loop.time() < self.deadline - TIMER_SLACK:  # set for a later deadline since
            self._arm()
            return
        self._callback()

    def _arm(self) -> None:
        self._at = self.deadline
        self._handle = self._loop.call_at(self.deadline, self._fire)
