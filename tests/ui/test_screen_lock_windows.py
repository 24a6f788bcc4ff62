# SPDX-License-Identifier: Apache-2.0
"""Windows' lock on screen lock and sleep, on Linux: real `MSG` structs (the stdlib's own Windows
definition, `ctypes.wintypes.MSG`) in memory, passed by address as PySide6 passes them; wtsapi32 as a
fake library; and, under Xvfb, Qt calling the installed filter for real (X11 events instead of Windows
messages) to check what PySide6 passes and that nothing is consumed."""

from __future__ import annotations

import ctypes
import ctypes.wintypes
import json
import subprocess
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QApplication
from shiboken6 import Shiboken

from keybroker.app import AppParts
from keybroker.ui import screen_lock_windows as win
from keybroker.ui.screen_lock import SCREEN_LOCK, SLEEP, ScreenLockWatch
from keybroker.ui.screen_lock_windows import (
    PBT_APMSUSPEND,
    WM_POWERBROADCAST,
    WM_WTSSESSION_CHANGE,
    WTS_SESSION_LOCK,
    SessionMessageFilter,
    WindowsLockWatch,
    Wtsapi32,
)
from tests.conftest import subprocess_env
from tests.ui import test_idle_sources

GENERIC = QByteArray(b"windows_generic_MSG")
HWND = 0x1_0042
WTS_SESSION_UNLOCK = 0x8
WTS_CONSOLE_CONNECT = 0x1
PBT_APMRESUMEAUTOMATIC = 0x12
WM_PAINT = 0x000F


