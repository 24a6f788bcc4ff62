# SPDX-License-Identifier: Apache-2.0
"""The system idle-time sources: every platform branch with fake libraries and D-Bus replies, plus the
real XScreenSaver extension under Xvfb and the real D-Bus call on the rig's private bus."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit

from keybroker.ui import idle_sources
from keybroker.ui.app_activity import AppActivity
from keybroker.ui.idle_sources import (
    MUTTER_IDLE,
    SCREENSAVER_IDLE,
    DBusIdle,
    MacIdle,
    WindowsIdle,
    XssIdle,
    session_bus_call,
    system_source,
)
from tests.conftest import rig_active
from tests.ui.dbus_fakes import FakeService

X11 = {"DISPLAY": ":5", "XDG_SESSION_TYPE": "x11"}


class Lib:
    """A fake shared library: attributes are the functions (ctypes sets argtypes/restype on them)."""

    def __init__(self, **functions: Callable[..., Any]) -> None:
        for name, function in functions.items():
            setattr(self, name, function)


class Loader:
    """A fake `ctypes.CDLL`: the libraries it has, OSError for the rest; records what was asked."""

    def __init__(self, **libs: Lib) -> None:
        self.libs = libs
        self.asked: list[str] = []

    def __call__(self, name: str) -> Lib:
        self.asked.append(name)
        if name not in self.libs:
            raise OSError(f"{name}: cannot open shared object file")
        return self.libs[name]


def dbus_replies(replies: dict[str, Sequence[object] | None]) -> Callable[..., Sequence[object] | None]:
    """A fake D-Bus call answering by method name."""

    def call(service: str, path: str, interface: str, method: str) -> Sequence[object] | None:
        return replies.get(method)

    return call


def no_dbus(service: str, path: str, interface: str, method: str) -> None:
    return None


# Linux: D-Bus ----------------------------------------------------------------------------------------


def test_gnome_first_then_kde_on_the_session_bus() -> None:
    loader = Loader()
    source = system_source("linux", environ=X11, load=loader, dbus_call=dbus_replies({"GetIdletime": [1234]}))
    assert isinstance(source, DBusIdle) and "Mutter" in source.name and source.idle_ms() == 1234
    source = system_source(
        "linux", environ=X11, load=loader, dbus_call=dbus_replies({"GetSessionIdleTime": [5678]})
    )
    assert isinstance(source, DBusIdle) and "ScreenSaver" in source.name and source.idle_ms() == 5678
    assert loader.asked == []  # X11 is not even opened when D-Bus answers


@pytest.mark.parametrize("reply", [None, [], ["12"], [True], [-5], [1.5]])
def test_a_bad_dbus_reply_is_no_answer(reply: Sequence[object] | None) -> None:
    source = DBusIdle("test", dbus_replies({"GetIdletime": reply}), MUTTER_IDLE)
    assert source.idle_ms() is None
    assert (
        system_source("linux", environ={}, load=Loader(), dbus_call=dbus_replies({"GetIdletime": reply}))
        is None
    )


def test_the_dbus_methods_asked() -> None:
    asked: list[tuple[str, str, str, str]] = []

    def call(*method: str) -> None:
        asked.append(method)  # type: ignore[arg-type]

    system_source("linux", environ={}, load=Loader(), dbus_call=call)
    assert asked == [MUTTER_IDLE, SCREENSAVER_IDLE]
    assert MUTTER_IDLE[1:] == (
        "/org/gnome/Mutter/IdleMonitor/Core",
        "org.gnome.Mutter.IdleMonitor",
        "GetIdletime",
    )


# Linux: X11 ------------------------------------------------------------------------------------------


def fake_x11(
    idle: int = 4321, *, display: int = 0x1000, extension: bool = True, query: bool = True
) -> Loader:
    opened: list[bytes | None] = []
    info = ctypes.pointer(idle_sources._XScreenSaverInfo())

    def query_info(dpy: int, root: int, out: Any) -> int:
        assert dpy == display and root == 0x2A
        out.contents.idle = idle
        return 1 if query else 0

    def open_display(name: bytes | None) -> int:
        opened.append(name)
        return display

    xlib = Lib(XOpenDisplay=open_display, XDefaultRootWindow=lambda dpy: 0x2A)
    xss = Lib(
        XScreenSaverQueryExtension=lambda dpy, event, error: 1 if extension else 0,
        XScreenSaverAllocInfo=lambda: info,
        XScreenSaverQueryInfo=query_info,
    )
    loader = Loader(**{idle_sources.XLIB: xlib, idle_sources.XSS: xss})
    loader.opened = opened  # type: ignore[attr-defined]
    return loader


def test_x11_when_dbus_does_not_answer() -> None:
    loader = fake_x11(idle=4321)
    source = system_source("linux", environ=X11, load=loader, dbus_call=no_dbus)
    assert isinstance(source, XssIdle) and source.idle_ms() == 4321
    assert loader.asked == [idle_sources.XLIB, idle_sources.XSS]
    assert loader.opened == [b":5"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "loader",
    [
        Loader(),  # libXss missing
        Loader(**{idle_sources.XLIB: Lib()}),  # a library without the functions
        fake_x11(display=0),  # the display cannot be opened
        fake_x11(extension=False),  # no MIT-SCREEN-SAVER
        fake_x11(query=False),  # the query fails
    ],
    ids=["missing", "no-functions", "no-display", "no-extension", "query-fails"],
)
def test_x11_trouble_means_no_system_source(loader: Loader) -> None:
    assert system_source("linux", environ=X11, load=loader, dbus_call=no_dbus) is None


def test_x11_is_not_used_under_wayland_or_without_a_display() -> None:
    for environ in (
        {"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"},
        {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"},
        {},
    ):
        loader = fake_x11()
        assert system_source("linux", environ=environ, load=loader, dbus_call=no_dbus) is None
        assert loader.asked == []


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A private Xvfb display (skipped when Xvfb is not installed); Xvfb picks a free number."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed")
    with subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-nolisten", "tcp", "-screen", "0", "320x240x24"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as server:
        try:
            assert server.stdout is not None
            number = server.stdout.readline().strip()  # written once the server accepts connections
            if not number.isdigit():
                pytest.skip("Xvfb did not start")
            yield f":{number}"
        finally:
            server.terminate()
            server.wait(10)


def test_the_real_xscreensaver_extension(xvfb: str) -> None:
    try:
        xlib, xss = ctypes.CDLL(idle_sources.XLIB), ctypes.CDLL(idle_sources.XSS)
    except OSError as exc:
        pytest.skip(f"no X11 libraries: {exc}")
    source = XssIdle(xlib, xss, xvfb)
    first = source.idle_ms()
    time.sleep(0.3)
    second = source.idle_ms()
    assert first is not None and second is not None
    assert second >= first + 200  # nobody types on Xvfb: the idle time grows in ms
    chosen = system_source("linux", environ={"DISPLAY": xvfb}, dbus_call=no_dbus)
    assert isinstance(chosen, XssIdle)


# Windows ---------------------------------------------------------------------------------------------


def fake_windows(last_input: int, tick: int, ok: bool = True) -> Loader:
    def get_last_input_info(pointer: Any) -> int:
        info = pointer._obj  # what ctypes.byref points at
        assert info.cbSize == ctypes.sizeof(info)
        info.dwTime = last_input
        return 1 if ok else 0

    return Loader(user32=Lib(GetLastInputInfo=get_last_input_info), kernel32=Lib(GetTickCount=lambda: tick))


def test_windows_idle_is_ticks_since_the_last_input() -> None:
    source = system_source("win32", load=fake_windows(1_000, 5_500), dbus_call=no_dbus)
    assert isinstance(source, WindowsIdle) and source.idle_ms() == 4_500


def test_windows_tick_count_wrapping_around() -> None:
    source = WindowsIdle(*fake_windows(0xFFFF_FF00, 0x100).libs.values())
    assert source.idle_ms() == 0x200


def test_windows_failures_mean_no_system_source() -> None:
    assert system_source("win32", load=fake_windows(0, 10, ok=False), dbus_call=no_dbus) is None
    assert system_source("win32", load=Loader(), dbus_call=no_dbus) is None


# macOS -----------------------------------------------------------------------------------------------


def fake_mac(seconds: float) -> Loader:
    asked: list[tuple[int, int]] = []

    def since_last(state: int, event_type: int) -> float:
        asked.append((state, event_type))
        return seconds

    loader = Loader(**{idle_sources.COREGRAPHICS: Lib(CGEventSourceSecondsSinceLastEventType=since_last)})
    loader.calls = asked  # type: ignore[attr-defined]
    return loader


def test_macos_seconds_become_milliseconds() -> None:
    loader = fake_mac(12.5)
    source = system_source("darwin", load=loader, dbus_call=no_dbus)
    assert isinstance(source, MacIdle) and source.idle_ms() == 12_500
    # the combined session state, any input event type
    assert loader.calls[-1] == (0, 0xFFFFFFFF)  # type: ignore[attr-defined]


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), -1.0])
def test_macos_nonsense_is_no_answer(seconds: float) -> None:
    assert system_source("darwin", load=fake_mac(seconds), dbus_call=no_dbus) is None


def test_macos_without_coregraphics() -> None:
    assert system_source("darwin", load=Loader(), dbus_call=no_dbus) is None


# Keybroker's own windows (the fallback) --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_app_activity_counts_from_the_last_key_or_click(app: QApplication) -> None:
    clock = Clock()
    activity = AppActivity(clock)
    field = QLineEdit()
    field.show()
    try:
        activity.start()
        assert activity.watching
        clock.now += 42
        assert activity.idle_ms() == 42_000
        QTest.keyClick(field, Qt.Key.Key_A)
        assert activity.idle_ms() == 0
        clock.now += 3
        QTest.mouseClick(field, Qt.MouseButton.LeftButton)
        assert activity.idle_ms() == 0
        activity.stop()
        clock.now += 5
        QTest.keyClick(field, Qt.Key.Key_B)  # no longer watched
        assert activity.idle_ms() == 5_000 and not activity.watching
    finally:
        activity.stop()
        field.close()
        field.deleteLater()


# The real D-Bus call (rig) -------------------------------------------------------------------------

needs_bus = pytest.mark.skipif(not rig_active(), reason="needs the test rig's private session bus")


@needs_bus
def test_session_bus_call_on_a_real_bus(app: QApplication) -> None:
    with FakeService("org.gnome.Mutter.IdleMonitor", {"GetIdletime": ("t", [987_654])}):
        source = system_source("linux", environ={})
        assert isinstance(source, DBusIdle) and "Mutter" in source.name
        assert source.idle_ms() == 987_654
    # Gone (and never auto-started): no answer, quickly.
    started = time.monotonic()
    assert session_bus_call(*MUTTER_IDLE) is None
    assert session_bus_call(*SCREENSAVER_IDLE) is None
    assert time.monotonic() - started < 1.5
