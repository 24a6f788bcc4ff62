# SPDX-License-Identifier: Apache-2.0
"""How long the user has been idle at the machine, from the system (not just from Keybroker).

Each source is a small object with a `name` and `idle_ms() -> int | None` (None: it cannot tell now).
`system_source(platform)` picks the first one that answers:

- Linux and other Unix desktops: GNOME's `org.gnome.Mutter.IdleMonitor.GetIdletime` (ms), then the
  `org.freedesktop.ScreenSaver.GetSessionIdleTime` of KDE and others (ms), both on the session bus;
  then X11's XScreenSaver extension (`libXss.so.1`, ms) when the session is X11 (under Wayland it would
  only see the input of X clients, so it is not used there);
- Windows: `GetLastInputInfo` against `GetTickCount` (ms, wrapping every 49.7 days);
- macOS: CoreGraphics' `CGEventSourceSecondsSinceLastEventType` (seconds, as a double).

None answers: the caller falls back to `AppActivity` (app_activity.py), the time since the user last
touched Keybroker.
Libraries and the D-Bus call are injectable, so every branch is tested on any OS.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

log = logging.getLogger("keybroker.ui")

#: (service, object path, interface, method) -> the reply's arguments, or None on any error.
DBusCall = Callable[[str, str, str, str], "Sequence[object] | None"]
#: Opens a shared library by name (`ctypes.CDLL`); raises OSError when it is missing.
LibraryLoader = Callable[[str], Any]

#: How long one idle-time D-Bus call may block the UI thread.
DBUS_TIMEOUT_MS = 500
MUTTER_IDLE = (
    "org.gnome.Mutter.IdleMonitor",
    "/org/gnome/Mutter/IdleMonitor/Core",
    "org.gnome.Mutter.IdleMonitor",
    "GetIdletime",
)
SCREENSAVER_IDLE = (
    "org.freedesktop.ScreenSaver",
    "/org/freedesktop/ScreenSaver",
    "org.freedesktop.ScreenSaver",
    "GetSessionIdleTime",
)
XLIB = "libX11.so.6"
XSS = "libXss.so.1"
COREGRAPHICS = "/System/Library/Frameworks/CoreGraphics.framework/CoreGraphics"
#: kCGEventSourceStateCombinedSessionState, kCGAnyInputEventType (~0)
_CG_COMBINED_SESSION_STATE = 0
_CG_ANY_INPUT_EVENT = 0xFFFFFFFF


class IdleSource(Protocol):
    """Something that knows how long the user has been idle."""

    @property
    def name(self) -> str:
        """For the log: where the idle time comes from."""
        ...

    def idle_ms(self) -> int | None:
        """Milliseconds since the user's last input, or None when it cannot tell now."""
        ...


class IdleSourceError(Exception):
    """A source cannot be used on this desktop (said in the debug log, never to the user)."""


def _whole_ms(value: object) -> int | None:
    """A reply's idle time as a non-negative int, or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


# D-Bus (GNOME, KDE and others) -------------------------------------------------------------------


class DBusIdle:
    """An idle time in ms from a D-Bus method without arguments."""

    def __init__(self, name: str, call: DBusCall, method: tuple[str, str, str, str]) -> None:
        self.name = name
        self._call = call
        self._method = method

    def idle_ms(self) -> int | None:
        reply = self._call(*self._method)
        return _whole_ms(reply[0]) if reply else None


def session_bus_call(service: str, path: str, interface: str, method: str) -> Sequence[object] | None:
    """Call `method` on the session bus (blocking, at most `DBUS_TIMEOUT_MS`); None on any error."""
    from PySide6.QtDBus import QDBus, QDBusConnection, QDBusMessage

    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return None
    message = QDBusMessage.createMethodCall(service, path, interface, method)
    message.setAutoStartService(False)  # never start a service only to ask it the time
    reply = bus.call(message, QDBus.CallMode.Block, DBUS_TIMEOUT_MS)
    if reply.type() != QDBusMessage.MessageType.ReplyMessage:
        return None
    return list(reply.arguments())


# X11 -----------------------------------------------------------------------------------------------


class _XScreenSaverInfo(ctypes.Structure):
    _fields_ = [
        ("window", ctypes.c_ulong),
        ("state", ctypes.c_int),
        ("kind", ctypes.c_int),
        ("til_or_since", ctypes.c_ulong),
        ("idle", ctypes.c_ulong),
        ("event_mask", ctypes.c_ulong),
    ]


class XssIdle:
    """X11's XScreenSaver extension, on a display connection of its own."""

    name = "X11 XScreenSaver extension"

    def __init__(self, xlib: Any, xss: Any, display: str | None = None) -> None:
        xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        xlib.XOpenDisplay.restype = ctypes.c_void_p
        xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        xlib.XDefaultRootWindow.restype = ctypes.c_ulong
        xss.XScreenSaverQueryExtension.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        xss.XScreenSaverQueryExtension.restype = ctypes.c_int
        xss.XScreenSaverAllocInfo.restype = ctypes.POINTER(_XScreenSaverInfo)
        xss.XScreenSaverQueryInfo.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.POINTER(_XScreenSaverInfo),
        ]
        xss.XScreenSaverQueryInfo.restype = ctypes.c_int
        self._xss = xss
        self._display = xlib.XOpenDisplay(display.encode() if display else None)
        if not self._display:
            raise IdleSourceError(f"cannot open the X display {display or '(default)'}")
        event_base, error_base = ctypes.c_int(), ctypes.c_int()
        if not xss.XScreenSaverQueryExtension(
            self._display, ctypes.byref(event_base), ctypes.byref(error_base)
        ):
            raise IdleSourceError("the X server has no MIT-SCREEN-SAVER extension")
        self._root = xlib.XDefaultRootWindow(self._display)
        self._info = xss.XScreenSaverAllocInfo()
        if not self._info:
            raise IdleSourceError("XScreenSaverAllocInfo failed")

    def idle_ms(self) -> int | None:
        if not self._xss.XScreenSaverQueryInfo(self._display, self._root, self._info):
            return None
        return _whole_ms(int(self._info.contents.idle))


