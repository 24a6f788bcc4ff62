# SPDX-License-Identifier: Apache-2.0
"""`QtNotifier`: the app's `Notifier`. A tray balloon when there is a tray, else a desktop notification.

Without a tray (GNOME without the AppIndicator extension, say) the message goes to the freedesktop
notification service over D-Bus (jeepney, which keyring's Secret Service backend already brings), on a
short-lived thread so `notify` never blocks the UI. Where neither exists the notice is only logged.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Protocol

from PySide6.QtWidgets import QSystemTrayIcon

from keybroker.ui.prompt_text import shown

log = logging.getLogger("keybroker.ui")

MESSAGE_MS = 8000
_APP_NAME = "Keybroker"


class _Tray(Protocol):
    def isVisible(self) -> bool: ...
    def showMessage(self, title: str, msg: str, icon: QSystemTrayIcon.MessageIcon, msecs: int) -> None: ...


class QtNotifier:
    """Tells the user something without asking; never blocks, never raises."""

    def __init__(self, tray: _Tray | None = None, *, desktop_fallback: bool = True) -> None:
        self.tray = tray
        self.desktop_fallback = desktop_fallback and sys.platform.startswith("linux")

    def __repr__(self) -> str:
        return f"QtNotifier(tray={self.tray is not None})"

    def notify(self, title: str, body: str) -> None:
        """Show a short notice."""
        title, body = shown(title, 120), shown(body, 400)
        log.info("notice: %s: %s", title, body)
        tray = self.tray
        if tray is not None and tray.isVisible() and QSystemTrayIcon.supportsMessages():
            tray.showMessage(title, body, QSystemTrayIcon.MessageIcon.Information, MESSAGE_MS)
            return
        if self.desktop_fallback:
            threading.Thread(
                target=_desktop_notify, args=(title, body), name="keybroker-notify", daemon=True
            ).start()


def _desktop_notify(title: str, body: str) -> None:
    """org.freedesktop.Notifications.Notify on the session bus; failures are only logged."""
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        address = DBusAddress(
            "/org/freedesktop/Notifications",
            bus_name="org.freedesktop.Notifications",
            interface="org.freedesktop.Notifications",
        )
        message = new_method_call(
            address,
            "Notify",
            "susssasa{sv}i",
            (_APP_NAME, 0, "dialog-password", title, body, [], {}, MESSAGE_MS),
        )
        with open_dbus_connection(bus="SESSION") as connection:
            connection.send_and_get_reply(message, timeout=3)
    except Exception as exc:  # no bus, no notification service: the log line above is all we have
        log.debug("no desktop notification (%s)", type(exc).__name__)
