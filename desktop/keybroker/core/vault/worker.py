"""One dedicated thread for every vault call, with a timeout, and a fresh thread when one gets stuck.

keyring is not thread-safe on every backend and a call can stall (a D-Bus service that never answers, an
OS unlock prompt), so all calls are serialised on one worker thread. A job calls `tick()` before each
backend call; the job's timeout counts from the last tick, so a job of many backend calls (a chunked value)
gets the timeout per call. Whoever waits on a job also watches the worker: when the running job has been
silent longer than its timeout, the worker is abandoned (never joined), its job fails with VaultTimeout,
and a fresh thread takes the queue. An abandoned thread that comes back stops at its next tick.

Waiting is available both blocking (`wait`) and for asyncio (`wait_async`, which never blocks the loop).
Idle, the worker sleeps on a condition: no timer wakes an idle app.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from keybroker.core.errors import VaultError, VaultTimeout

T = TypeVar("T")
Tick = Callable[[], None]

log = logging.getLogger("keybroker.vault")

TIMEOUT_HINT = (
    "the OS vault is busy or waiting for an unlock prompt; unlock it and try again "
    "(`keybroker doctor` shows its state)"
)
_MAX_CHECK_DELAY = 1.0
_MIN_CHECK_DELAY = 0.005
_THREAD_NUMBERS = itertools.count(1)  # unique thread names across vaults, for logs and tests


class Abandoned(BaseException):
    """Raised inside an abandoned worker at its next tick, so a late job stops touching the backend."""


@dataclass(eq=False)
class _Job(Generic[T]):
    fn: Callable[[Tick], T]
    timeout: float
    label: str
    future: concurrent.futures.Future[T] = field(default_factory=concurrent.futures.Future)


@dataclass(eq=False)
class _Thread:
    """Book-keeping for one worker thread (guarded by VaultWorker._cond)."""

    number: int
    thread: threading.Thread | None = None
    job: _Job[object] | None = None
    since: float = 0.0  # monotonic time of the running job's last tick
    abandoned: bool = False


class VaultWorker:
    """A serial executor for blocking vault calls with per-call timeouts and stuck-thread replacement."""

    def __init__(self, *, name: str = "keybroker-vault", max_stuck: int = 4) -> None:
        self._name = name
        self._max_stuck = max_stuck
        self._cond = threading.Condition()
        self._queue: collections.deque[_Job[object]] = collections.deque()
        self._current: _Thread | None = None
        self._stuck: list[_Thread] = []
        self._closed = False
        self._on_thread_exit: Callable[[], None] | None = None

    def set_thread_exit_hook(self, hook: Callable[[], None] | None) -> None:
        """Run `hook` on each worker thread as it ends (a backend closing that thread's connection)."""
        self._on_thread_exit = hook

    # Submitting ----------------------------------------------------------------------------------

    def submit(self, fn: Callable[[Tick], T], *, timeout: float, label: str) -> concurrent.futures.Future[T]:
        """Queue `fn(tick)`; return its future. Raises VaultTimeout if too many calls are still stuck."""
        job: _Job[T] = _Job(fn, timeout, label)
        with self._cond:
            if self._closed:
                raise VaultError("the vault is closed")
            self._stuck = [t for t in self._stuck if t.thread is not None and t.thread.is_alive()]
            if len(self._stuck) >= self._max_stuck:
                raise VaultTimeout(
                    f"the vault has stopped answering: {len(self._stuck)} calls are still stuck ({label})",
                    hint=TIMEOUT_HINT,
                )
            if self._current is None:
                self._current = self._spawn()
            self._queue.append(job)  # type: ignore[arg-type]
            self._cond.notify_all()
        return job.future

    def run(self, fn: Callable[[Tick], T], *, timeout: float, label: str) -> T:
        """Submit and wait (blocking)."""
        return self.wait(self.submit(fn, timeout=timeout, label=label))

    async def arun(self, fn: Callable[[Tick], T], *, call_timeout: float, label: str) -> T:
        """Submit (with `call_timeout` per backend call) and wait without blocking the event loop."""
        return await self.wait_async(self.submit(fn, timeout=call_timeout, label=label))

    # Waiting -------------------------------------------------------------------------------------

    def wait(self, future: concurrent.futures.Future[T]) -> T:
        """Block until the job ends or its worker is found stuck (then VaultTimeout)."""
        while not future.done():
            concurrent.futures.wait([future], timeout=self._check_delay())
            if not future.done():
                self._check_stall()
        return future.result()

    async def wait_async(self, future: concurrent.futures.Future[T]) -> T:
        """Like `wait`, for asyncio: the loop keeps running; cancelling the caller drops a queued job."""
        import asyncio  # here: a CLI command waits blocking and need not load asyncio (start-up time)

        waiter = asyncio.wrap_future(future)
        try:
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=self._check_delay())
                if not waiter.done():
                    self._check_stall()
        except asyncio.CancelledError:
            waiter.cancel()  # cancels the job too when it has not started yet
            raise
        return waiter.result()

    def _check_delay(self) -> float:
        """Seconds until the running job could first count as stuck."""
        with self._cond:
            current = self._current
            if current is None or current.job is None:
                return _MIN_CHECK_DELAY * 10
            remaining = current.since + current.job.timeout - time.monotonic()
        return min(_MAX_CHECK_DELAY, max(_MIN_CHECK_DELAY, remaining + _MIN_CHECK_DELAY))

    def _check_stall(self) -> None:
        """Abandon the worker if its running job has been silent past its timeout."""
        with self._cond:
            current = self._current
            if current is None or current.job is None:
                return
            silent = time.monotonic() - current.since
            if silent <= current.job.timeout:
                return
            job = current.job
            current.abandoned = True
            self._stuck.append(current)
            self._current = self._spawn() if not self._closed else None
            self._cond.notify_all()
        log.warning("vault call stuck for %.1f s (%s); replacing the vault worker thread", silent, job.label)
        _settle(
            job.future,
            exc=VaultTimeout(
                f"the vault did not answer within {job.timeout:g} s ({job.label})", hint=TIMEOUT_HINT
            ),
        )

    # Threads -------------------------------------------------------------------------------------

    def _spawn(self) -> _Thread:
        """Start a worker thread (caller holds the condition)."""
        state = _Thread(next(_THREAD_NUMBERS))
        state.thread = threading.Thread(
            target=self._loop, args=(state,), name=f"{self._name}-{state.number}", daemon=True
        )
        state.thread.start()
        return state

    def _loop(self, state: _Thread) -> None:
        try:
            self._serve(state)
        finally:
            hook = self._on_thread_exit
            if hook is not None:
                try:
                    hook()
                except Exception:
                    log.debug("vault worker exit hook failed", exc_info=True)

    def _serve(self, state: _Thread) -> None:
        def tick() -> None:
            if state.abandoned:
                raise Abandoned
            state.since = time.monotonic()

        while True:
            with self._cond:
                while not self._queue and not state.abandoned and not self._closed:
                    self._cond.wait()
                if state.abandoned or not self._queue:
                    return
                job = self._queue.popleft()
                state.job = job
                state.since = time.monotonic()
            try:
                _execute(job, tick)
            except Abandoned:
                return
            finally:
                with self._cond:
                    state.job = None
            # An idle thread keeps neither the vault (through the job) nor a value alive.
            del job

    # Lifecycle -----------------------------------------------------------------------------------

    @property
    def stuck_threads(self) -> int:
        """How many abandoned threads are still inside a backend call."""
        with self._cond:
            return sum(1 for t in self._stuck if t.thread is not None and t.thread.is_alive())

    @property
    def thread_name(self) -> str | None:
        """The current worker thread's name (for tests and diagnostics)."""
        with self._cond:
            current = self._current
            return current.thread.name if current is not None and current.thread is not None else None

    def close(self, timeout: float = 5.0) -> None:
        """Fail queued jobs, let the running one finish, and join the worker for at most `timeout` s."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            pending = list(self._queue)
            self._queue.clear()
            current = self._current
            self._current = None
            self._cond.notify_all()
        for job in pending:
            _settle(job.future, exc=VaultError("the vault was closed before this call ran"))
        thread = current.thread if current is not None else None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


def _execute(job: _Job[T], tick: Tick) -> None:
    """Run one job and settle its future (unless it was cancelled before it started)."""
    if not job.future.set_running_or_notify_cancel():
        return
    try:
        result = job.fn(tick)
    except Abandoned:
        raise
    except BaseException as exc:
        _settle(job.future, exc=exc)
    else:
        _settle(job.future, result=result)


def _settle(
    future: concurrent.futures.Future[T], *, result: T | None = None, exc: BaseException | None = None
) -> None:
    """Complete a future once; a late worker finding it already settled is not an error."""
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)  # type: ignore[arg-type]
    except concurrent.futures.InvalidStateError:
        pass