class FakeNotifications:
    """A `SessionNotifications` that records the windows it was asked about."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.registered: list[int] = []
        self.unregistered: list[int] = []

    def register(self, hwnd: int) -> None:
        if self.refuse:
            raise OSError("WTSRegisterSessionNotification failed (Windows error 5)")
        self.registered.append(hwnd)

    def unregister(self, hwnd: int) -> None:
        self.unregistered.append(hwnd)


class Sent:
    """Messages in memory, kept alive while the filter reads them."""

    def __init__(self) -> None:
        self.kept: list[ctypes.wintypes.MSG] = []

    def __call__(self, hwnd: int, message: int, wparam: int, lparam: int = 0) -> Shiboken.VoidPtr:
        msg = ctypes.wintypes.MSG(hwnd, message, wparam, lparam, 0, ctypes.wintypes.POINT(0, 0))
        self.kept.append(msg)
        return Shiboken.VoidPtr(ctypes.addressof(msg))  # what PySide6 6.11 passes for `void *message`


@pytest.fixture
def sent() -> Sent:
    return Sent()


def recording_filter(hwnd: int = HWND) -> tuple[SessionMessageFilter, list[str]]:
    seen: list[str] = []
    return SessionMessageFilter(hwnd, seen.append), seen


# The filter ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "wparam", "reason"),
    [(WM_WTSSESSION_CHANGE, WTS_SESSION_LOCK, SCREEN_LOCK), (WM_POWERBROADCAST, PBT_APMSUSPEND, SLEEP)],
)
def test_lock_and_suspend_messages_give_their_reason(
    sent: Sent, message: int, wparam: int, reason: str
) -> None:
    native_filter, seen = recording_filter()
    assert native_filter.nativeEventFilter(GENERIC, sent(HWND, message, wparam, lparam=7)) == (False, 0)
    assert seen == [reason]


def test_a_plain_int_address_and_bytes_event_type_work_too(sent: Sent) -> None:
    native_filter, seen = recording_filter()
    sent(HWND, WM_WTSSESSION_CHANGE, WTS_SESSION_LOCK)
    address = ctypes.addressof(sent.kept[-1])
    assert native_filter.nativeEventFilter(b"windows_generic_MSG", address) == (False, 0)
    assert seen == [SCREEN_LOCK]


@pytest.mark.parametrize(
    ("hwnd", "message", "wparam"),
    [
        (HWND, WM_WTSSESSION_CHANGE, WTS_SESSION_UNLOCK),
        (HWND, WM_WTSSESSION_CHANGE, WTS_CONSOLE_CONNECT),
        (HWND, WM_POWERBROADCAST, PBT_APMRESUMEAUTOMATIC),
        (HWND, WM_PAINT, WTS_SESSION_LOCK),  # the right wParam on another message
        (HWND, WM_PAINT, PBT_APMSUSPEND),
        (HWND + 1, WM_POWERBROADCAST, PBT_APMSUSPEND),  # the same broadcast to another window of ours
        (HWND + 1, WM_WTSSESSION_CHANGE, WTS_SESSION_LOCK),
    ],
)
def test_other_messages_are_ignored_and_let_through(sent: Sent, hwnd: int, message: int, wparam: int) -> None:
    native_filter, seen = recording_filter()
    assert native_filter.nativeEventFilter(GENERIC, sent(hwnd, message, wparam)) == (False, 0)
    assert seen == []


@pytest.mark.parametrize("event_type", [b"windows_dispatcher_MSG", b"xcb_generic_event_t", b""])
def test_other_event_types_are_not_read(sent: Sent, event_type: bytes) -> None:
    # The dispatcher's copy of a posted message reaches the window again as windows_generic_MSG.
    native_filter, seen = recording_filter()
    message = sent(HWND, WM_WTSSESSION_CHANGE, WTS_SESSION_LOCK)
    assert native_filter.nativeEventFilter(QByteArray(event_type), message) == (False, 0)
    assert seen == []


@pytest.mark.parametrize("message", [0, None, Shiboken.VoidPtr(0), "0x10"])
def test_no_address_is_not_read(message: Any) -> None:
    native_filter, seen = recording_filter()
    assert native_filter.nativeEventFilter(GENERIC, message) == (False, 0)
    assert seen == []


def test_the_msg_head_matches_windows_layout() -> None:
    # Our struct reads the first four fields of the stdlib's MSG at the same offsets.
    for name, theirs in (
        ("hwnd", "hWnd"),
        ("message", "message"),
        ("wParam", "wParam"),
        ("lParam", "lParam"),
    ):
        assert getattr(win.MSG, name).offset == getattr(ctypes.wintypes.MSG, theirs).offset
        assert getattr(win.MSG, name).size == getattr(ctypes.wintypes.MSG, theirs).size


# The watch: register, install, stop --------------------------------------------------------------------


def test_the_watch_registers_its_hidden_window_and_stops(app: QApplication, sent: Sent) -> None:
    fake = FakeNotifications()
    seen: list[str] = []
    watch = WindowsLockWatch(seen.append, notifications=lambda: fake)
    watching = watch.start()
    assert watching == ["WTS session lock (WM_WTSSESSION_CHANGE)", "suspend (WM_POWERBROADCAST)"]
    hwnd = watch.hwnd
    assert hwnd is not None and fake.registered == [hwnd]
    assert watch.start() == watching and fake.registered == [hwnd]  # once
    native_filter = watch._filter
    assert native_filter is not None
    native_filter.nativeEventFilter(GENERIC, sent(hwnd, WM_WTSSESSION_CHANGE, WTS_SESSION_LOCK))
    native_filter.nativeEventFilter(GENERIC, sent(hwnd, WM_POWERBROADCAST, PBT_APMSUSPEND))
    assert seen == [SCREEN_LOCK, SLEEP]

    watch.stop()
    assert fake.unregistered == [hwnd]
    assert watch.hwnd is None and watch.watching() == []
    watch.stop()  # twice is harmless
    assert fake.unregistered == [hwnd]


def test_a_refused_registration_watches_nothing(app: QApplication, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeNotifications(refuse=True)
    watch = WindowsLockWatch(lambda reason: None, notifications=lambda: fake)
    with caplog.at_level("WARNING", logger="keybroker.ui"):
        assert watch.start() == []
    assert watch.hwnd is None
    assert [r.getMessage() for r in caplog.records] == [
        "lock on screen lock: WTS session notifications unavailable "
        "(WTSRegisterSessionNotification failed (Windows error 5))"
    ]
    watch.stop()
    assert fake.unregistered == []  # nothing was registered


# wtsapi32, as a fake library ---------------------------------------------------------------------------


class FakeWtsapi32:
    """wtsapi32.dll's two functions, recording their calls (ctypes sets argtypes/restype on them)."""

    def __init__(self, register_ok: int = 1, unregister_ok: int = 1) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []
        self.WTSRegisterSessionNotification = self._function("register", register_ok)
        self.WTSUnRegisterSessionNotification = self._function("unregister", unregister_ok)

    def _function(self, name: str, result: int) -> Callable[..., int]:
        def call(*args: int) -> int:
            self.calls.append((name, args))
            return result

        return call


