# SPDX-License-Identifier: Apache-2.0
"""lazy_timer.py: a deadline moved later costs no loop timer; the callback runs once the last deadline
has come, not before, and not at all once cancelled. On real sockets: test_flood.py, test_keepalive.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from keybroker.core.bridge.lazy_timer import LazyTimer


@pytest.mark.asyncio
async def test_the_callback_runs_once_at_the_last_deadline_and_moves_make_no_loop_timer() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    timer = LazyTimer(loop, lambda: fired.append(loop.time()))
    made: list[float] = []
    real_call_at = loop.call_at

    def counted(when: float, callback: Callable[..., object], *args: object) -> asyncio.TimerHandle:
        if getattr(callback, "__self__", None) is timer:
            made.append(when)
        return real_call_at(when, callback, *args)

    timer._loop = SimpleNamespace(call_at=counted, time=loop.time)  # type: ignore[assignment]
    timer.set(loop.time() + 0.1)
    for _ in range(50):  # moved later 50 times before it was ever due
        await asyncio.sleep(0.005)
        timer.set(loop.time() + 0.1)
    assert not fired
    # The loop's timer was set again only when it went off before the deadline moved on (about once a
    # 0.1 s here), not once per move.
    assert len(made) <= 6, made
    last = timer.deadline
    await asyncio.sleep(0.3)
    assert len(fired) == 1
    assert fired[0] >= last - 0.005


@pytest.mark.asyncio
async def test_an_earlier_deadline_is_kept_and_a_cancelled_timer_never_calls() -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    early = LazyTimer(loop, lambda: fired.append("early"))
    early.set(loop.time() + 5.0)
    early.set(loop.time() + 0.05)  # earlier than the timer pending: the loop's timer moves
    gone = LazyTimer(loop, lambda: fired.append("gone"))
    gone.set(loop.time() + 0.05)
    gone.cancel()
    await asyncio.sleep(0.2)
    assert fired == ["early"]


class _PlainHandle:
    """What qasync's loop (the tray app's) gives from `call_at`: a handle to cancel, with no `when()`."""

    def __init__(self, handle: asyncio.TimerHandle) -> None:
        self._handle = handle

    def cancel(self) -> None:
        self._handle.cancel()


@pytest.mark.asyncio
async def test_a_loop_whose_handles_do_not_say_when_they_go_off() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    timer = LazyTimer(loop, lambda: fired.append(loop.time()))
    timer._loop = SimpleNamespace(  # type: ignore[assignment]
        call_at=lambda when, callback: _PlainHandle(loop.call_at(when, callback)), time=loop.time
    )
    timer.set(loop.time() + 5.0)
    timer.set(loop.time() + 0.05)  # earlier: the pending one is cancelled
    timer.set(loop.time() + 0.1)  # later: kept, set again when it goes off
    last = timer.deadline
    await asyncio.sleep(0.3)
    assert len(fired) == 1 and fired[0] >= last - 0.005
