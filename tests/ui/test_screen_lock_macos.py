# SPDX-License-Identifier: Apache-2.0
"""macOS's lock on screen lock, on Linux: CoreFoundation as a fake library whose CFStrings are handles,
and the real ctypes callback called through its C function pointer, as CoreFoundation calls it."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication

from keybroker.ui import screen_lock_macos as mac
from keybroker.ui.screen_lock import SCREEN_LOCK, SLEEP, ScreenLockWatch
from keybroker.ui.screen_lock_macos import (
    SCREEN_IS_LOCKED,
    CFNotificationCallback,
    CoreFoundation,
    MacLockWatch,
    reason_for,
)

CENTER = 0xCE_0000
WATCHING = [f"distributed notification {SCREEN_IS_LOCKED}"]


def post(callback: Any, name: int | None, observer: int = 0) -> None:
    """Call `callback` as CoreFoundation does: through its C function pointer."""
    address = ctypes.cast(callback, ctypes.c_void_p).value
    assert address
    CFNotificationCallback(address)(CENTER, observer or None, name, None, None)


class FakeCoreFoundation:
    """CoreFoundation's functions used here; a CFString is an int handle into `strings`."""

    def __init__(self, center: int | None = CENTER) -> None:
        self.center = center
        self.strings: dict[int, bytes] = {}
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.CFNotificationCenterGetDistributedCenter = self._recorded("GetDistributedCenter", lambda: center)
        self.CFNotificationCenterAddObserver = self._recorded("AddObserver", lambda *a: None)
        self.CFNotificationCenterRemoveEveryObserver = self._recorded("RemoveEveryObserver", lambda *a: None)
        self.CFStringCreateWithCString = self._recorded("CFStringCreateWithCString", self._create)
        self.CFRelease = self._recorded("CFRelease", lambda handle: None)
        self.CFStringGetCString = self._recorded("CFStringGetCString", self._get_c_string)

    def _recorded(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            self.calls.append((name, args))
            return function(*args)

        return call

    def cf_string(self, text: bytes) -> int:
        handle = 0x5_0000 + len(self.strings) * 0x10
        self.strings[handle] = text
        return handle

    def _create(self, allocator: None, text: bytes, encoding: int) -> int:
        assert allocator is None and encoding == mac.UTF8
        return self.cf_string(text)

    def _get_c_string(self, handle: int, buffer: Any, size: int, encoding: int) -> bool:
        text = self.strings[handle]
        if encoding != mac.UTF8 or len(text) + 1 > size:
            return False
        buffer.value = text
        return True

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for call, args in self.calls if call == name]


