# SPDX-License-Identifier: Apache-2.0
"""Lock on screen lock and on sleep: real D-Bus signals sent with dbus-send on the rig's private bus
(which also stands in for the system bus: logind cannot be faked on the real one), the logind session
lookup with injected and with real replies, and quiet skipping where there is no bus."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from PySide6.QtDBus import QDBusConnection
from PySide6.QtWidgets import QApplication

from keybroker.core.models import AuditDecision, GrantScope
from keybroker.ui import screen_lock as screen_lock_module
from keybroker.ui.app_state import AppState
from keybroker.ui.controller import AppController
from keybroker.ui.screen_lock import SCREEN_LOCK, SLEEP, ScreenLockWatch, logind_session_path
from tests.conftest import rig_active
from tests.ui.conftest import AsyncRunner
from tests.ui.dbus_fakes import FakeService
from tests.ui.support import until
from tests.ui.test_controller import Harness
from tests.ui.test_idle_lock import grant, locks

needs_bus = pytest.mark.skipif(not rig_active(), reason="needs the test rig's private session bus")
SESSION = "/org/freedesktop/login1/session/_32"


def no_bus() -> QDBusConnection:
    """A connection that never connected (no bus here)."""
    return QDBusConnection("keybroker-test-no-bus")


def send(path: str, member: str, value: bool) -> None:
    """Emit a signal on the session bus as another process would."""
    interface, _, name = member.rpartition(".")
    subprocess.run(
        [
            "dbus-send",
            "--session",
            "--type=signal",
            path,
            f"{interface}.{name}",
            f"boolean:{str(value).lower()}",
        ],
        check=True,
        timeout=10,
    )


# Without D-Bus, and the logind lookup --------------------------------------------------------------------


def test_no_bus_is_skipped_quietly(app: QApplication) -> None:
    watch = ScreenLockWatch(platform="linux", environ={}, session_bus=no_bus, system_bus=no_bus)
    assert watch.start() == []
    assert watch.start() == []  # once


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_windows_and_macos_use_their_own_watch_not_dbus(
    app: QApplication, platform: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Their native libraries do not load here: one line says so and nothing is watched
    # (tests/ui/test_screen_lock_windows.py and test_screen_lock_macos.py drive them with fakes).
    def never() -> QDBusConnection:
        raise AssertionError("no D-Bus on " + platform)

    watch = ScreenLockWatch(platform=platform, session_bus=never, system_bus=never)
    with caplog.at_level("INFO", logger="keybroker.ui"):
        assert watch.start() == []
    assert watch.native is not None
    assert "lock on screen lock: watching nothing" in caplog.text
    watch.stop()
    assert watch.watching == []


@needs_bus
def test_stop_on_linux_leaves_the_dbus_signals_to_the_process_end(app: QApplication) -> None:
    watch = ScreenLockWatch(platform="linux", environ={}, system_bus=no_bus)
    watching = watch.start()
    assert len(watching) == 2
    watch.stop()  # nothing native to unregister
    assert watch.native is None and watch.watching == watching


def test_logind_session_path_auto_then_xdg_session_id() -> None:
    asked: list[str] = []

    def answers(known: dict[str, str]):  # type: ignore[no-untyped-def]
        def get_session(session_id: str) -> str | None:
            asked.append(session_id)
            return known.get(session_id)

        return get_session

    assert logind_session_path(answers({"auto": SESSION}), {"XDG_SESSION_ID": "7"}) == SESSION
    assert asked == ["auto"]
    asked.clear()
    path7 = "/org/freedesktop/login1/session/_37"
    assert logind_session_path(answers({"7": path7}), {"XDG_SESSION_ID": "7"}) == path7
    assert asked == ["auto", "7"]
    asked.clear()
    assert logind_session_path(answers({}), {}) is None
    assert asked == ["auto"]


# Real signals on the rig's bus -----------------------------------------------------------------------


@pytest.fixture
def fake_system_bus() -> Iterator[QDBusConnection]:
    """A second connection to the rig's session bus, standing in for the system bus."""
    name = "keybroker-test-system-bus"
    bus = QDBusConnection.connectToBus(QDBusConnection.BusType.SessionBus, name)
    yield bus
    QDBusConnection.disconnectFromBus(name)


@pytest.fixture
def harness(aio: AsyncRunner) -> Iterator[Harness]:
    h = Harness(dict(os.environ))
    yield h
    aio.run(h.controller.shutdown())