# Windows -------------------------------------------------------------------------------------------


class _LastInputInfo(ctypes.Structure):
    _fields_ = [("cbSize", ctypes.c_uint32), ("dwTime", ctypes.c_uint32)]


class WindowsIdle:
    """`GetLastInputInfo` (tick of the last input in this session) against `GetTickCount`."""

    name = "Windows GetLastInputInfo"

    def __init__(self, user32: Any, kernel32: Any) -> None:
        user32.GetLastInputInfo.argtypes = [ctypes.POINTER(_LastInputInfo)]
        user32.GetLastInputInfo.restype = ctypes.c_int
        kernel32.GetTickCount.argtypes = []
        kernel32.GetTickCount.restype = ctypes.c_uint32
        self._user32 = user32
        self._kernel32 = kernel32

    def idle_ms(self) -> int | None:
        info = _LastInputInfo(ctypes.sizeof(_LastInputInfo), 0)
        if not self._user32.GetLastInputInfo(ctypes.byref(info)):
            return None
        now = int(self._kernel32.GetTickCount())
        return (now - int(info.dwTime)) & 0xFFFFFFFF  # both are 32-bit ticks: the difference survives a wrap


# macOS ---------------------------------------------------------------------------------------------


class MacIdle:
    """CoreGraphics: seconds since the last input event of any kind in this login session."""

    name = "macOS CGEventSourceSecondsSinceLastEventType"

    def __init__(self, coregraphics: Any) -> None:
        function = coregraphics.CGEventSourceSecondsSinceLastEventType
        function.argtypes = [ctypes.c_int32, ctypes.c_uint32]
        function.restype = ctypes.c_double
        self._seconds = function

    def idle_ms(self) -> int | None:
        seconds = float(self._seconds(_CG_COMBINED_SESSION_STATE, _CG_ANY_INPUT_EVENT))
        if not math.isfinite(seconds) or seconds < 0:
            return None
        return int(seconds * 1000)


# Choosing one --------------------------------------------------------------------------------------


def load_library(name: str) -> Any:
    """`ctypes.WinDLL` on Windows (stdcall), `ctypes.CDLL` elsewhere."""
    loader = getattr(ctypes, "WinDLL", ctypes.CDLL)
    return loader(name)


def _candidates(
    platform: str, environ: Mapping[str, str], load: LibraryLoader, dbus_call: DBusCall
) -> list[tuple[str, Callable[[], IdleSource]]]:
    if platform == "win32":
        return [("Windows", lambda: WindowsIdle(load("user32"), load("kernel32")))]
    if platform == "darwin":
        return [("macOS", lambda: MacIdle(load(COREGRAPHICS)))]
    found: list[tuple[str, Callable[[], IdleSource]]] = [
        ("GNOME", lambda: DBusIdle("GNOME Mutter IdleMonitor (D-Bus)", dbus_call, MUTTER_IDLE)),
        ("ScreenSaver", lambda: DBusIdle("org.freedesktop.ScreenSaver (D-Bus)", dbus_call, SCREENSAVER_IDLE)),
    ]
    wayland = environ.get("XDG_SESSION_TYPE") == "wayland" or bool(environ.get("WAYLAND_DISPLAY"))
    display = environ.get("DISPLAY")
    if display and not wayland:
        found.append(("X11", lambda: XssIdle(load(XLIB), load(XSS), display)))
    return found


def system_source(
    platform: str = sys.platform,
    *,
    environ: Mapping[str, str] | None = None,
    load: LibraryLoader = load_library,
    dbus_call: DBusCall = session_bus_call,
) -> IdleSource | None:
    """The first source on `platform` that tells an idle time now; None when none does."""
    env = os.environ if environ is None else environ
    for label, make in _candidates(platform, env, load, dbus_call):
        try:
            source = make()
            idle = source.idle_ms()
        except (OSError, AttributeError, ValueError, ctypes.ArgumentError, IdleSourceError) as exc:
            log.debug("idle time: %s source unavailable (%s)", label, exc)
            continue
        if idle is not None:
            return source
        log.debug("idle time: %s source did not answer", label)
    return None
