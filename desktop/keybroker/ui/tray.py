# SPDX-License-Identifier: Apache-2.0
"""The tray icon: the app's state as an icon and tooltip, the menu, and clicks.

A left click (or a click on a notice) brings the waiting prompt forward, else opens the settings. The
icon changes only when the state does; nothing here runs on a timer.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from keybroker.ui.app_state import Status, icon_state, tooltip
from keybroker.ui.icon_art import IconState
from keybroker.ui.icons import state_icon
from keybroker.ui.tray_menu import TrayBackend, build_menu


class Tray(QObject):
    """Owns the QSystemTrayIcon and its menu."""

    def __init__(self, backend: TrayBackend, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.menu.setObjectName("trayMenu")
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        self.icon.messageClicked.connect(self._on_message_clicked)
        self.shown_state: IconState | None = None
        build_menu(self.menu, backend)  # StatusNotifier hosts read the menu before opening it

    @staticmethod
    def available() -> bool:
        """Whether the desktop has a tray to show an icon in."""
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        """Put the icon in the tray."""
        self.icon.show()

    def hide(self) -> None:
        """Take the icon out of the tray (quitting)."""
        self.icon.hide()

    def is_visible(self) -> bool:
        """Whether the icon is in the tray."""
        return self.icon.isVisible()

    def update_status(self, status: Status) -> None:
        """Icon and tooltip for `status`; the menu follows on its next opening."""
        state = icon_state(status.state, status.pending, vault_trouble=status.vault_trouble is not None)
        if state is not self.shown_state:
            self.icon.setIcon(state_icon(state))
            self.shown_state = state
        self.icon.setToolTip(tooltip(status))
        if self.menu.isVisible():
            self.rebuild_menu()

    def rebuild_menu(self) -> None:
        """Refill the menu from the app's state (on every opening)."""
        build_menu(self.menu, self._backend)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self._primary()

    def _on_message_clicked(self) -> None:
        self._primary()

    def _primary(self) -> None:
        pending = self._backend.pending_prompts()
        if pending:
            self._backend.raise_prompt(pending[0].prompt_id)
        else:
            self._backend.show_settings(None)

    def dispose(self) -> None:
        """Hide the icon and free the menu."""
        self.icon.hide()
        self.menu.deleteLater()
