# SPDX-License-Identifier: Apache-2.0
"""The tray's sign-in seam (core/broker/sign_in_prompts.py): "sign in?" and the device code.

- `SignInDialog`: "<agent> wants you to sign in at <host>" with the reason, Open browser / Deny. The
  browser opens only after Open browser (core/auth/signins.py opens it); Deny, Esc or closing the
  window declines, and so does the sign-in's deadline (the dialog is withdrawn).
- `DeviceCodeDialog`: RFC 8628's code, large and selectable, and the page to type it at, with Copy
  (the code to the clipboard) and Open (the page, with the code filled in where the server offers
  `verification_uri_complete`) and Cancel. It stays until the sign-in ends (the caller cancels) or
  the user cancels.
- `QtSignInPrompter`: opens them with `open()` (never `exec()`: qasync) and awaits `finished`.
Agent names, hosts and URLs come from cards and servers: shown as plain text on one line.
"""

from __future__ import annotations

import asyncio
import webbrowser
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from keybroker.core.broker.sign_in_prompts import DeviceCodeNotice, SignInAsk
from keybroker.core.safe_text import one_line

__all__ = ["DeviceCodeDialog", "QtSignInPrompter", "SignInDialog"]


def _plain(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


class SignInDialog(QDialog):
    """Asks before the browser opens for an agent's sign-in (module docstring)."""

    def __init__(self, ask: SignInAsk, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        agent, host = one_line(ask.agent_name, 80), one_line(ask.host, 200)
        self.setWindowTitle("Keybroker: sign in")
        self.setMinimumWidth(460)  # the headline and the detail read as lines, not a narrow column
        layout = QVBoxLayout(self)
        self.headline = _plain(f"{agent} wants you to sign in at {host}")
        font = self.headline.font()
        font.setBold(True)
        self.headline.setFont(font)
        layout.addWidget(self.headline)
        if ask.agent_client:  # Agent Stack's OAuth extension: the agent is the OAuth client
            detail = (
                f"Agent {one_line(ask.agent_slug, 80)} signs you in itself and keeps the tokens"
                " (Agent Stack OAuth extension). Your browser opens at the sign-in page; Keybroker"
                " hands the answer back to the agent."
            )
        else:
            detail = f"Scheme {one_line(ask.scheme, 80)} of agent {one_line(ask.agent_slug, 80)}."
            if ask.reason:
                detail += f" Why now: {one_line(ask.reason, 200)}."
            detail += " Your browser opens at the sign-in page; Keybroker keeps the tokens in the vault."
        layout.addWidget(_plain(detail))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.deny_button = QPushButton("Deny")
        self.open_button = QPushButton("Open browser" if ask.flow == "code" else "Continue")
        self.open_button.setDefault(True)
        self.deny_button.clicked.connect(self.reject)
        self.open_button.clicked.connect(self.accept)
        buttons.addWidget(self.deny_button)
        buttons.addWidget(self.open_button)
        layout.addLayout(buttons)


class DeviceCodeDialog(QDialog):
    """Shows a device code with Copy and Open (module docstring)."""

    def __init__(
        self,
        notice: DeviceCodeNotice,
        *,
        open_url: Callable[[str], object] = webbrowser.open,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._notice = notice
        self._open_url = open_url
        self.setWindowTitle("Keybroker: sign in on another device")
        layout = QVBoxLayout(self)
        layout.addWidget(_plain(f"To sign in to {one_line(notice.agent_name, 80)}, visit"))
        self.url_label = _plain(one_line(notice.verification_uri, 2000))
        self.url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.url_label)
        layout.addWidget(_plain("and enter this code:"))
        self.code_label = QLabel(one_line(notice.user_code, 40))
        self.code_label.setTextFormat(Qt.TextFormat.PlainText)
        self.code_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = QFont(self.code_label.font())
        font.setPointSizeF(font.pointSizeF() * 2)
        font.setBold(True)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.code_label.setFont(font)
        self.code_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.code_label)
        self.status = _plain("Waiting for the sign-in to be approved…")
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        self.copy_button = QPushButton("Copy code")
        self.open_button = QPushButton("Open page")
        self.cancel_button = QPushButton("Cancel")
        self.copy_button.clicked.connect(self.copy_code)
        self.open_button.clicked.connect(self.open_page)
        self.cancel_button.clicked.connect(self.reject)
        for button in (self.copy_button, self.open_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)

    def copy_code(self) -> None:
        """Put the user code on the clipboard."""
        QGuiApplication.clipboard().setText(self._notice.user_code)
        self.status.setText("Code copied. Waiting for the sign-in to be approved…")

    def open_page(self) -> None:
        """Open the verification page (the code filled in where the server offers it)."""
        self._open_url(self._notice.verification_uri_complete or self._notice.verification_uri)


class QtSignInPrompter:
    """The tray's `SignInPrompter` (module docstring)."""

    def __init__(self, *, open_url: Callable[[str], object] = webbrowser.open) -> None:
        self._open_url = open_url
        #: the dialog on screen (tests and the screenshot driver read it)
        self.current: QDialog | None = None

    async def confirm_sign_in(self, ask: SignInAsk) -> bool:
        """True when the user chose Open browser."""
        return await self._run(SignInDialog(ask)) == QDialog.DialogCode.Accepted

    async def show_device_code(self, notice: DeviceCodeNotice) -> None:
        """Show the code until cancelled (the sign-in ended) or the user cancels."""
        await self._run(DeviceCodeDialog(notice, open_url=self._open_url))

    async def _run(self, dialog: QDialog) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def finished(result: int) -> None:
            if not future.done():
                future.set_result(int(result))

        dialog.finished.connect(finished)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.current = dialog
        dialog.open()
        dialog.raise_()
        dialog.activateWindow()
        try:
            return await future
        finally:
            self.current = None
            # Withdrawn (the sign-in ended or timed out): awaiting it cancelled the future.
            if (future.cancelled() or not future.done()) and shiboken6.isValid(dialog):
                dialog.reject()