def test_wtsapi32_calls_for_this_session(app: QApplication) -> None:
    lib = FakeWtsapi32()
    watch = ScreenLockWatch(platform="win32", windows_notifications=lambda: Wtsapi32(lib))
    assert watch.start() == ["WTS session lock (WM_WTSSESSION_CHANGE)", "suspend (WM_POWERBROADCAST)"]
    native = watch.native
    assert isinstance(native, WindowsLockWatch) and native.hwnd is not None
    hwnd = native.hwnd
    watch.stop()
    assert lib.calls == [("register", (hwnd, win.NOTIFY_FOR_THIS_SESSION)), ("unregister", (hwnd,))]
    assert win.NOTIFY_FOR_THIS_SESSION == 0
    assert watch.watching == []
    assert lib.WTSRegisterSessionNotification.argtypes == [ctypes.c_void_p, ctypes.c_uint32]  # type: ignore[attr-defined]


def test_wtsapi32_refusing_logs_the_windows_error(
    app: QApplication, caplog: pytest.LogCaptureFixture
) -> None:
    lib = FakeWtsapi32(register_ok=0)
    watch = ScreenLockWatch(
        platform="win32", windows_notifications=lambda: Wtsapi32(lib, last_error=lambda: 1008)
    )
    with caplog.at_level("INFO", logger="keybroker.ui"):
        assert watch.start() == []
    assert "WTSRegisterSessionNotification failed (Windows error 1008)" in caplog.text
    assert "lock on screen lock: watching nothing" in caplog.text
    watch.stop()
    assert [name for name, _ in lib.calls] == ["register"]


def test_wtsapi32_unregister_failure_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    api = Wtsapi32(FakeWtsapi32(unregister_ok=0), last_error=lambda: 6)
    with caplog.at_level("DEBUG", logger="keybroker.ui"):
        api.unregister(HWND)
    assert "WTSUnRegisterSessionNotification failed (Windows error 6)" in caplog.text


# ScreenLockWatch on win32 --------------------------------------------------------------------------------


def test_screen_lock_watch_on_windows_emits_locked(app: QApplication, sent: Sent) -> None:
    fake = FakeNotifications()

    def no_bus() -> Any:
        raise AssertionError("no D-Bus on Windows")

    watch = ScreenLockWatch(
        platform="win32", session_bus=no_bus, system_bus=no_bus, windows_notifications=lambda: fake
    )
    seen: list[str] = []
    watch.locked.connect(seen.append)
    assert len(watch.start()) == 2
    native = watch.native
    assert isinstance(native, WindowsLockWatch) and native.hwnd is not None and native._filter is not None
    hwnd, native_filter = native.hwnd, native._filter
    native_filter.nativeEventFilter(GENERIC, sent(hwnd, WM_POWERBROADCAST, PBT_APMSUSPEND))
    native_filter.nativeEventFilter(GENERIC, sent(hwnd, WM_WTSSESSION_CHANGE, WTS_SESSION_UNLOCK))
    native_filter.nativeEventFilter(GENERIC, sent(hwnd, WM_WTSSESSION_CHANGE, WTS_SESSION_LOCK))
    assert seen == [SLEEP, SCREEN_LOCK]
    watch.stop()
    assert fake.unregistered == fake.registered == [hwnd]


