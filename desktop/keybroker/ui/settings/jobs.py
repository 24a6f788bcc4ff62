# SPDX-License-Identifier: Apache-2.0
"""Blocking core calls off the UI thread, their results back on it.

Vault calls can block for seconds (an OS unlock prompt), card fetches up to their timeout. The settings
window hands such calls to a `JobRunner`: a small thread pool whose results come back through a queued
Qt signal, so callbacks always run on the UI thread. It needs no asyncio loop, so it works the same
under the app's qasync loop and in pytest-qt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

log = logging.getLogger("keybroker.ui")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Delivery:
    future: Future[Any]
    on_done: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None


class JobRunner(QObject):
    """Runs callables on worker threads; `on_done`/`on_error` run on the UI thread afterwards."""

    #: True while at least one job runs or waits for its callback.
    busy_changed = Signal(bool)
    _delivered = Signal(object)

    def __init__(self, parent: QObject | None = None, *, max_workers: int = 3) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="keybroker-ui-job")
        self._pending = 0
        self._closed = False
        self._delivered.connect(self._deliver)

    @property
    def busy(self) -> bool:
        """Whether a job is running or its callback has not run yet."""
        return self._pending > 0

    def submit(
        self,
        fn: Callable[[], T],
        *,
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Future[T]:
        """Run `fn()` on a worker; then `on_done(result)` or `on_error(exc)` on this object's thread."""
        if self._closed:
            raise RuntimeError("the job runner is closed")
        future = self._pool.submit(fn)
        self._pending += 1
        if self._pending == 1:
            self.busy_changed.emit(True)
        # The done callback runs on the worker thread; the signal crosses to ours (queued connection).
        future.add_done_callback(lambda f: self._delivered.emit(_Delivery(f, on_done, on_error)))
        return future

    def _deliver(self, delivery: _Delivery) -> None:
        try:
            if delivery.future.cancelled():
                return
            exc = delivery.future.exception()
            if exc is None:
                if delivery.on_done is not None:
                    delivery.on_done(delivery.future.result())
            elif delivery.on_error is not None:
                delivery.on_error(exc)
            else:
                log.error("a background job failed: %s", type(exc).__name__, exc_info=exc)
        except Exception:
            log.exception("a job's callback failed")
        finally:
            self._pending -= 1
            if self._pending == 0:
                self.busy_changed.emit(False)

    def close(self, *, wait: bool = False) -> None:
        """Accept no more jobs; running ones finish (their callbacks still arrive while we live)."""
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
