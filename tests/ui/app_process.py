# SPDX-License-Identifier: Apache-2.0
"""The tray app as a real process (`python -m keybroker -v`), and an Xvfb display with a tray host."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from keybroker.system.paths import Paths
from tests.conftest import subprocess_env

START_TIMEOUT = 60.0


class AppProcess:
    """One app process; its stderr (the `-v` log) goes to a file the test reads."""

    def __init__(
        self,
        tmp_path: Path,
        env: Mapping[str, str | None],
        argv: tuple[str, ...] = (),
        *,
        program: tuple[str, ...] | None = None,
    ) -> None:
        """`python -m keybroker -v ARGV` with the source tree on its path; or `program -v ARGV` (an
        installed bundle) with exactly `env`."""
        self.log_path = tmp_path / f"app-{time.monotonic_ns()}.log"
        if program is None:
            program = (sys.executable, "-m", "keybroker")
            self.env = subprocess_env(env)
        else:
            self.env = {k: v for k, v in env.items() if v is not None}
        self.paths = Paths.from_env(self.env)
        self.started_at = time.time()
        self.started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*program, "-v", *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=tmp_path,
            )

    @property
    def log(self) -> str:
        """Everything logged so far."""
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> float:
        """Seconds since launch when `text` appeared in the log; AssertionError on exit or timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log:
                return time.monotonic() - self.started
            if self.process.poll() is not None:
                raise AssertionError(f"app exited ({self.process.returncode}) before {text!r}:\n{self.log}")
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged within {timeout:g} s:\n{self.log}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig` and wait for the exit code (killed, and AssertionError, if it does not exit)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                raise AssertionError(f"app did not exit within {timeout:g} s of {sig}:\n{self.log}") from None
        return int(self.process.returncode)


@dataclass
class TrayDisplay:
    """An Xvfb display with `trayer` as its system tray."""

    display: str
    xvfb: subprocess.Popen[bytes]
    trayer: subprocess.Popen[bytes]

    def stop(self) -> None:
        for process in (self.trayer, self.xvfb):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


def missing_tray_tools() -> list[str]:
    """The programs a tray display needs that are not installed."""
    return [tool for tool in ("Xvfb", "trayer") if shutil.which(tool) is None]


PANEL_WIDTH, PANEL_HEIGHT = 240, 30

_COUNT_KEY_TILE_PIXELS = """
import sys
from PySide6.QtGui import QGuiApplication
app = QGuiApplication([])
shot = QGuiApplication.primaryScreen().grabWindow(0).toImage()
w, h = int(sys.argv[1]), int(sys.argv[2])
n = 0
for x in range(shot.width() - w, shot.width()):
    for y in range(h):
        c = shot.pixelColor(x, y)
        n += c.blue() > 150 and c.red() < 110 and c.green() < 150  # the icon's blue tile
print(n)
"""


def tray_tile_pixels(display: str) -> int:
    """How many pixels of trayer's panel (top right) show the key icon's blue tile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb")
    result = subprocess.run(
        [sys.executable, "-c", _COUNT_KEY_TILE_PIXELS, str(PANEL_WIDTH), str(PANEL_HEIGHT)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(result.stdout.strip() or 0)


def start_tray_display(tmp_path: Path, size: str = "1280x800x24") -> TrayDisplay:
    """Xvfb on a free display number (it picks one: -displayfd), then trayer on it."""
    read, write = os.pipe()
    with (tmp_path / "xvfb.log").open("wb") as log:
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", size, "-nolisten", "tcp"],
            pass_fds=(write,),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        xvfb.kill()
        raise RuntimeError("Xvfb did not report a display number")
    display = f":{number}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    env["DISPLAY"] = display
    with (tmp_path / "trayer.log").open("wb") as log:
        trayer = subprocess.Popen(
            [
                "trayer",
                "--edge",
                "top",
                "--align",
                "right",
                "--widthtype",
                "pixel",
                "--width",
                str(PANEL_WIDTH),
                "--height",
                str(PANEL_HEIGHT),
                "--transparent",
                "false",
                "--tint",
                "0xdee2e6",
                "--expand",
                "false",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    tray = TrayDisplay(display, xvfb, trayer)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if trayer.poll() is not None:
            break
        if shutil.which("xwininfo") is None or '"panel"' in x_tree(display):
            time.sleep(0.3)  # let it map
            return tray
        time.sleep(0.1)
    tray.stop()
    raise RuntimeError("trayer did not show its panel")


def x_tree(display: str) -> str:
    """`xwininfo -root -tree` of the display ("" without xwininfo, from x11-utils)."""
    if shutil.which("xwininfo") is None:
        return ""
    result = subprocess.run(
        ["xwininfo", "-root", "-tree"],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    return result.stdout


def embedded_in_tray(tree: str, wm_class: str = '"keybroker")') -> bool:
    """Whether a window of `wm_class` sits inside trayer's panel in an `xwininfo -tree` listing."""
    lines = tree.splitlines()
    for n, line in enumerate(lines):
        if '"panel"' in line:
            depth = len(line) - len(line.lstrip())
            for child in lines[n + 1 :]:
                if child.strip() and len(child) - len(child.lstrip()) <= depth:
                    break
                if wm_class in child:
                    return True
    return False
