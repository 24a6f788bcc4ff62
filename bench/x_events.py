# SPDX-License-Identifier: Apache-2.0
"""What the prompt benchmark sees and does on an X display, from outside the app.

- `MapWatch`: every top-level window mapped on the display, stamped when the X server told us
  (`xev -root -event substructure`, line-buffered through `stdbuf`: MapNotify events of the root's
  children, which is what a new top-level window is when no window manager reparents it);
- `XKeys`: focus a window and press a key through the XTEST extension (libX11 and libXtst by ctypes),
  as a user's keyboard would.

Linux only (Xvfb). `missing()` names what is not installed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass

__all__ = ["MapWatch", "Mapped", "XKeys", "missing"]

_MAP = re.compile(r"^MapNotify event, serial \d+, synthetic (\w+)")
_CHILD = re.compile(r"window (0x[0-9a-f]+), override (\w+)")


def missing() -> list[str]:
    """Programs and libraries the benchmark needs that are not here."""
    gone = [tool for tool in ("Xvfb", "trayer", "xev", "stdbuf") if shutil.which(tool) is None]
    gone += [lib for lib in ("X11", "Xtst") if ctypes.util.find_library(lib) is None]
    return gone


@dataclass(frozen=True)
class Mapped:
    """One top-level window the X server mapped."""

    window: int
    at: float
    """time.monotonic() when the event reached us."""


class MapWatch:
    """Records MapNotify events of top-level windows on `display` (not override-redirect ones)."""

    def __init__(self, display: str) -> None:
        self._proc = subprocess.Popen(
            ["stdbuf", "-oL", "xev", "-display", display, "-root", "-event", "substructure"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._lock = threading.Lock()
        self.mapped: list[Mapped] = []
        self._thread = threading.Thread(target=self._read, name="xev", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        pending: float | None = None
        for line in self._proc.stdout:
            if _MAP.match(line):
                pending = time.monotonic()
                continue
            if pending is not None:
                child = _CHILD.search(line)
                if child is not None and child.group(2) == "NO":
                    with self._lock:
                        self.mapped.append(Mapped(int(child.group(1), 16), pending))
                pending = None

    def first_after(self, since: float, timeout: float) -> Mapped | None:
        """The first window mapped after monotonic time `since`, waiting up to `timeout` s for one."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = next((m for m in self.mapped if m.at >= since), None)
            if found is not None or time.monotonic() > deadline:
                return found
            time.sleep(0.002)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


class XKeys:
    """Key presses on `display` through XTEST."""

    _ESCAPE = 0xFF1B  # XK_Escape
    _REVERT_TO_PARENT = 2

    def __init__(self, display: str) -> None:
        self._x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        self._xtst = ctypes.CDLL(ctypes.util.find_library("Xtst") or "libXtst.so.6")
        self._x11.XOpenDisplay.restype = ctypes.c_void_p
        self._x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self._x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        self._x11.XKeysymToKeycode.restype = ctypes.c_ubyte
        self._x11.XSetInputFocus.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong]
        self._x11.XFlush.argtypes = [ctypes.c_void_p]
        self._x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self._x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self._xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
        self._dpy = self._x11.XOpenDisplay(display.encode())
        if not self._dpy:
            raise RuntimeError(f"cannot open X display {display}")

    def escape(self, window: int) -> None:
        """Give `window` the keyboard focus and press and release Escape."""
        self._x11.XSetInputFocus(self._dpy, window, self._REVERT_TO_PARENT, 0)
        self._x11.XSync(self._dpy, 0)
        code = self._x11.XKeysymToKeycode(self._dpy, self._ESCAPE)
        self._xtst.XTestFakeKeyEvent(self._dpy, code, 1, 0)
        self._xtst.XTestFakeKeyEvent(self._dpy, code, 0, 0)
        self._x11.XFlush(self._dpy)

    def close(self) -> None:
        if self._dpy:
            self._x11.XCloseDisplay(self._dpy)
            self._dpy = None
