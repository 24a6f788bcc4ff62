# SPDX-License-Identifier: Apache-2.0
"""macOS: the screen locks -> `on_lock("screen-lock")`.

The distributed notification `com.apple.screenIsLocked` (posted when the screen locks), observed
through CoreFoundation's `CFNotificationCenterGetDistributedCenter` + `CFNotificationCenterAddObserver`
with a ctypes callback, so there is no pyobjc dependency. Qt's event loop on macOS runs the main
CFRunLoop, which delivers the callback on the main thread.

Sleep itself is not watched here: `NSWorkspaceWillSleepNotification` is posted only on NSWorkspace's own
notification center, which CoreFoundation cannot reach (it would take pyobjc or IOKit power callbacks).
A sleep locks only when the screen locks with it (a password required right after sleep).

The OS calls sit behind `NotificationCenter` (`CoreFoundation` is the real one) and the framework is
loaded only in `system_center`, so every branch here is tested on Linux with a fake library, calling
the real ctypes callback through its C function pointer.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("keybroker.ui")

COREFOUNDATION = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
SCREEN_IS_LOCKED = "com.apple.screenIsLocked"
#: notification name -> `locked` reason (the reasons are those of `screen_lock`).
REASONS = {SCREEN_IS_LOCKED: "screen-lock"}
#: kCFStringEncodingUTF8
UTF8 = 0x08000100
#: CFNotificationSuspensionBehaviorDeliverImmediately: a tray app is never the active app; the default
#: behaviour could hold the notification back while it is in the background.
DELIVER_IMMEDIATELY = 4
#: Room for a notification name read back from a CFString (names are short reverse-DNS strings).
NAME_BYTES = 256

#: void (*)(CFNotificationCenterRef center, void *observer, CFStringRef name, const void *object,
#: CFDictionaryRef userInfo)
CFNotificationCallback = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p
)
#: What ctypes passes to the callback: each pointer as an int, NULL as None.
Pointer = int | None


def reason_for(name: str | None) -> str | None:
    """The lock reason of a notification name, or None for any other notification."""
    return REASONS.get(name) if name else None


class NotificationCenter(Protocol):
    """The distributed notification center (`CoreFoundation`; fakes in tests)."""

    def add_observer(self, observer: int, name: str, callback: Callable[..., None]) -> None:
        """Call `callback` (a `CFNotificationCallback`) for notification `name`; OSError on failure."""
        ...

    def remove_observer(self, observer: int) -> None:
        """Stop every callback of `observer`."""
        ...

    def text(self, cf_string: Pointer) -> str | None:
        """A CFString the callback received, as text (None when it cannot be read)."""
        ...


class CoreFoundation:
    """The real `NotificationCenter`, over CoreFoundation (or a stand-in library in tests)."""

    def __init__(self, lib: Any) -> None:
        void_p = ctypes.c_void_p
        lib.CFNotificationCenterGetDistributedCenter.argtypes = []
        lib.CFNotificationCenterGetDistributedCenter.restype = void_p
        lib.CFNotificationCenterAddObserver.argtypes = [
            void_p,
            void_p,
            CFNotificationCallback,
            void_p,
            void_p,
            ctypes.c_long,  # CFIndex
        ]
        lib.CFNotificationCenterAddObserver.restype = None
        lib.CFNotificationCenterRemoveEveryObserver.argtypes = [void_p, void_p]
        lib.CFNotificationCenterRemoveEveryObserver.restype = None
        lib.CFStringCreateWithCString.argtypes = [void_p, ctypes.c_char_p, ctypes.c_uint32]
        lib.CFStringCreateWithCString.restype = void_p
        lib.CFStringGetCString.argtypes = [void_p, ctypes.c_char_p, ctypes.c_long, ctypes.c_uint32]
        lib.CFStringGetCString.restype = ctypes.c_bool
        lib.CFRelease.argtypes = [void_p]
        lib.CFRelease.restype = None
        self._lib = lib
        # A "Get" function: the center is not ours to release.
        self._center = lib.CFNotificationCenterGetDistributedCenter()
        if not self._center:
            raise OSError("CoreFoundation has no distributed notification center")
        self._names: dict[int, list[int]] = {}
        """observer -> the CFStrings created for its names, released when it is removed."""

    def add_observer(self, observer: int, name: str, callback: Callable[..., None]) -> None:
        cf_name = self._lib.CFStringCreateWithCString(None, name.encode(), UTF8)
        if not cf_name:
            raise OSError(f"CFStringCreateWithCString failed for {name}")
        self._names.setdefault(observer, []).append(cf_name)
        self._lib.CFNotificationCenterAddObserver(
            self._center, observer, callback, cf_name, None, DELIVER_IMMEDIATELY
        )

    def remove_observer(self, observer: int) -> None:
        self._lib.CFNotificationCenterRemoveEveryObserver(self._center, observer)
        for cf_name in self._names.pop(observer, []):
            self._lib.CFRelease(cf_name)

    def text(self, cf_string: Pointer) -> str | None:
        if not cf_string:
            return None
        buffer = ctypes.create_string_buffer(NAME_BYTES)
        if not self._lib.CFStringGetCString(cf_string, buffer, NAME_BYTES, UTF8):
            return None  # longer than NAME_BYTES: not a name we watch
        return buffer.value.decode("utf-8", "replace")


def system_center() -> NotificationCenter:
    """This Mac's CoreFoundation; OSError elsewhere (the framework does not load)."""
    return CoreFoundation(ctypes.CDLL(COREFOUNDATION))


class MacLockWatch:
    """Screen lock on macOS, from `start` to `stop`."""

    def __init__(
        self,
        on_lock: Callable[[str], None],
        *,
        center: Callable[[], NotificationCenter] = system_center,
    ) -> None:
        self._on_lock = on_lock
        self._make_center = center
        self._center: NotificationCenter | None = None
        # CoreFoundation keeps only the C pointer: the ctypes object must live as long as the observer,
        # or the callback would jump into freed memory.
        self._callback: Any = None
        self._observer = id(self)  # any unique non-NULL pointer identifies the observer

    @property
    def callback(self) -> Any:
        """The `CFNotificationCallback` handed to CoreFoundation while watching."""
        return self._callback

    def start(self) -> list[str]:
        """Add the observer; what is watched (nothing when CoreFoundation is not there)."""
        if self._center is None:
            callback = CFNotificationCallback(self._on_notification)
            try:
                center = self._make_center()
                center.add_observer(self._observer, SCREEN_IS_LOCKED, callback)
            except (OSError, AttributeError, ctypes.ArgumentError) as exc:
                # a missing framework or function: idle lock still works, the app goes on
                log.warning("lock on screen lock: macOS notifications unavailable (%s)", exc)
                return []
            self._center, self._callback = center, callback
        return self.watching()

    def watching(self) -> list[str]:
        """What is watched now."""
        return [f"distributed notification {SCREEN_IS_LOCKED}"] if self._center is not None else []

    def stop(self) -> None:
        """Remove the observer, then let go of the callback."""
        if self._center is not None:
            self._center.remove_observer(self._observer)
        self._center = None
        self._callback = None

    def _on_notification(
        self, center: Pointer, observer: Pointer, name: Pointer, obj: Pointer, user_info: Pointer
    ) -> None:
        if self._center is None:
            return
        reason = reason_for(self._center.text(name))
        if reason is not None:
            self._on_lock(reason)
