# SPDX-License-Identifier: Apache-2.0
"""Qt + asyncio for the UI tests: one qasync loop per test, run to completion with a timeout.

pytest-qt gives the QApplication (offscreen); `aio.run(coro)` runs a coroutine on a fresh qasync loop
over it, so Qt events and asyncio tasks interleave as in the app. Waiting is done with `until` inside
the coroutine, never with qtbot's nested loops (a nested loop inside a qasync task breaks it).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import qasync
from PySide6.QtWidgets import QApplication

T = TypeVar("T")

# The session's QApplication is made before any function-scoped fixture (the root conftest's
# isolated_env sets this too, but too late for qapp); `make test` exports it anyway.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


class AsyncRunner:
    """Runs coroutines on one qasync loop for the current test."""

    def __init__(self, app: QApplication) -> None:
        self.loop = qasync.QEventLoop(app)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run `coro` to the end (TimeoutError after `timeout` s)."""
        asyncio.set_event_loop(self.loop)
        result: T = self.loop.run_until_complete(asyncio.wait_for(coro, timeout))
        return result

    def close(self) -> None:
        """Cancel what is left, then close the loop."""
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def app(qapp: QApplication) -> QApplication:
    """The test QApplication, configured like the app's (closing a dialog must not quit)."""
    qapp.setQuitOnLastWindowClosed(False)
    return qapp


@pytest.fixture
def aio(app: QApplication) -> Iterator[AsyncRunner]:
    """`aio.run(coro)`: run a coroutine on a qasync loop over the test QApplication."""
    runner = AsyncRunner(app)
    yield runner
    runner.close()