def test_the_app_unregisters_when_it_disposes_of_its_parts(app: QApplication) -> None:
    fake = FakeNotifications()
    watch = ScreenLockWatch(platform="win32", windows_notifications=lambda: fake)
    watch.start()
    controller: Any = SimpleNamespace(screen_lock=watch)  # all that `dispose` reads of the controller
    unused: Any = None
    parts = AppParts(unused, unused, unused, unused, unused, controller=controller, tray=None)
    parts.dispose()
    assert fake.registered and fake.unregistered == fake.registered


def test_without_wtsapi32_nothing_is_watched(app: QApplication, caplog: pytest.LogCaptureFixture) -> None:
    # The real loader on this (non-Windows) machine: one line, no exception, nothing watched.
    watch = ScreenLockWatch(platform="win32")
    with caplog.at_level("WARNING", logger="keybroker.ui"):
        assert watch.start() == []
    assert caplog.text.count("WTS session notifications unavailable") == 1
    watch.stop()


def test_reasons_are_those_of_screen_lock() -> None:
    assert set(win.REASONS.values()) == {SCREEN_LOCK, SLEEP}


# Qt calling the installed filter for real (X11 under Xvfb) ---------------------------------------------

PROBE = """
import json, sys, time
from PySide6.QtGui import QGuiApplication, QWindow
from keybroker.ui import screen_lock_windows as win
from keybroker.app import AppParts

class Notifications:
    def register(self, hwnd): pass
    def unregister(self, hwnd): pass

calls = []
original = win.SessionMessageFilter.nativeEventFilter

def recording(self, event_type, message):
    result = original(self, event_type, message)
    calls.append([type(event_type).__name__, bytes(event_type.data()).decode(), type(message).__name__])
    return (True, 0) if sys.argv[1] == "consume" else result

win.SessionMessageFilter.nativeEventFilter = recording
app = QGuiApplication([])
watch = win.WindowsLockWatch(lambda reason: None, notifications=Notifications)
watch.start()
window = QWindow()
window.resize(40, 40)
window.show()
deadline = time.monotonic() + float(sys.argv[2])
while not window.isExposed() and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.01)
exposed = window.isExposed()
watch.stop()
before = len(calls)
for _ in range(20):
    app.processEvents()
window.hide()
for _ in range(20):
    app.processEvents()
print(json.dumps({"exposed": exposed, "calls": calls[:before], "after_stop": len(calls) - before}))
"""


xvfb = test_idle_sources.xvfb  # the private Xvfb display fixture


def probe(display: str, mode: str, wait_s: float) -> dict[str, Any]:
    env = subprocess_env({"QT_QPA_PLATFORM": "xcb", "DISPLAY": display, "WAYLAND_DISPLAY": None})
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode, str(wait_s)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


@pytest.mark.slow
def test_qt_calls_the_installed_filter_and_nothing_is_consumed(xvfb: str) -> None:
    passed = probe(xvfb, "pass", wait_s=10)
    # PySide6 hands a QByteArray and a VoidPtr (its stub says int): the filter reads both.
    assert passed["calls"] and {tuple(c) for c in passed["calls"]} == {
        ("QByteArray", "xcb_generic_event_t", "VoidPtr")
    }
    assert passed["exposed"] is True  # the window's events reached Qt
    assert passed["after_stop"] == 0  # stop removed the filter
    # The control: a filter that consumes keeps the window from ever being exposed.
    # (Exposing takes a few ms when the events get through: 1.5 s is plenty.)
    assert probe(xvfb, "consume", wait_s=1.5)["exposed"] is False
