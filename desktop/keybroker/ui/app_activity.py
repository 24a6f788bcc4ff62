# SPDX-License-Identifier: Apache-2.0
"""How long since the user last touched Keybroker's own windows: the idle time `IdleLock` falls back to
when no system source (idle_sources.py) answers on this desktop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QEvent, QObject

_INPUT_EVENTS = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
    }
)


class AppActivity(QObject):
    """The fallback: time since the user's last key or mouse input in Keybroker's own windows.

    An app-wide event filter that only records a monotonic time; installed by `start`, removed by `stop`.
    """

    name = "input to Keybroker's own windows (no system idle time on this desktop)"

    def __init__(self, clock: Callable[[], float] = time.monotonic, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._clock = clock
        self._last = clock()
        self._app: QCoreApplication | None = None

    @property
    def watching(self) -> bool:
        """The event filter is installed."""
        return self._app is not None

    def start(self) -> None:
        """Count from now and watch input to the application."""
        self._last = self._clock()
        app = QCoreApplication.instance()
        if app is not None and self._app is None:
            app.installEventFilter(self)
            self._app = app

    def stop(self) -> None:
        """Stop watching."""
        if self._app is not None:
            self._app.removeEventFilter(self)
            self._app = None

    def idle_ms(self) -> int:
        return max(0, int((self._clock() - self._last) * 1000))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _INPUT_EVENTS:
            self._last = self._clock()
        return False
