# SPDX-License-Identifier: Apache-2.0
"""Windows: the session locks or the machine suspends -> `on_lock(reason)`.

A hidden top-level Qt window (never shown) is registered with `WTSRegisterSessionNotification(hwnd,
NOTIFY_FOR_THIS_SESSION)`, so Windows sends it `WM_WTSSESSION_CHANGE`; being top-level it also gets the
`WM_POWERBROADCAST` that Windows sends to every top-level window (a message-only window would not).
A `QAbstractNativeEventFilter` on the application reads those two from the `MSG` that Qt passes:
`WTS_SESSION_LOCK` -> "screen-lock", `PBT_APMSUSPEND` -> "sleep". It never consumes a message.

The OS calls sit behind `SessionNotifications` (`Wtsapi32` is the real one) and nothing Windows-only is
imported at module level, so every branch here is tested on Linux with a fake library and real `MSG`
structs in memory.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Callable
from typing import Any, Protocol, SupportsInt

from PySide6.QtCore import QAbstractNativeEventFilter, QByteArray, QCoreApplication
from PySide6.QtGui import QGuiApplication, QWindow

log = logging.getLogger("keybroker.ui")

WM_WTSSESSION_CHANGE = 0x02B1
WTS_SESSION_LOCK = 0x7
WM_POWERBROADCAST = 0x0218
PBT_APMSUSPEND = 0x4
NOTIFY_FOR_THIS_SESSION = 0
#: What Qt names a message sent to one of its windows. Qt's event dispatcher may also show a posted
#: message as "windows_dispatcher_MSG" before it reaches the window: only this one is read, so one
#: message is one lock.
WINDOWS_MSG = b"windows_generic_MSG"

#: (message, wParam) -> `locked` reason (the reasons are those of `screen_lock`).
REASONS = {
    (WM_WTSSESSION_CHANGE, WTS_SESSION_LOCK): "screen-lock",
    (WM_POWERBROADCAST, PBT_APMSUSPEND): "sleep",
}


class MSG(ctypes.Structure):
    """The head of Win32's `MSG` (winuser.h): only these fields are read, so the rest is left out.
    HWND is a pointer, UINT 32 bits, WPARAM and LPARAM pointer-sized (unsigned and signed)."""

    _fields_ = [
        ("hwnd", ctypes.c_void_p),
        ("message", ctypes.c_uint32),
        ("wParam", ctypes.c_size_t),
        ("lParam", ctypes.c_ssize_t),
    ]


def reason_for(message: int, wparam: int) -> str | None:
    """The lock reason of a window message, or None for every other message."""
    return REASONS.get((message, wparam))


def message_address(message: object) -> int | None:
    """The address in a native event: PySide6 6.11 passes a `shiboken6.VoidPtr` (its stub says int),
    other versions and bindings an int or `sip.voidptr`; all of them convert with int()."""
    if isinstance(message, SupportsInt):
        address = int(message)
        return address or None
    return None


class SessionNotifications(Protocol):
    """WTS session notifications for one window (`Wtsapi32`; fakes in tests)."""

    def register(self, hwnd: int) -> None:
        """Ask for `WM_WTSSESSION_CHANGE` on `hwnd`; OSError when Windows refuses."""
        ...

    def unregister(self, hwnd: int) -> None:
        """Stop them (before the window goes)."""
        ...


def _last_error() -> int:
    if sys.platform == "win32":
        return ctypes.get_last_error()
    return 0


class Wtsapi32:
    """The real `SessionNotifications`, over wtsapi32.dll (or a stand-in library in tests)."""

    def __init__(self, lib: Any, last_error: Callable[[], int] = _last_error) -> None:
        lib.WTSRegisterSessionNotification.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.WTSRegisterSessionNotification.restype = ctypes.c_int
        lib.WTSUnRegisterSessionNotification.argtypes = [ctypes.c_void_p]
        lib.WTSUnRegisterSessionNotification.restype = ctypes.c_int
        self._lib = lib
        self._last_error = last_error

    def register(self, hwnd: int) -> None:
        if not self._lib.WTSRegisterSessionNotification(hwnd, NOTIFY_FOR_THIS_SESSION):
            raise OSError(f"WTSRegisterSessionNotification failed (Windows error {self._last_error()})")

    def unregister(self, hwnd: int) -> None:
        if not self._lib.WTSUnRegisterSessionNotification(hwnd):
            # Nothing to undo: the window is destroyed right after, which ends them anyway.
            log.debug("WTSUnRegisterSessionNotification failed (Windows error %d)", self._last_error())


def system_notifications() -> SessionNotifications:
    """wtsapi32.dll of this Windows; OSError elsewhere or when it does not load."""
    if sys.platform != "win32":
        raise OSError("wtsapi32.dll exists only on Windows")
    return Wtsapi32(ctypes.WinDLL("wtsapi32", use_last_error=True))


class SessionMessageFilter(QAbstractNativeEventFilter):
    """Reads the lock and suspend messages sent to one window; lets every message through."""

    def __init__(self, hwnd: int, on_lock: Callable[[str], None]) -> None:
        super().__init__()
        self.hwnd = hwnd
        self._on_lock = on_lock

    def nativeEventFilter(
        self, eventType: QByteArray | bytes | bytearray | memoryview, message: object
    ) -> tuple[bool, int]:
        # PySide6 reads (consumed, LRESULT) from the tuple; False lets Qt and Windows handle it as usual.
        not_consumed = (False, 0)
        name = eventType.data() if isinstance(eventType, QByteArray) else bytes(eventType)
        if name != WINDOWS_MSG:
            return not_consumed
        address = message_address(message)
        if address is None:
            return not_consumed
        msg = MSG.from_address(address)
        # A power broadcast reaches every top-level window of the app: only ours counts, once.
        if msg.hwnd != self.hwnd:
            return not_consumed
        reason = reason_for(msg.message, msg.wParam)
        if reason is not None:
            self._on_lock(reason)
        return not_consumed


class WindowsLockWatch:
    """Session lock and suspend on Windows, from `start` to `stop`."""

    def __init__(
        self,
        on_lock: Callable[[str], None],
        *,
        notifications: Callable[[], SessionNotifications] = system_notifications,
    ) -> None:
        self._on_lock = on_lock
        self._notifications = notifications
        self._api: SessionNotifications | None = None
        self._window: QWindow | None = None
        self._filter: SessionMessageFilter | None = None
        self._app: QCoreApplication | None = None

    @property
    def hwnd(self) -> int | None:
        """The hidden window's handle while watching."""
        return self._filter.hwnd if self._filter is not None else None

    def start(self) -> list[str]:
        """Register and install the filter; what is watched (nothing when Windows refuses)."""
        app = QCoreApplication.instance()
        if self._filter is not None or not isinstance(app, QGuiApplication):
            return self.watching()  # already, or no GUI application to own a window
        window = QWindow()
        hwnd = int(window.winId())  # creates the native window, hidden
        try:
            api = self._notifications()
            api.register(hwnd)
        except (OSError, AttributeError, ctypes.ArgumentError) as exc:
            # a missing DLL or function, a refusal: idle lock still works, the app goes on
            log.warning("lock on screen lock: WTS session notifications unavailable (%s)", exc)
            window.destroy()
            return []
        self._api, self._window, self._app = api, window, app
        self._filter = SessionMessageFilter(hwnd, self._on_lock)
        app.installNativeEventFilter(self._filter)
        return self.watching()

    def watching(self) -> list[str]:
        """What is watched now."""
        if self._filter is None:
            return []
        return ["WTS session lock (WM_WTSSESSION_CHANGE)", "suspend (WM_POWERBROADCAST)"]

    def stop(self) -> None:
        """Remove the filter, unregister, then destroy the window (in that order, as WTS asks)."""
        if self._app is not None and self._filter is not None:
            self._app.removeNativeEventFilter(self._filter)
        if self._api is not None and self._filter is not None:
            self._api.unregister(self._filter.hwnd)
        if self._window is not None:
            self._window.destroy()
        self._api = self._window = self._filter = self._app = None
