# SPDX-License-Identifier: Apache-2.0
"""The login entry starts Keybroker with `--autostart`, and `keybroker --autostart` is a quiet start
(KEYBROKER_AUTOSTART=1 for the app, DESIGN §5), on every platform's entry."""

from __future__ import annotations

import plistlib
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from keybroker import app_launcher
from keybroker.app import AUTOSTART_ENV
from keybroker.cli.main import main
from keybroker.system.autostart import AUTOSTART_ARGS, Autostart, launch_command

APP_ID = "io.github.keybroker.Keybroker"


class FakeRunKey:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, command_line: str) -> None:
        self.values[name] = command_line

    def delete(self, name: str) -> bool:
        return self.values.pop(name, None) is not None


def test_the_quiet_start_flag_is_what_the_entry_passes() -> None:
    assert AUTOSTART_ARGS == ("--autostart",)


def test_a_frozen_bundle_entry_starts_the_bundle_quietly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/keybroker/keybroker")
    auto = Autostart(platform="linux", environ={}, home=tmp_path)
    assert auto.command == ("/opt/keybroker/keybroker", "--autostart")
    auto.enable()
    assert "Exec=/opt/keybroker/keybroker --autostart" in (auto.path or Path()).read_text().splitlines()


def test_the_macos_launch_agent_passes_the_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    program = "/Applications/Keybroker.app/Contents/MacOS/keybroker"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", program)
    auto = Autostart(platform="darwin", environ={}, home=tmp_path)
    auto.enable()
    agent = plistlib.loads((tmp_path / "Library" / "LaunchAgents" / f"{APP_ID}.plist").read_bytes())
    assert agent["ProgramArguments"] == [program, "--autostart"]


def test_the_windows_run_key_passes_the_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    program = "C:\\Users\\me\\AppData\\Local\\Programs\\Keybroker\\Keybroker.exe"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", program)
    key = FakeRunKey()
    Autostart(platform="win32", environ={}, home=tmp_path, run_key=key).enable()
    assert key.values == {"Keybroker": f"{program} --autostart"}


def test_from_source_the_entry_runs_the_script_quietly(tmp_path: Path) -> None:
    python = tmp_path / "venv" / "bin" / "python"
    script = python.with_name("keybroker")
    for path in (python, script):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    command = launch_command("linux", executable=str(python), frozen=False, args=AUTOSTART_ARGS)
    assert command == (str(script), "--autostart")


def _captured_launch(monkeypatch: pytest.MonkeyPatch) -> list[Mapping[str, str]]:
    seen: list[Mapping[str, str]] = []

    def launch(environ: Mapping[str, str]) -> int:
        seen.append(dict(environ))
        return 0

    monkeypatch.setattr(app_launcher, "launch_app", launch)
    return seen


def test_the_flag_sets_the_quiet_start_for_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _captured_launch(monkeypatch)
    monkeypatch.delenv(AUTOSTART_ENV, raising=False)
    assert main(["--autostart"]) == 0
    assert seen[-1][AUTOSTART_ENV] == "1"
    assert main([]) == 0
    assert AUTOSTART_ENV not in seen[-1]


def test_the_flag_takes_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--autostart", "status"])
    assert exited.value.code == 2
    assert "--autostart takes no command" in capsys.readouterr().err
