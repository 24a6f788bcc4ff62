# SPDX-License-Identifier: Apache-2.0
"""The idle lock: one single-shot timer for when the limit could first be reached, re-checked then;
nothing armed at 0 minutes or with nothing to protect; the controller follows the settings at once."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from functools import partial

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from keybroker.core.errors import InvalidInputError
from keybroker.core.models import AuditDecision, Grant, GrantScope, SecretValue
from keybroker.system.settings import update
from keybroker.ui import controller as controller_module
from keybroker.ui.app_activity import AppActivity
from keybroker.ui.app_state import AppState
from keybroker.ui.controller import IDLE_CALLER, AppController
from keybroker.ui.idle_lock import IdleLock
from keybroker.ui.screen_lock import SCREEN_LOCK
from tests.ui.conftest import AsyncRunner
from tests.ui.support import agent, until
from tests.ui.test_controller import Harness

MINUTE = 60_000


class FakeSource:
    """The system's idle time: the user's last input was `last_input` (monotonic seconds)."""

    name = "fake system idle time"

    def __init__(self, idle_ms: int = 0) -> None:
        self.last_input = time.monotonic() - idle_ms / 1000
        self.asked = 0
        self.answers = True

    def input(self) -> None:
        self.last_input = time.monotonic()

    def idle_ms(self) -> int | None:
        self.asked += 1
        return int((time.monotonic() - self.last_input) * 1000) if self.answers else None


class Finder:
    def __init__(self, source: FakeSource | None) -> None:
        self.source = source
        self.calls = 0

    def __call__(self) -> FakeSource | None:
        self.calls += 1
        return self.source


def idle_lock(source: FakeSource | None) -> tuple[IdleLock, Finder, list[int]]:
    finder = Finder(source)
    lock = IdleLock(find_source=finder)
    fired: list[int] = []
    lock.lock_due.connect(lambda: fired.append(1))
    return lock, finder, fired


@pytest.fixture(autouse=True)
def _qapp(app: QApplication) -> Iterator[None]:
    yield


def test_zero_minutes_arms_nothing_and_asks_nothing() -> None:
    lock, finder, fired = idle_lock(FakeSource(idle_ms=10 * MINUTE))
    lock.set_needed(True)
    lock.set_minutes(0)
    assert not lock.armed and lock.next_check_ms is None and fired == []
    assert finder.calls == 0 and lock.source is None  # the system is not even asked for a source


def test_arms_for_the_time_left_then_locks_once_reached(qtbot: QtBot) -> None:
    source = FakeSource(idle_ms=MINUTE - 1_600)
    lock, finder, fired = idle_lock(source)
    lock.set_needed(True)
    started = time.monotonic()
    lock.set_minutes(1)
    assert lock.armed and fired == [] and finder.calls == 1 and lock.source is source
    left = lock.next_check_ms
    assert left is not None and 1_000 < left <= 1_600  # not a minute, not a beat: the time left
    qtbot.waitUntil(lambda: fired == [1], timeout=5_000)
    assert time.monotonic() - started >= 1.4
    assert source.asked == 2  # once to arm, once when due: no polling in between


def test_an_active_user_only_re_arms(qtbot: QtBot) -> None:
    source = FakeSource(idle_ms=MINUTE - 1_500)
    lock, _, fired = idle_lock(source)
    lock.set_needed(True)
    lock.set_minutes(1)
    QTimer.singleShot(300, source.input)  # the user types somewhere on the desktop
    qtbot.waitUntil(lambda: source.asked == 2, timeout=5_000)  # the timer fired and looked again
    assert fired == []
    left = lock.next_check_ms
    assert lock.armed and left is not None and MINUTE - 2_000 < left <= MINUTE - 1_000
    assert source.asked == 2


def test_a_settings_change_applies_at_once() -> None:
    source = FakeSource(idle_ms=30_000)
    lock, finder, fired = idle_lock(source)
    lock.set_needed(True)
    lock.set_minutes(10)
    left = lock.next_check_ms
    assert left is not None and 10 * MINUTE - 31_000 < left <= 10 * MINUTE - 30_000
    lock.set_minutes(1)
    left = lock.next_check_ms
    assert left is not None and MINUTE - 31_000 < left <= MINUTE - 30_000
    lock.set_minutes(0)
    assert not lock.armed and lock.minutes == 0
    source.last_input -= 60  # idle for 90 s now: turning a 1-minute lock on locks at once
    lock.set_minutes(1)
    assert fired == [1] and finder.calls == 1  # the source was found once and kept
    with pytest.raises(InvalidInputError, match="between 0"):
        lock.set_minutes(1441)


def test_nothing_to_protect_nothing_armed() -> None:
    lock, _, fired = idle_lock(FakeSource())
    lock.set_minutes(5)
    assert not lock.armed  # nothing needed yet
    lock.set_needed(True)
    assert lock.armed
    lock.set_needed(False)
    assert not lock.armed
    lock.set_needed(True)
    lock.stop()
    assert not lock.armed and lock.minutes == 0 and fired == []


def test_a_lock_that_leaves_something_to_protect_counts_again() -> None:
    source = FakeSource(idle_ms=2 * MINUTE)
    lock, _, fired = idle_lock(source)
    lock.set_needed(True)
    lock.set_minutes(1)
    assert fired == [1]
    left = lock.next_check_ms
    assert lock.armed and left is not None and left > MINUTE - 1_000  # a full limit, not a spin


def test_without_a_system_source_keybrokers_own_input_counts() -> None:
    lock, _, _ = idle_lock(None)
    lock.set_needed(True)
    lock.set_minutes(2)
    assert isinstance(lock.source, AppActivity) and lock.source.watching
    left = lock.next_check_ms
    assert left is not None and 2 * MINUTE - 1_000 < left <= 2 * MINUTE
    lock.set_minutes(0)
    assert not lock.source.watching  # the event filter goes with the limit


def test_a_system_source_that_stops_answering_falls_back() -> None:
    source = FakeSource(idle_ms=30_000)
    lock, _, _ = idle_lock(source)
    lock.set_needed(True)
    lock.set_minutes(1)
    source.answers = False
    assert lock.idle_ms() < 1_000  # counted from Keybroker's input since now
    activity = lock.findChild(AppActivity)
    assert activity is not None and activity.watching
    lock.stop()


# With the controller ----------------------------------------------------------------------------------


def active_timers(controller: AppController) -> list[QTimer]:
    return [t for t in controller.findChildren(QTimer) if t.isActive()]


@pytest.fixture
def fake_idle() -> FakeSource:
    return FakeSource()


@pytest.fixture
def harness(aio: AsyncRunner, fake_idle: FakeSource, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    # The controller's own idle lock, over the fake system idle time.
    monkeypatch.setattr(controller_module, "IdleLock", partial(IdleLock, find_source=lambda: fake_idle))
    h = Harness(dict(os.environ))
    yield h
    aio.run(h.controller.shutdown())


def grant(harness: Harness, scope: GrantScope) -> None:
    """A grant made as a prompt's answer would: stored, then audited `granted`."""
    services = harness.runtime.services
    assert services is not None
    if services.catalog.find_agent("research") is None:
        services.catalog.upsert_agent(agent("research"))
    secret_id = services.secrets.set(
        f"KEY_{scope.value}".upper(), SecretValue("v"), owner=None
    ).record.secret_id
    services.catalog.add_grant(
        Grant(grant_id=f"gr_{scope.value}", agent="research", secret_id=secret_id, scope=scope, created=0.0)
    )
    services.audit.append(AuditDecision.GRANTED, agent="research", secret_id=secret_id, scope=scope.value)


