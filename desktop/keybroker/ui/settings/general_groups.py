# SPDX-License-Identifier: Apache-2.0
"""Two parts of the General tab with behaviour of their own: start at login, and the API token."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from keybroker.core.errors import KeybrokerError
from keybroker.core.models import SecretValue
from keybroker.system.autostart import Autostart, AutostartError
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.reveal_box import PASSWORD_HINT_MIME
from keybroker.ui.settings.status_line import WARN_COLOR, StatusLine
from keybroker.ui.settings.table import HINT_COLOR


def note_label(text: str = "", *, warning: bool = False) -> QLabel:
    """A wrapped grey explanation (or an orange warning)."""
    label = QLabel(text)
    label.setWordWrap(True)
    palette = label.palette()
    palette.setColor(label.foregroundRole(), WARN_COLOR if warning else HINT_COLOR)
    label.setPalette(palette)
    return label


@contextlib.contextmanager
def blocked(*widgets: QWidget) -> Iterator[None]:
    """Set values without firing change handlers."""
    for w in widgets:
        w.blockSignals(True)
    try:
        yield
    finally:
        for w in widgets:
            w.blockSignals(False)


class StartupGroup(QGroupBox):
    """ "Start Keybroker when I log in": writes or removes this user's login entry at once."""

    def __init__(
        self, autostart: Autostart | None, status: StatusLine, parent: QWidget | None = None
    ) -> None:
        super().__init__("Start-up", parent)
        self._autostart = autostart
        self._status = status
        self.checkbox = QCheckBox("Start Keybroker when I log in")
        self.checkbox.setObjectName("startAtLogin")
        self.checkbox.toggled.connect(self.set_enabled)
        self.note = note_label()
        self.update_button = QPushButton("Update the entry")
        self.update_button.setObjectName("updateAutostart")
        self.update_button.setVisible(False)
        self.update_button.clicked.connect(lambda: self.set_enabled(True))
        row = QHBoxLayout()
        row.addWidget(self.checkbox)
        row.addStretch(1)
        row.addWidget(self.update_button)
        rows = QVBoxLayout(self)
        rows.setSpacing(6)
        rows.addLayout(row)
        rows.addWidget(self.note)

    def refresh(self) -> None:
        """Show whether the entry exists, where, and whether it starts this copy of Keybroker."""
        if self._autostart is None:
            self.checkbox.setEnabled(False)
            self.note.setText("Starting at login is not available here.")
            return
        try:
            enabled = self._autostart.is_enabled()
        except AutostartError as exc:
            with blocked(self.checkbox):
                self.checkbox.setChecked(False)
            self.update_button.setVisible(False)
            self.note.setText(str(exc))
            return
        with blocked(self.checkbox):
            self.checkbox.setChecked(enabled)
        stale = enabled and not self._autostart.is_current()
        self.update_button.setVisible(stale)
        where = self._autostart.location
        if stale:
            self.note.setText(
                f"The entry at {where} starts another copy or location of Keybroker; "
                "“Update the entry” points it at this one."
            )
        elif enabled:
            self.note.setText(f"Starts quietly in the tray at login (entry: {where}).")
        else:
            self.note.setText(f"Ticking this writes {where}; unticking removes it.")

    def set_enabled(self, enabled: bool) -> None:
        """Write (or remove) the entry now; a failure is shown and the box shows the truth again."""
        if self._autostart is None:
            return
        try:
            self._autostart.set_enabled(enabled)
        except (KeybrokerError, OSError) as exc:
            self._status.error(f"Could not {'write' if enabled else 'remove'} the login entry: {exc}")
        else:
            self._status.ok(
                "Keybroker starts at login." if enabled else "Keybroker no longer starts at login."
            )
        self.refresh()


class TokenGroup(QGroupBox):
    """The API token: hidden until asked for, read from the vault off the UI thread, copyable."""

    def __init__(self, ctx: TabContext, status: StatusLine, parent: QWidget | None = None) -> None:
        super().__init__("API token", parent)
        self._ctx = ctx
        self._status = status
        self._token: SecretValue | None = None
        self.edit = QLineEdit()
        self.edit.setObjectName("apiToken")
        self.edit.setAccessibleName("API token")
        self.edit.setReadOnly(True)
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setPlaceholderText("•••••••••••••••• (hidden)")
        self.edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.show_button = QPushButton("Show")
        self.show_button.setObjectName("showToken")
        self.show_button.setAccessibleName("Show the API token")
        self.show_button.setCheckable(True)
        self.show_button.toggled.connect(self._on_show)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setObjectName("copyToken")
        self.copy_button.setAccessibleName("Copy the API token")
        self.copy_button.clicked.connect(self.copy)
        row = QHBoxLayout()
        row.addWidget(self.edit, 1)
        row.addWidget(self.show_button)
        row.addWidget(self.copy_button)
        rows = QVBoxLayout(self)
        rows.setSpacing(6)
        rows.addLayout(row)
        rows.addWidget(
            note_label(
                "Scripts and keybroker commands present it to the management API and the Agent Protocol "
                "secrets API. “keybroker token --rotate” replaces it."
            )
        )

    def conceal(self) -> None:
        """Hide the token and forget it."""
        self.show_button.setChecked(False)
        self.edit.clear()
        self._token = None

    def copy(self) -> None:
        """Copy the token (marked as a password for clipboard managers) without showing it."""

        def copy(token: SecretValue) -> None:
            data = QMimeData()
            data.setText(token.reveal())
            data.setData(PASSWORD_HINT_MIME, b"secret")
            QGuiApplication.clipboard().setMimeData(data)
            if not self.show_button.isChecked():
                self._token = None
            self._status.ok("Copied the API token.")

        self._read(copy)

    def _read(self, then: Callable[[SecretValue], None]) -> None:
        if self._token is not None:
            then(self._token)
            return
        runtime = self._ctx.runtime
        self._status.busy("Reading the API token from the vault…")

        def done(token: SecretValue) -> None:
            self._status.clear()
            self._token = token
            then(token)

        def failed(exc: BaseException) -> None:
            self.show_button.setChecked(False)
            self._status.failed(exc)

        self._ctx.jobs.submit(runtime.api_token, on_done=done, on_error=failed)

    def _on_show(self, shown: bool) -> None:
        self.show_button.setText("Hide" if shown else "Show")
        if shown:
            self._read(self._show)
        else:
            self.edit.clear()
            self.edit.setEchoMode(QLineEdit.EchoMode.Password)
            self._token = None

    def _show(self, token: SecretValue) -> None:
        if self.show_button.isChecked():
            self.edit.setEchoMode(QLineEdit.EchoMode.Normal)
            self.edit.setText(token.reveal())
            self.edit.setCursorPosition(0)
