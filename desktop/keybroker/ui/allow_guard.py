# SPDX-License-Identifier: Apache-2.0
"""Keeps the prompt's Allow inert for a moment after the dialog appears or gets the focus back.

A Return or a click meant for another window must not release a secret (a Return typed ~450 ms after
a prompt appeared did). Browsers guard their permission prompts the same way. The guard watches the
dialog's own events (shown, activated, hidden) and says when Allow may answer again.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget

#: How long Allow stays inert after the prompt appears or gets the focus back.
GUARD_MS = 1000


class AllowGuard(QObject):
    """`armed` once `ms` have passed since `dialog` was last shown or activated; `changed(armed)`."""

    changed = Signal(bool)

    def __init__(self, dialog: QWidget, ms: int = GUARD_MS, timer: QTimer | None = None) -> None:
        """`timer`: a test's own (it fires when the test says the time has passed)."""
        super().__init__(dialog)
        self._ms = ms
        self._finished = False
        #: Allow may answer.
        self.armed = ms <= 0
        self.timer = timer or QTimer()
        self.timer.setParent(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(max(ms, 0))
        self.timer.timeout.connect(self._arm)
        dialog.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Restart on Show and on getting the focus back; stop while hidden. Never eats the event."""
        kind = event.type()
        if kind == QEvent.Type.Show:
            self.restart()
        elif kind == QEvent.Type.ActivationChange:
            if isinstance(watched, QWidget) and watched.isActiveWindow():
                self.restart()
        elif kind == QEvent.Type.Hide:
            self.timer.stop()
        return False

    def restart(self) -> None:
        """Allow is inert until `ms` from now."""
        if self._ms <= 0 or self._finished:
            return
        self.armed = False
        self.changed.emit(False)
        self.timer.start()

    def finish(self) -> None:
        """The dialog was answered: nothing more to guard."""
        self._finished = True
        self.timer.stop()

    def _arm(self) -> None:
        if self._finished:
            return
        self.armed = True
        self.changed.emit(True)