def locks(harness: Harness) -> list[str | None]:
    services = harness.runtime.services
    assert services is not None
    return [e.caller for e in services.audit.events() if e.decision is AuditDecision.LOCKED]


def test_idle_lock_off_by_default_no_timer_at_all(aio: AsyncRunner, harness: Harness) -> None:
    assert aio.run(harness.controller.start()) is AppState.READY
    assert harness.controller.idle_lock.minutes == 0
    assert active_timers(harness.controller) == []  # the idle app is never woken by us


def test_controller_follows_the_settings_and_locks_when_idle(
    aio: AsyncRunner, harness: Harness, fake_idle: FakeSource
) -> None:
    controller = harness.controller
    aio.run(controller.start())
    grant(harness, GrantScope.UNTIL_LOCK)
    grant(harness, GrantScope.ALWAYS)
    fake_idle.last_input = time.monotonic() - (MINUTE - 1_500) / 1000
    services = harness.runtime.services
    assert services is not None
    update(services.paths.settings_file, idle_lock_minutes=1)  # what the General tab does
    harness.events.changed.emit("settings")
    assert controller.idle_lock.minutes == 1 and controller.idle_lock.armed

    async def wait() -> None:
        await until(lambda: controller.state is AppState.LOCKED, what="the idle lock", timeout=5)

    aio.run(wait())
    assert locks(harness) == [IDLE_CALLER]
    assert [g.scope for g in services.catalog.list_grants()] == [GrantScope.ALWAYS]
    # Locked with nothing short of always: no timer, and a second lock adds nothing to the audit.
    assert not controller.idle_lock.armed and active_timers(controller) == []
    controller.auto_lock(SCREEN_LOCK)
    assert locks(harness) == [IDLE_CALLER]

    # A new grant (the user is back) arms it again; the screen lock then ends it, once.
    fake_idle.input()
    grant(harness, GrantScope.TASK)

    async def rearmed() -> None:
        await until(lambda: controller.idle_lock.armed, what="re-armed by the grant")

    aio.run(rearmed())
    assert controller.state is AppState.READY
    controller.auto_lock(SCREEN_LOCK)
    controller.auto_lock(SCREEN_LOCK)
    assert locks(harness) == [IDLE_CALLER, SCREEN_LOCK]
    assert controller.state is AppState.LOCKED and not controller.idle_lock.armed

    # Setting 0 disarms at once, even with something to protect.
    grant(harness, GrantScope.ONCE)
    aio.run(rearmed())
    update(services.paths.settings_file, idle_lock_minutes=0)
    harness.events.changed.emit("settings")
    assert not controller.idle_lock.armed and active_timers(controller) == []
    # "Lock now" is the user's own: it always locks (and drops cached values).
    controller.lock()
    controller.lock()
    assert locks(harness) == [IDLE_CALLER, SCREEN_LOCK, "tray", "tray"]
