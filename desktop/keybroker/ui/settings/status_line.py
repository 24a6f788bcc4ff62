# SPDX-License-Identifier: Apache-2.0
"""A one-line progress / result strip under a tab's actions: busy, done, or what went wrong and the fix."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QStyle, QWidget

from keybroker.core.errors import KeybrokerError

log = logging.getLogger("keybroker.ui")

OK_COLOR = QColor("#2e7d32")
WARN_COLOR = QColor("#a15c00")
ERROR_COLOR = QColor("#c62828")
#: How long a success note stays (a single shot, started only after an action).
OK_SECONDS = 8


def error_text(exc: BaseException) -> str:
    """A sentence for the user: our errors say what and how to fix; anything else is logged."""
    if isinstance(exc, KeybrokerError):
        text = exc.message[:1].upper() + exc.message[1:]
        return text + (f" — {exc.hint}" if exc.hint else "")
    log.error("unexpected error in the settings window", exc_info=exc)
    return f"Something went wrong ({type(exc).__name__}); the log has the details."


class StatusLine(QWidget):
    """Shows one state at a time: nothing, busy (with an indeterminate bar), ok, warning or error."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self._icon = QLabel()
        self._icon.setFixedSize(16, 16)
        self._bar = QProgressBar()
        self._bar.setRange(0, 0)
        self._bar.setTextVisible(False)
        self._bar.setFixedSize(72, 10)
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self._bar, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self._label, 1)
        self._clear_timer = QTimer(self)
        self._clear_timer.setSingleShot(True)
        self._clear_timer.timeout.connect(self.clear)
        self.kind = ""
        self.clear()

    @property
    def text(self) -> str:
        """What the line says now."""
        return self._label.text()

    def clear(self) -> None:
        """Say nothing (and take no room)."""
        self._clear_timer.stop()
        self.kind = ""
        self._label.clear()
        self.setVisible(False)

    def busy(self, text: str) -> None:
        """An operation runs: `Fetching the card…`."""
        self._show("busy", text, None, None)

    def ok(self, text: str) -> None:
        """It worked; the note goes away by itself."""
        self._show("ok", text, QStyle.StandardPixmap.SP_DialogApplyButton, OK_COLOR)
        self._clear_timer.start(OK_SECONDS * 1000)

    def warning(self, text: str) -> None:
        """Worth knowing; stays until the next action."""
        self._show("warning", text, QStyle.StandardPixmap.SP_MessageBoxWarning, WARN_COLOR)

    def error(self, text: str) -> None:
        """It failed; stays until the next action."""
        self._show("error", text, QStyle.StandardPixmap.SP_MessageBoxCritical, ERROR_COLOR)

    def failed(self, exc: BaseException) -> None:
        """`error(error_text(exc))`."""
        self.error(error_text(exc))

    def _show(self, kind: str, text: str, icon: QStyle.StandardPixmap | None, color: QColor | None) -> None:
        self._clear_timer.stop()
        self.kind = kind
        self._bar.setVisible(kind == "busy")
        self._icon.setVisible(icon is not None)
        if icon is not None:
            self._icon.setPixmap(self.style().standardIcon(icon).pixmap(16, 16))
        palette = self._label.palette()
        palette.setColor(
            self._label.foregroundRole(),
            color if color is not None else self.palette().color(self.foregroundRole()),
        )
        self._label.setPalette(palette)
        self._label.setText(text)
        self.setVisible(True)
