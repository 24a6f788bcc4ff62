# SPDX-License-Identifier: Apache-2.0
"""The screen locks or the machine goes to sleep -> `ScreenLockWatch.locked(reason)`.

Linux and other D-Bus desktops, signals only (nothing is polled):
- session bus: `org.freedesktop.ScreenSaver.ActiveChanged(true)` (KDE, XFCE, others; on any path, as
  KDE sends it on `/ScreenSaver` and `/org/freedesktop/ScreenSaver`) and
  `org.gnome.ScreenSaver.ActiveChanged(true)` (GNOME);
- system bus: logind's `Session.Lock` for our own session (`Manager.GetSession("auto")`: the session
  of our process, else the user's graphical one; then `XDG_SESSION_ID`) and `Manager.PrepareForSleep
  (true)` (suspend or hibernate).
Signals are accepted from any sender (an empty service name): the most a forged one can do is lock.
A bus that is missing (no session bus, no logind) is skipped with one debug line.

Windows (`screen_lock_windows`): WTS session notifications (`WM_WTSSESSION_CHANGE` with
`WTS_SESSION_LOCK`) and `WM_POWERBROADCAST` with `PBT_APMSUSPEND` (sleep or hibernate), read by a native
event filter from a hidden window's messages.
macOS (`screen_lock_macos`): the distributed notification `com.apple.screenIsLocked` through
CoreFoundation; sleep is not watched apart (it locks only when the screen locks with it).
Either one that cannot register (no such library, the OS refuses) is logged in one line and watches
nothing: the idle lock still works. `stop` ends them at the end of the app.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from PySide6.QtCore import SLOT, QObject, Signal, Slot
from PySide6.QtDBus import QDBus, QDBusConnection, QDBusMessage

from keybroker.ui import screen_lock_macos, screen_lock_windows

log = logging.getLogger("keybroker.ui")

#: `locked` reasons, used as the audit caller of the lock.
SCREEN_LOCK = "screen-lock"
SLEEP = "sleep"

LOGIND = "org.freedesktop.login1"
LOGIND_PATH = "/org/freedesktop/login1"
LOGIND_MANAGER = "org.freedesktop.login1.Manager"
LOGIND_SESSION = "org.freedesktop.login1.Session"
#: How long the one logind call at start may block.
LOGIND_TIMEOUT_MS = 1000

#: (interface, path) of the screensaver signals on the session bus; "" is any path.
SCREENSAVER_SIGNALS = (
    ("org.freedesktop.ScreenSaver", ""),
    ("org.gnome.ScreenSaver", "/org/gnome/ScreenSaver"),
)

#: GetSession(id) on logind -> the session's object path, or None.
SessionCall = Callable[[str], "str | None"]
BusFactory = Callable[[], QDBusConnection]


class NativeWatch(Protocol):
    """The Windows or macOS watch (`WindowsLockWatch`, `MacLockWatch`)."""

    def start(self) -> list[str]:
        """Register; what is watched (nothing when it cannot)."""
        ...

    def stop(self) -> None:
        """Unregister."""
        ...


def logind_session_path(get_session: SessionCall, environ: Mapping[str, str]) -> str | None:
    """Our session's logind object path: "auto" (our process's session, else the user's graphical
    one), then `XDG_SESSION_ID`; None when logind knows neither."""
    for session_id in dict.fromkeys(("auto", environ.get("XDG_SESSION_ID", ""))):
        if session_id:
            path = get_session(session_id)
            if path:
                return path
    return None


def _get_session_on(bus: QDBusConnection) -> SessionCall:
    def get_session(session_id: str) -> str | None:
        message = QDBusMessage.createMethodCall(LOGIND, LOGIND_PATH, LOGIND_MANAGER, "GetSession")
        message.setArguments([session_id])
        reply = bus.call(message, QDBus.CallMode.Block, LOGIND_TIMEOUT_MS)
        if reply.type() != QDBusMessage.MessageType.ReplyMessage or not reply.arguments():
            log.debug("logind GetSession(%r): %s", session_id, reply.errorMessage() or "no answer")
            return None
        path = reply.arguments()[0]
        text = path.path() if hasattr(path, "path") else path
        return text if isinstance(text, str) and text.startswith("/") else None

    return get_session


def _slot(signature: str) -> Any:
    """A receiver's slot for `QDBusConnection.connect`, as Qt's SLOT() macro spells it. (PySide6's stub
    asks for bytes, but only the str that SLOT() gives is accepted at run time.)"""
    return SLOT(signature)


def _has_owner(bus: QDBusConnection, name: str) -> bool:
    message = QDBusMessage.createMethodCall(
        "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner"
    )
    message.setArguments([name])
    reply = bus.call(message, QDBus.CallMode.Block, LOGIND_TIMEOUT_MS)
    args = reply.arguments() if reply.type() == QDBusMessage.MessageType.ReplyMessage else []
    return bool(args) and args[0] is True


def _first_arg_true(message: QDBusMessage) -> bool:
    args = message.arguments()
    return bool(args) and args[0] is True


class ScreenLockWatch(QObject):
    """Emits `locked(reason)` when the screen locks or the machine is about to sleep."""

    #: SCREEN_LOCK or SLEEP
    locked = Signal(str)

    def __init__(
        self,
        *,
        platform: str = sys.platform,
        environ: Mapping[str, str] | None = None,
        session_bus: BusFactory = QDBusConnection.sessionBus,
        system_bus: BusFactory = QDBusConnection.systemBus,
        get_session: SessionCall | None = None,
        windows_notifications: Callable[[], screen_lock_windows.SessionNotifications] | None = None,
        macos_center: Callable[[], screen_lock_macos.NotificationCenter] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._platform = platform
        self._environ = os.environ if environ is None else environ
        self._session_bus = session_bus
        self._system_bus = system_bus
        self._get_session = get_session
        self._windows_notifications = windows_notifications or screen_lock_windows.system_notifications
        self._macos_center = macos_center or screen_lock_macos.system_center
        self.native: NativeWatch | None = None
        """The Windows or macOS watch once started there (None elsewhere)."""
        self.watching: list[str] | None = None
        """What `start` connected to, for the log and tests (None before `start`)."""

    def start(self) -> list[str]:
        """Connect to what this desktop offers (once); returns what is watched."""
        if self.watching is not None:
            return self.watching
        self.watching = []
        if self._platform == "win32":
            self.native = screen_lock_windows.WindowsLockWatch(
                self._on_native, notifications=self._windows_notifications
            )
        elif self._platform == "darwin":
            self.native = screen_lock_macos.MacLockWatch(self._on_native, center=self._macos_center)
        if self.native is not None:
            self.watching = self.native.start()
            log.info("lock on screen lock: watching %s", ", ".join(self.watching) or "nothing")
            return self.watching
        self._watch_session_bus(self.watching)
        self._watch_logind(self.watching)
        log.info("lock on screen lock: watching %s", ", ".join(self.watching) or "nothing (no D-Bus)")
        return self.watching

    def stop(self) -> None:
        """Unregister the Windows or macOS notifications (at the end of the app). The D-Bus signal
        connections stay: they go with the connection when the process ends."""
        if self.native is not None:
            self.native.stop()
            self.watching = []

    def _on_native(self, reason: str) -> None:
        log.info("the %s: locking", "machine is going to sleep" if reason == SLEEP else "screen locked")
        self.locked.emit(reason)

    def _watch_session_bus(self, watching: list[str]) -> None:
        bus = self._session_bus()
        if not bus.isConnected():
            log.debug("no session bus: screensaver signals not watched (%s)", bus.lastError().message())
            return
        for interface, path in SCREENSAVER_SIGNALS:
            slot = _slot("_on_screensaver(QDBusMessage)")
            if bus.connect("", path, interface, "ActiveChanged", self, slot):
                watching.append(f"{interface}.ActiveChanged")

    def _watch_logind(self, watching: list[str]) -> None:
        bus = self._system_bus()
        if not bus.isConnected():
            log.debug("no system bus: logind lock and sleep not watched (%s)", bus.lastError().message())
            return
        if not _has_owner(bus, LOGIND):
            log.debug("no logind on the system bus: its lock and sleep signals are not watched")
            return
        get_session = self._get_session or _get_session_on(bus)
        path = logind_session_path(get_session, self._environ)
        if path is None:
            log.debug("logind does not know our session: its Lock signal is not watched")
        elif bus.connect("", path, LOGIND_SESSION, "Lock", self, _slot("_on_session_lock(QDBusMessage)")):
            watching.append(f"logind Session.Lock ({path})")
        sleep_slot = _slot("_on_prepare_for_sleep(QDBusMessage)")
        if bus.connect("", LOGIND_PATH, LOGIND_MANAGER, "PrepareForSleep", self, sleep_slot):
            watching.append("logind PrepareForSleep")

    @Slot(QDBusMessage)
    def _on_screensaver(self, message: QDBusMessage) -> None:
        if _first_arg_true(message):
            log.info("the screen locked (%s): locking", message.interface())
            self.locked.emit(SCREEN_LOCK)

    @Slot(QDBusMessage)
    def _on_session_lock(self, message: QDBusMessage) -> None:
        log.info("logind locked the session: locking")
        self.locked.emit(SCREEN_LOCK)

    @Slot(QDBusMessage)
    def _on_prepare_for_sleep(self, message: QDBusMessage) -> None:
        if _first_arg_true(message):
            log.info("the machine is going to sleep: locking")
            self.locked.emit(SLEEP)