class FakeCenter:
    """A `NotificationCenter` at the protocol level: names are handles into `names`."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.names = {
            1: SCREEN_IS_LOCKED,
            2: "com.apple.screenIsUnlocked",
            3: "com.apple.screensaver.didstart",
        }
        self.observers: dict[int, tuple[str, Any]] = {}
        self.removed: list[int] = []

    def add_observer(self, observer: int, name: str, callback: Callable[..., None]) -> None:
        if self.refuse:
            raise OSError("CFStringCreateWithCString failed")
        self.observers[observer] = (name, callback)

    def remove_observer(self, observer: int) -> None:
        self.removed.append(observer)
        self.observers.pop(observer, None)

    def text(self, cf_string: int | None) -> str | None:
        return self.names.get(cf_string) if cf_string else None


# Names to reasons ----------------------------------------------------------------------------------------


def test_only_the_screen_lock_notification_has_a_reason() -> None:
    assert reason_for("com.apple.screenIsLocked") == SCREEN_LOCK
    for other in ("com.apple.screenIsUnlocked", "com.apple.screensaver.didstart", "", None):
        assert reason_for(other) is None
    assert set(mac.REASONS.values()) == {SCREEN_LOCK}


# The watch -------------------------------------------------------------------------------------------


def test_the_screen_lock_notification_locks_and_others_do_not() -> None:
    center = FakeCenter()
    seen: list[str] = []
    watch = MacLockWatch(seen.append, center=lambda: center)
    assert watch.start() == WATCHING
    assert watch.start() == WATCHING and len(center.observers) == 1  # once
    [(observer, (name, callback))] = center.observers.items()
    assert name == SCREEN_IS_LOCKED and callback is watch.callback
    assert isinstance(callback, CFNotificationCallback)

    gc.collect()  # the watch keeps the callback: its C pointer still works
    for handle in (2, 3, None, 99):  # unlocked, screensaver, NULL name, a name it cannot read
        post(callback, handle, observer)
    assert seen == []
    post(callback, 1, observer)
    assert seen == [SCREEN_LOCK]

    watch.stop()
    assert center.removed == [observer] and watch.callback is None and watch.watching() == []
    watch.stop()
    assert center.removed == [observer]


def test_a_notification_after_stop_is_ignored() -> None:
    center = FakeCenter()
    seen: list[str] = []
    watch = MacLockWatch(seen.append, center=lambda: center)
    watch.start()
    callback = watch.callback  # as if CoreFoundation delivered one it had queued before the removal
    watch.stop()
    post(callback, 1)
    assert seen == []


@pytest.mark.parametrize("failure", ["no framework", "refused"])
def test_failing_to_observe_watches_nothing(failure: str, caplog: pytest.LogCaptureFixture) -> None:
    center = FakeCenter(refuse=failure == "refused")

    def make() -> FakeCenter:
        if failure == "no framework":
            raise OSError("CoreFoundation: image not found")
        return center

    watch = MacLockWatch(lambda reason: None, center=make)
    with caplog.at_level("WARNING", logger="keybroker.ui"):
        assert watch.start() == []
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith("lock on screen lock: macOS notifications unavailable")
    assert watch.callback is None
    watch.stop()
    assert center.removed == []


# CoreFoundation, as a fake library, through ScreenLockWatch on darwin -------------------------------------


def test_corefoundation_calls_and_the_locked_signal(app: QApplication) -> None:
    lib = FakeCoreFoundation()

    def no_bus() -> Any:
        raise AssertionError("no D-Bus on macOS")

    watch = ScreenLockWatch(
        platform="darwin", session_bus=no_bus, system_bus=no_bus, macos_center=lambda: CoreFoundation(lib)
    )
    seen: list[str] = []
    watch.locked.connect(seen.append)
    assert watch.start() == WATCHING
    assert lib.named("CFStringCreateWithCString") == [(None, b"com.apple.screenIsLocked", mac.UTF8)]
    [name_handle] = lib.strings
    [(center, observer, callback, name, obj, behaviour)] = lib.named("AddObserver")
    assert (center, name, obj, behaviour) == (CENTER, name_handle, None, mac.DELIVER_IMMEDIATELY)
    assert observer and isinstance(callback, CFNotificationCallback)
    assert lib.CFNotificationCenterAddObserver.argtypes[2] is CFNotificationCallback  # type: ignore[attr-defined]

    # CoreFoundation hands the callback its own CFString for the name.
    post(callback, lib.cf_string(b"com.apple.screenIsUnlocked"), observer)
    post(callback, lib.cf_string(b"com.apple." + b"x" * 300), observer)  # too long to be ours
    post(callback, name_handle, observer)
    assert seen == [SCREEN_LOCK]

    watch.stop()
    assert lib.named("RemoveEveryObserver") == [(CENTER, observer)]
    assert lib.named("CFRelease") == [(name_handle,)]  # the name it created, once removed
    assert watch.watching == []
    assert lib.calls[-2:] == [("RemoveEveryObserver", (CENTER, observer)), ("CFRelease", (name_handle,))]


def test_no_distributed_center_watches_nothing(app: QApplication) -> None:
    lib = FakeCoreFoundation(center=None)
    watch = ScreenLockWatch(platform="darwin", macos_center=lambda: CoreFoundation(lib))
    assert watch.start() == []
    assert lib.named("AddObserver") == []
    assert SLEEP not in mac.REASONS.values()  # sleep is not watched apart on macOS


def test_without_corefoundation_nothing_is_watched(
    app: QApplication, caplog: pytest.LogCaptureFixture
) -> None:
    # The real loader on this (non-macOS) machine: one line, no exception, nothing watched.
    watch = ScreenLockWatch(platform="darwin")
    with caplog.at_level("WARNING", logger="keybroker.ui"):
        assert watch.start() == []
    assert caplog.text.count("macOS notifications unavailable") == 1
    watch.stop()