@needs_bus
def test_screensaver_signals_lock_the_controller(aio: AsyncRunner, harness: Harness) -> None:
    watch = ScreenLockWatch(platform="linux", environ={}, system_bus=no_bus)
    seen: list[str] = []
    watch.locked.connect(seen.append)
    controller = AppController(
        harness.runtime, harness.events, harness.prompter, harness.notifier, screen_lock=watch
    )
    harness.controller = controller
    assert aio.run(controller.start()) is AppState.READY
    assert watch.watching == [
        "org.freedesktop.ScreenSaver.ActiveChanged",
        "org.gnome.ScreenSaver.ActiveChanged",
    ]
    grant(harness, GrantScope.TASK)
    grant(harness, GrantScope.ALWAYS)

    async def saw(count: int) -> None:
        await until(lambda: len(seen) >= count, what=f"{count} screen lock signal(s)")

    # Unlocking (false) does nothing; the first true locks: grants short of always end.
    send("/org/freedesktop/ScreenSaver", "org.freedesktop.ScreenSaver.ActiveChanged", False)
    send("/org/gnome/ScreenSaver", "org.gnome.ScreenSaver.ActiveChanged", False)
    send("/org/gnome/ScreenSaver", "org.gnome.ScreenSaver.ActiveChanged", True)
    aio.run(saw(1))
    assert seen == [SCREEN_LOCK]
    assert controller.state is AppState.LOCKED and locks(harness) == [SCREEN_LOCK]
    services = harness.runtime.services
    assert services is not None
    assert [g.scope for g in services.catalog.list_grants()] == [GrantScope.ALWAYS]

    # KDE's other path, and the same lock again: no second audit event.
    send("/ScreenSaver", "org.freedesktop.ScreenSaver.ActiveChanged", True)
    send("/org/freedesktop/ScreenSaver", "org.freedesktop.ScreenSaver.ActiveChanged", True)
    aio.run(saw(3))
    assert seen == [SCREEN_LOCK] * 3 and locks(harness) == [SCREEN_LOCK]
    assert sum(e.decision is AuditDecision.LOCKED for e in services.audit.events()) == 1


@needs_bus
def test_logind_lock_and_sleep(app: QApplication, aio: AsyncRunner, fake_system_bus: QDBusConnection) -> None:
    with FakeService("org.freedesktop.login1", {"GetSession": ("o", [SESSION])}) as logind:
        watch = ScreenLockWatch(
            platform="linux",
            environ={"XDG_SESSION_ID": "2"},
            session_bus=no_bus,
            system_bus=lambda: fake_system_bus,
        )
        assert watch.start() == [f"logind Session.Lock ({SESSION})", "logind PrepareForSleep"]
    # The real lookup asked logind for our own session, and took its object path.
    assert logind.calls == [("/org/freedesktop/login1", "GetSession", ["auto"])]
    seen: list[str] = []
    watch.locked.connect(seen.append)
    send("/org/freedesktop/login1/session/_33", "org.freedesktop.login1.Session.Lock", True)  # not ours
    send("/org/freedesktop/login1", "org.freedesktop.login1.Manager.PrepareForSleep", False)  # woke up
    send(SESSION, "org.freedesktop.login1.Session.Lock", True)
    send("/org/freedesktop/login1", "org.freedesktop.login1.Manager.PrepareForSleep", True)

    async def saw_two() -> None:
        await until(lambda: len(seen) >= 2, what="the lock and sleep signals")

    aio.run(saw_two())
    assert seen == [SCREEN_LOCK, SLEEP]


@needs_bus
def test_logind_without_our_session_still_watches_sleep(
    app: QApplication, fake_system_bus: QDBusConnection
) -> None:
    with FakeService("org.freedesktop.login1", {}) as logind:  # GetSession fails: no such session
        watch = ScreenLockWatch(
            platform="linux",
            environ={"XDG_SESSION_ID": "9"},
            session_bus=no_bus,
            system_bus=lambda: fake_system_bus,
        )
        assert watch.start() == ["logind PrepareForSleep"]
    assert [c[2] for c in logind.calls] == [["auto"], ["9"]]


@needs_bus
def test_no_logind_on_the_bus_is_skipped(app: QApplication, fake_system_bus: QDBusConnection) -> None:
    watch = ScreenLockWatch(
        platform="linux", environ={}, session_bus=no_bus, system_bus=lambda: fake_system_bus
    )
    assert watch.start() == []
    assert screen_lock_module.LOGIND == "org.freedesktop.login1"
