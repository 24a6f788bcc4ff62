# SPDX-License-Identifier: Apache-2.0
"""The Sign-ins tab's dialogs, and how a worker's sign-in shows a device code on the UI thread.

- `ClientDialog`: Set client: the client id, and a secret for a confidential client or "public"
  (then no secret), with the loopback redirect URI it is registered with if the server needs one.
  The secret is a `SecretValue` from the moment it leaves the field, which is cleared on close.
- `CertificateDialog`: Import certificate: a PEM certificate (its key in a second file or the same
  one), or a PKCS#12 file with its password; optionally the agent's CA to pin. The files are read by
  the core on a worker (core/auth/sign_in_admin.py), the key goes to the vault only.
- `DeviceCodeRelay`: the `SignInPrompter` a worker's sign-in uses: shows ui/sign_in_dialogs.py's
  `DeviceCodeDialog` on the UI thread (queued signals) until the sign-in ends or the user cancels.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from keybroker.core.admin.sign_ins import CertificateFiles
from keybroker.core.broker.sign_in_prompts import DeviceCodeNotice, SignInAsk
from keybroker.core.models import SecretValue
from keybroker.core.safe_text import one_line
from keybroker.ui.sign_in_dialogs import DeviceCodeDialog


@dataclass(frozen=True, slots=True)
class ClientEntry:
    """What Set client asks for."""

    client_id: str
    secret: SecretValue | None  # None: a public client
    redirect_uri: str | None


def _buttons(dialog: QDialog, ok: str) -> QDialogButtonBox:
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    box.button(QDialogButtonBox.StandardButton.Ok).setText(ok)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


class ClientDialog(QDialog):
    """Set client (module docstring); `entered` after OK."""

    def __init__(self, agent: str, scheme: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set client")
        self.entered: ClientEntry | None = None
        form = QFormLayout(self)
        head = QLabel(
            f"The OAuth client Keybroker uses for scheme {one_line(scheme, 80)} of {one_line(agent, 80)}."
        )
        head.setTextFormat(Qt.TextFormat.PlainText)
        head.setWordWrap(True)
        form.addRow(head)
        self.client_id = QLineEdit()
        self.public = QCheckBox("Public client (no secret)")
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret.setPlaceholderText("the client secret (kept in the vault only)")
        self.redirect_uri = QLineEdit()
        self.redirect_uri.setPlaceholderText("optional: http://127.0.0.1:PORT/PATH it is registered with")
        self.public.toggled.connect(lambda on: self.secret.setEnabled(not on))
        form.addRow("Client id", self.client_id)
        form.addRow("", self.public)
        form.addRow("Client secret", self.secret)
        form.addRow("Redirect URI", self.redirect_uri)
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        form.addRow(self.error)
        self.buttons = _buttons(self, "Set client")
        form.addRow(self.buttons)

    def accept(self) -> None:
        """Check the entry; the secret leaves the field as a `SecretValue`."""
        client_id = self.client_id.text().strip()
        secret = self.secret.text()
        if not client_id:
            self.error.setText("Enter the client id.")
            return
        if not self.public.isChecked() and not secret:
            self.error.setText("Enter the client secret, or tick Public client.")
            return
        redirect = self.redirect_uri.text().strip() or None
        self.entered = ClientEntry(
            client_id, None if self.public.isChecked() else SecretValue(secret), redirect
        )
        self.secret.clear()
        super().accept()

    def reject(self) -> None:
        """Cancel; the typed secret is dropped."""
        self.secret.clear()
        super().reject()


class CertificateDialog(QDialog):
    """Import certificate (module docstring); `entered` after OK."""

    def __init__(self, agent: str, scheme: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import certificate")
        self.entered: CertificateFiles | None = None
        form = QFormLayout(self)
        head = QLabel(
            f"The client certificate for scheme {one_line(scheme, 80)} of {one_line(agent, 80)}: a PEM "
            "certificate with its key (in a second file or the same one), or a PKCS#12 file."
        )
        head.setTextFormat(Qt.TextFormat.PlainText)
        head.setWordWrap(True)
        form.addRow(head)
        self.cert = self._file_row(form, "Certificate (PEM)", "PEM files (*.pem *.crt *.cer);;All files (*)")
        self.key = self._file_row(form, "Private key (PEM)", "PEM files (*.pem *.key);;All files (*)")
        self.p12 = self._file_row(form, "or PKCS#12", "PKCS#12 files (*.p12 *.pfx);;All files (*)")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("the PKCS#12 or key password, if any")
        form.addRow("Password", self.password)
        self.ca = self._file_row(form, "Pin CA (optional)", "PEM files (*.pem *.crt);;All files (*)")
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        form.addRow(self.error)
        self.buttons = _buttons(self, "Import")
        form.addRow(self.buttons)

    def _file_row(self, form: QFormLayout, label: str, filters: str) -> QLineEdit:
        edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(edit, label, filters))
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        form.addRow(label, row)
        return edit

    def _browse(self, edit: QLineEdit, title: str, filters: str) -> None:
        dialog = QFileDialog(self, title)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilter(filters)
        dialog.fileSelected.connect(lambda path: edit.setText(path) if path else None)
        dialog.open()

    def accept(self) -> None:
        """Check which files were named (the core reads and checks them)."""

        def path(edit: QLineEdit) -> Path | None:
            text = edit.text().strip()
            return Path(text).expanduser() if text else None

        cert, key, p12 = path(self.cert), path(self.key), path(self.p12)
        if (cert is None) == (p12 is None):
            self.error.setText("Choose a PEM certificate or a PKCS#12 file (one of them).")
            return
        if p12 is not None and key is not None:
            self.error.setText("A PKCS#12 file holds its key: leave Private key empty.")
            return
        password = SecretValue(self.password.text()) if self.password.text() else None
        self.entered = CertificateFiles(cert=cert, key=key, p12=p12, password=password, ca=path(self.ca))
        self.password.clear()
        super().accept()

    def reject(self) -> None:
        """Cancel; the typed password is dropped."""
        self.password.clear()
        super().reject()


class DeviceCodeRelay(QObject):
    """A `SignInPrompter` for sign-ins run on a worker thread (module docstring)."""

    _show = Signal(object, object)
    _withdraw = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._window = parent
        #: the device-code dialog on screen (tests read it)
        self.current: DeviceCodeDialog | None = None
        self._show.connect(self._open)
        self._withdraw.connect(self._close)

    async def confirm_sign_in(self, ask: SignInAsk) -> bool:
        """The user pressed Sign in: asked already."""
        return True

    async def show_device_code(self, notice: DeviceCodeNotice) -> None:
        """On the worker's loop: show the dialog on the UI thread until cancelled or closed."""
        loop = asyncio.get_running_loop()
        closed = asyncio.Event()

        def done() -> None:
            with contextlib.suppress(RuntimeError):  # the worker's loop has ended already
                loop.call_soon_threadsafe(closed.set)

        self._show.emit(notice, done)
        try:
            await closed.wait()
        finally:
            self._withdraw.emit()

    def _open(self, notice: DeviceCodeNotice, done: Callable[[], None]) -> None:
        dialog = DeviceCodeDialog(notice, parent=self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _result: done())
        self.current = dialog
        dialog.open()

    def _close(self) -> None:
        dialog, self.current = self.current, None
        if dialog is not None and shiboken6.isValid(dialog):
            dialog.reject()
