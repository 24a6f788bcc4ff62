"""`instance.json`: who runs, where, and whether its bridge listens, is paused or could not start."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from keybroker.system.instance import BridgeState, read_instance, remove_instance, write_instance
from keybroker.system.paths import Paths


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths.from_env({"KEYBROKER_HOME": str(tmp_path / "home")})


def test_a_listening_bridge_keeps_the_four_fields_and_adds_its_state(paths: Paths) -> None:
    info = write_instance(paths, 7411)
    data = json.loads(paths.instance_file.read_text("utf-8"))
    assert data == {
        "pid": os.getpid(),
        "port": 7411,
        "url": "http://127.0.0.1:7411",
        "started": info.started,
        "bridge": "listening",
    }
    assert read_instance(paths) == info and info.listening


@pytest.mark.parametrize("state", [BridgeState.PAUSED, BridgeState.STOPPED])
def test_a_paused_or_stopped_bridge_is_still_a_running_instance(paths: Paths, state: BridgeState) -> None:
    write_instance(paths, 7411, bridge=state, started=1234.5)
    info = read_instance(paths)
    assert info is not None and info.bridge is state and not info.listening
    assert info.started == 1234.5 and info.port == 7411
    assert json.loads(paths.instance_file.read_text("utf-8"))["bridge"] == state.value


def test_a_file_from_an_older_writer_means_listening(paths: Paths) -> None:
    paths.runtime_dir.mkdir(parents=True)
    old = {"pid": os.getpid(), "port": 1, "url": "http://127.0.0.1:1", "started": 1.0}
    paths.instance_file.write_text(json.dumps(old), "utf-8")
    info = read_instance(paths)
    assert info is not None and info.bridge is BridgeState.LISTENING


def test_an_unknown_bridge_state_is_not_taken_for_listening(paths: Paths) -> None:
    paths.runtime_dir.mkdir(parents=True)
    data = {"pid": os.getpid(), "port": 1, "url": "http://127.0.0.1:1", "started": 1.0, "bridge": "?"}
    paths.instance_file.write_text(json.dumps(data), "utf-8")
    info = read_instance(paths)
    assert info is not None and not info.listening


def test_remove_takes_only_its_own_file(paths: Paths) -> None:
    write_instance(paths, 7411, bridge=BridgeState.PAUSED)
    remove_instance(paths)
    assert not paths.instance_file.exists()
