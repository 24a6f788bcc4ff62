# SPDX-License-Identifier: Apache-2.0
"""The tray app as a process: start, clean shutdown on SIGTERM and on the session's end, one instance
per home, a taken port and a missing vault; and its icon in a real tray host (Xvfb + trayer)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keybroker.system.instance import read_instance
from tests.conftest import IsolatedEnv, RunCli, subprocess_env
from tests.ui.app_process import (
    AppProcess,
    TrayDisplay,
    embedded_in_tray,
    missing_tray_tools,
    start_tray_display,
    tray_tile_pixels,
    x_tree,
)

pytestmark = pytest.mark.slow

OFFSCREEN = {"QT_QPA_PLATFORM": "offscreen", "KEYBROKER_PORT": "0", "KEYBROKER_VAULT": "memory"}


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[list[AppProcess]]:
    started: list[AppProcess] = []
    yield started
    for app in started:
        if app.process.poll() is None:
            app.process.kill()
            app.process.wait(10)


def launch(apps: list[AppProcess], tmp_path: Path, **env: str | None) -> AppProcess:
    app = AppProcess(tmp_path, {**OFFSCREEN, **env})
    apps.append(app)
    return app


def test_sigterm_stops_everything_cleanly(apps: list[AppProcess], tmp_path: Path) -> None:
    app = launch(apps, tmp_path)
    app.wait_for("state: ready")
    info = read_instance(app.paths)
    assert info is not None and info.pid == app.process.pid
    response = httpx.get(f"{info.url}/api/v1/status", trust_env=False, timeout=5)
    assert response.status_code == 401  # the management API answers (and wants its token)
    assert app.stop(signal.SIGTERM) == 0
    assert not app.paths.instance_file.exists()
    assert "bridge on port" in app.log and "stopped" in app.log.splitlines()[-1]
    with pytest.raises(httpx.TransportError):
        httpx.get(info.url, trust_env=False, timeout=2)


QUIT_FROM_OUTSIDE = """
import os, sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

app = QApplication(["keybroker"])
instance = Path(sys.argv[1])

def check():
    # What the session manager does at logout: QApplication.quit(), outside our Quit.
    if instance.exists():
        QTimer.singleShot(200, app.quit)
    else:
        QTimer.singleShot(50, check)

QTimer.singleShot(50, check)
from keybroker.app import run
sys.exit(run(dict(os.environ)))
"""


def test_the_session_ending_stops_everything_cleanly(isolated_env: IsolatedEnv, tmp_path: Path) -> None:
    instance_file = isolated_env.keybroker_home / "runtime" / "instance.json"
    result = subprocess.run(
        [sys.executable, "-c", QUIT_FROM_OUTSIDE, str(instance_file)],
        env=subprocess_env(OFFSCREEN),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not instance_file.exists()


def test_a_second_launch_hands_over_and_exits(apps: list[AppProcess], tmp_path: Path) -> None:
    first = launch(apps, tmp_path)
    first.wait_for("state: ready")
    second = launch(apps, tmp_path)
    assert second.process.wait(30) == 0, second.log
    info = read_instance(first.paths)
    assert info is not None
    assert f"already running: pid {first.process.pid}, {info.url}" in second.log
    first.wait_for("another launch asked this app to show itself", timeout=10)
    assert first.process.poll() is None
    assert first.stop() == 0


def test_a_taken_port_leaves_the_app_running_with_the_bridge_stopped(
    apps: list[AppProcess], tmp_path: Path, run_cli: RunCli
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = launch(apps, tmp_path, KEYBROKER_PORT=str(port))
        app.wait_for("state: stopped")
        assert f"cannot listen on 127.0.0.1:{port}" in app.log
        assert app.process.poll() is None
        # It runs: the CLI and a second launch say so, and why nothing can be sent through it.
        status = run_cli("status")
        assert status.stdout.startswith(f"running, bridge stopped: pid {app.process.pid}; port {port}")
        send = run_cli("send", "demo", "hello")
        assert send.returncode == 6 and f"its bridge is stopped (port {port} is taken)" in send.stderr
        second = launch(apps, tmp_path, KEYBROKER_PORT=str(port))
        assert second.process.wait(30) == 0, second.log
        assert "already running, bridge stopped" in second.log
    assert app.stop() == 0
    assert not app.paths.instance_file.exists()


def test_without_a_vault_the_app_runs_and_says_why(apps: list[AppProcess], tmp_path: Path) -> None:
    app = launch(apps, tmp_path, KEYBROKER_VAULT="system", DBUS_SESSION_BUS_ADDRESS=None)
    app.wait_for("state: vault-unavailable")
    assert "no usable OS vault" in app.log and "KEYBROKER_VAULT=memory" in app.log
    assert app.process.poll() is None
    assert app.stop() == 0


# In a real tray ------------------------------------------------------------------------------------


@pytest.fixture
def tray_display(tmp_path: Path) -> Iterator[TrayDisplay]:
    missing = missing_tray_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (make test installs xvfb and trayer)")
    display = start_tray_display(tmp_path)
    yield display
    display.stop()


def test_the_icon_shows_in_a_tray_host(
    apps: list[AppProcess], tmp_path: Path, tray_display: TrayDisplay, record_property: object
) -> None:
    env = {
        "QT_QPA_PLATFORM": "xcb",
        "DISPLAY": tray_display.display,
        # XEmbed through trayer: no StatusNotifier watcher on a bus.
        "DBUS_SESSION_BUS_ADDRESS": None,
    }
    app = launch(apps, tmp_path, **env)
    shown_after = app.wait_for("tray icon shown")
    ready_after = app.wait_for("state: ready")
    assert "no system tray" not in app.log
    assert tray_tile_pixels(tray_display.display) > 50  # the key icon is painted in trayer's panel
    if shutil.which("xwininfo"):  # and its window is embedded in the panel (x11-utils)
        tree = ""
        for _ in range(50):
            tree = x_tree(tray_display.display)
            if embedded_in_tray(tree):
                break
            time.sleep(0.1)
        assert embedded_in_tray(tree), tree
    print(f"tray icon {shown_after:.2f} s after launch; bridge ready after {ready_after:.2f} s")
    if callable(record_property):
        record_property("seconds_to_tray_icon", round(shown_after, 3))
    assert app.stop() == 0
    assert os.environ.get("KEYBROKER_HOME") is not None
