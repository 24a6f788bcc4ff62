# SPDX-License-Identifier: Apache-2.0
"""A revealed value: read-only, copyable, hidden again by itself.

The value shows for `seconds` (a countdown that runs only while a value is on screen), or until the
user hides it, switches tab or closes the window. A copy is marked for clipboard managers as a password
(KDE's `x-kde-passwordManagerHint`), and the clipboard is cleared when the value hides if it still holds
it.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from keybroker.core.models import SecretValue

PASSWORD_HINT_MIME = "x-kde-passwordManagerHint"  # noqa: S105 - a MIME type name


class RevealBox(QFrame):
    """Shows one value at a time, then forgets it."""

    #: The value is no longer shown (timer, Hide, tab switch).
    hidden_again = Signal()

    def __init__(self, parent: QWidget | None = None, *, seconds: int = 30) -> None:
        super().__init__(parent)
        self.seconds = seconds
        self.setObjectName("revealBox")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(
            "#revealBox { background: palette(alternate-base); border: 1px solid #d9a400;"
            " border-radius: 4px; }"
        )
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.countdown = QLabel()
        self.field = QLineEdit()
        self.field.setObjectName("revealedValue")
        self.field.setReadOnly(True)
        self.field.setAccessibleName("Revealed value")
        self.field.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the value; the clipboard is cleared when the value hides")
        self.copy_button.setAccessibleName("Copy the revealed value")
        self.copy_button.clicked.connect(self.copy)
        self.hide_button = QPushButton("Hide")
        self.hide_button.setAccessibleName("Hide the revealed value")
        self.hide_button.clicked.connect(self.hide_value)

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.countdown)
        row = QHBoxLayout()
        row.addWidget(self.field, 1)
        row.addWidget(self.copy_button)
        row.addWidget(self.hide_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addLayout(top)
        layout.addLayout(row)

        self._value: SecretValue | None = None
        self._copied = False
        self._left = 0
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick)
        self.setVisible(False)

    @property
    def showing(self) -> bool:
        """Whether a value is on screen."""
        return self._value is not None

    @property
    def ticking(self) -> bool:
        """Whether the countdown timer runs (only while a value is shown)."""
        return self._tick.isActive()

    def show_value(self, label: str, value: SecretValue) -> None:
        """Show `value` for `seconds`; replaces any value shown before."""
        self.hide_value()
        self._value = value
        self._copied = False
        self.title.setText(f"<b>Value of {_escape(label)}</b> — shown here only; every reveal is audited.")
        self.field.setText(value.reveal())
        self.field.setCursorPosition(0)
        self._left = self.seconds
        self._update_countdown()
        self._tick.start()
        self.setVisible(True)

    def copy(self) -> None:
        """Put the value on the clipboard, marked as a password."""
        if self._value is None:
            return
        data = QMimeData()
        data.setText(self._value.reveal())
        data.setData(PASSWORD_HINT_MIME, b"secret")
        QGuiApplication.clipboard().setMimeData(data)
        self._copied = True
        self.copy_button.setText("Copied")

    def hide_value(self) -> None:
        """Forget the value; clear the clipboard if it still holds it."""
        if self._value is None:
            return
        self._tick.stop()
        clipboard = QGuiApplication.clipboard()
        if self._copied and clipboard.text() == self._value.reveal():
            clipboard.clear()
        self._value = None
        self._copied = False
        self.field.clear()
        self.copy_button.setText("Copy")
        self.setVisible(False)
        self.hidden_again.emit()

    def _on_tick(self) -> None:
        self._left -= 1
        if self._left <= 0:
            self.hide_value()
        else:
            self._update_countdown()

    def _update_countdown(self) -> None:
        self.countdown.setText(f"hides in {self._left} s")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
