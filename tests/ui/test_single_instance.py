# SPDX-License-Identifier: Apache-2.0
"""One app per user and Keybroker home: the handoff, a stale socket, and names per home."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from keybroker.system.paths import Paths
from keybroker.ui.single_instance import InstanceLock, InstanceServer, hand_off, server_name
from tests.conftest import subprocess_env


def paths_for(home: Path) -> Paths:
    return Paths.from_env({"KEYBROKER_HOME": str(home)})


def test_names_differ_per_home_and_stay_short(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    a = server_name(paths_for(tmp_path / "a"), env)
    b = server_name(paths_for(tmp_path / "b"), env)
    assert a != b and a == server_name(paths_for(tmp_path / "a"), env)
    assert a.startswith(str(tmp_path))  # in the private runtime dir
    deep = tmp_path / ("x" * 120)
    deep.mkdir()
    far = server_name(paths_for(tmp_path / "a"), {"XDG_RUNTIME_DIR": str(deep)})
    assert "/" not in far and len(far) < 100  # too long for a socket path: Qt's default dir


HAND_OFF = """
import sys
from PySide6.QtCore import QCoreApplication
from keybroker.ui.single_instance import hand_off
app = QCoreApplication([])
sys.exit(0 if hand_off(sys.argv[1]) else 3)
"""


def test_a_second_launch_hands_over_to_the_first(app: QApplication, qtbot: QtBot, tmp_path: Path) -> None:
    # The second launch is another process (a blocking wait in a thread here would hold the GIL
    # the first one's slot needs).
    name = server_name(paths_for(tmp_path / "home"), {"XDG_RUNTIME_DIR": str(tmp_path)})
    assert not hand_off(name, timeout_ms=300)  # nobody runs yet: this launch is the first
    server = InstanceServer(name)
    assert server.listen()
    try:
        with qtbot.waitSignal(server.show_requested, timeout=10_000):
            second = subprocess.Popen(
                [sys.executable, "-c", HAND_OFF, name], env=subprocess_env(), stderr=subprocess.PIPE
            )
        qtbot.waitUntil(lambda: second.poll() is not None, timeout=10_000)
    finally:
        server.close()
    _, err = second.communicate()
    assert second.returncode == 0, err
    assert not hand_off(name, timeout_ms=300)  # closed: the name is free again


def test_a_stale_socket_is_taken_over(app: QApplication, tmp_path: Path) -> None:
    name = str(tmp_path / "stale.sock")
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(name)  # a crashed app's socket file: nobody accepts on it
    left.close()
    assert Path(name).exists()
    server = InstanceServer(name)
    try:
        assert server.listen()
    finally:
        server.close()


def test_the_lock_lets_one_app_be_first(tmp_path: Path) -> None:
    first, second = InstanceLock(tmp_path / "run" / "app.lock"), InstanceLock(tmp_path / "run" / "app.lock")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_a_live_server_is_not_taken_over(app: QApplication, tmp_path: Path) -> None:
    name = str(tmp_path / "live.sock")
    first, second = InstanceServer(name), InstanceServer(name)
    try:
        assert first.listen()
        assert not second.listen()
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("payload", [b"", b"hello\n"])
def test_other_messages_do_not_show(app: QApplication, qtbot: QtBot, tmp_path: Path, payload: bytes) -> None:
    name = str(tmp_path / "s.sock")
    server = InstanceServer(name)
    assert server.listen()
    shown: list[bool] = []
    server.show_requested.connect(lambda: shown.append(True))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(name)
            client.sendall(payload)
            qtbot.wait(200)
    finally:
        server.close()
    assert shown == []
