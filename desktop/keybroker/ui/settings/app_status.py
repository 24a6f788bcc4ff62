# SPDX-License-Identifier: Apache-2.0
"""The settings window's bottom line: the app's state as the tray shows it (icon and words), and the
vault. It follows `AppEvents.state_changed` and `prompts_changed`, so a lock, a pause or a vault that
goes away shows here at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

from keybroker.ui.app_state import AppState, Status, icon_state, status_line, vault_text
from keybroker.ui.icons import state_icon
from keybroker.ui.settings.table import HINT_COLOR


def app_state_of(value: str) -> AppState:
    """The `AppState` an `AppEvents.state_changed` value names; ValueError for anything else."""
    try:
        return AppState(value)
    except ValueError:
        names = ", ".join(s.value for s in AppState)
        raise ValueError(f"unknown app state {value!r}; expected one of {names}") from None


class AppStatusLine(QFrame):
    """`[icon] Ready on http://127.0.0.1:7411            OS vault: SecretService`."""

    def __init__(self, read_status: Callable[[], dict[str, Any]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("appStatus")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._read_status = read_status
        initial = read_status()
        self.state = AppState.READY if initial.get("running") else AppState.STARTING
        self.pending = int(initial.get("pending_prompts") or 0)
        self.icon = QLabel()
        self.icon.setObjectName("appStateIcon")
        self.icon.setFixedSize(18, 18)
        self.label = QLabel()
        self.label.setObjectName("appStateText")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.vault = QLabel()
        self.vault.setObjectName("appVault")
        self.vault.setTextFormat(Qt.TextFormat.PlainText)
        self.vault.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        palette = self.vault.palette()
        palette.setColor(self.vault.foregroundRole(), HINT_COLOR)
        self.vault.setPalette(palette)
        row = QHBoxLayout(self)
        row.setContentsMargins(2, 0, 2, 0)
        row.setSpacing(6)
        row.addWidget(self.icon)
        row.addWidget(self.label, 1)
        row.addWidget(self.vault)
        self.update_view()

    @property
    def text(self) -> str:
        """The state as the line says it."""
        return self.label.text()

    def set_state(self, value: str) -> None:
        """The app's state changed (an `AppEvents.state_changed` value)."""
        self.state = app_state_of(value)
        self.update_view()

    def set_pending(self, count: int) -> None:
        """The number of waiting prompts changed."""
        self.pending = max(0, count)
        self.update_view()

    def update_view(self) -> None:
        """Re-read the URL and the vault, and say the state."""
        info = self._read_status()
        url = info.get("url")
        status = Status(self.state, url=url if isinstance(url, str) else None, pending=self.pending)
        self.icon.setPixmap(state_icon(icon_state(status.state, status.pending)).pixmap(18, 18))
        self.label.setText(status_line(status))
        self.label.setToolTip(f"Keybroker is {self.state.value.replace('-', ' ')}")
        vault = vault_text(info.get("vault") if isinstance(info.get("vault"), str) else None)
        self.vault.setText(vault)
        self.vault.setToolTip(str(info.get("vault") or ""))
        self.vault.setVisible(bool(vault))
