# SPDX-License-Identifier: Apache-2.0
"""`system/autostart.py`: the per-user login entry on Linux (XDG), macOS (LaunchAgent) and Windows (Run key),
each branch chosen by an explicit platform and written under tmp_path."""

from __future__ import annotations

import os
import plistlib
import stat
import subprocess
from pathlib import Path

import pytest

from keybroker.system.autostart import Autostart, AutostartError, launch_command, xdg_config_home
from keybroker.system.autostart_entries import desktop_entry, exec_line

APP_ID = "io.github.keybroker.Keybroker"


def unquote_exec(line: str) -> list[str]:
    """The Desktop Entry spec's reading of an Exec value: string escapes, then quoting, then %%."""
    text = line.replace("\\\\", "\x00").replace("\\s", " ").replace("\\n", "\n").replace("\\t", "\t")
    text = text.replace("\\r", "\r").replace("\x00", "\\")
    args: list[str] = []
    current: list[str] | None = None
    i = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            current = current if current is not None else []
            i += 1
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                current.append(text[i])
                i += 1
        elif c == " ":
            if current is not None:
                args.append("".join(current))
            current = None
        else:
            current = (current or []) + [c]
        i += 1
    if current is not None:
        args.append("".join(current))
    return [a.replace("%%", "%") for a in args]


class FakeRunKey:
    """The Windows Run key as a dict."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, command_line: str) -> None:
        self.values[name] = command_line

    def delete(self, name: str) -> bool:
        return self.values.pop(name, None) is not None


# Linux ---------------------------------------------------------------------------------------------


def test_xdg_config_home_is_honoured_and_falls_back_to_dot_config(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert xdg_config_home({"XDG_CONFIG_HOME": str(tmp_path / "cfg")}, home) == tmp_path / "cfg"
    assert xdg_config_home({}, home) == home / ".config"
    assert xdg_config_home({"XDG_CONFIG_HOME": ""}, home) == home / ".config"
    assert xdg_config_home({"XDG_CONFIG_HOME": "relative/dir"}, home) == home / ".config"


def test_linux_entry_is_written_read_and_removed(tmp_path: Path) -> None:
    auto = Autostart(
        platform="linux",
        environ={"XDG_CONFIG_HOME": str(tmp_path / "cfg")},
        home=tmp_path / "home",
        command=("/usr/bin/keybroker",),
    )
    entry = tmp_path / "cfg" / "autostart" / f"{APP_ID}.desktop"
    assert auto.path == entry and auto.location == str(entry)
    assert not auto.is_enabled() and not auto.is_current()
    auto.enable()
    text = entry.read_text("utf-8")
    lines = text.splitlines()
    assert lines[0] == "[Desktop Entry]"
    for expected in (
        "Type=Application",
        "Name=Keybroker",
        "Exec=/usr/bin/keybroker",
        f"Icon={APP_ID}",
        "Terminal=false",
        "X-GNOME-Autostart-enabled=true",
    ):
        assert expected in lines
    assert stat.S_IMODE(entry.stat().st_mode) == 0o644
    assert auto.is_enabled() and auto.is_current()
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]  # no temp file left
    assert auto.disable() is True
    assert not entry.exists() and not auto.is_enabled()
    assert auto.disable() is False


def test_home_comes_from_the_environment_without_xdg(tmp_path: Path) -> None:
    auto = Autostart(platform="linux", environ={"HOME": str(tmp_path)}, command=("keybroker",))
    assert auto.path == tmp_path / ".config" / "autostart" / f"{APP_ID}.desktop"


@pytest.mark.parametrize(("key", "value"), [("Hidden", "true"), ("X-GNOME-Autostart-enabled", "false")])
def test_an_entry_switched_off_by_the_desktop_counts_as_disabled(
    tmp_path: Path, key: str, value: str
) -> None:
    auto = Autostart(platform="linux", environ={"XDG_CONFIG_HOME": str(tmp_path)}, command=("keybroker",))
    auto.enable()
    assert auto.path is not None
    text = auto.path.read_text("utf-8").replace("X-GNOME-Autostart-enabled=true\n", "")
    auto.path.write_text(text + f"{key}={value}\n")
    assert not auto.is_enabled()
    auto.enable()
    assert auto.is_enabled()


def test_an_entry_for_another_install_is_not_current(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    Autostart(platform="linux", environ=env, command=("/opt/old/keybroker",)).enable()
    auto = Autostart(platform="linux", environ=env, command=("/usr/bin/keybroker",))
    assert auto.is_enabled() and not auto.is_current()


@pytest.mark.parametrize(
    "command",
    [
        ["/usr/bin/keybroker"],
        ["/home/me/My Venv/bin/python", "-m", "keybroker"],
        ["/opt/weird $HOME/`x`/keybroker", 'say "hi"', "back\\slash", "100%", "tab\there", ""],
        ["C:\\Program Files\\Keybroker\\keybroker.exe", "~user", "a;b|c&d", "#x", "(y)", "*?<>'"],
    ],
)
def test_exec_lines_read_back_as_the_same_arguments(command: list[str]) -> None:
    line = exec_line(command)
    assert "\n" not in line
    assert unquote_exec(line) == command


def test_exec_quoting_matches_the_spec_examples() -> None:
    assert exec_line(["/usr/bin/keybroker"]) == "/usr/bin/keybroker"
    assert exec_line(["/a b/python", "-m", "keybroker"]) == '"/a b/python" -m keybroker'
    assert exec_line(["/x", 'say "$hi"']) == '/x "say \\\\"\\\\$hi\\\\""'
    assert exec_line(["/x", "50%"]) == "/x 50%%"
    assert exec_line(["/x", "a\\b"]) == '/x "a\\\\\\\\b"'  # four backslashes in the file


def test_a_program_path_with_an_equals_sign_is_refused() -> None:
    with pytest.raises(AutostartError, match="="):
        desktop_entry(["/opt/a=b/keybroker"])


def test_an_unreadable_entry_is_an_error(tmp_path: Path) -> None:
    auto = Autostart(platform="linux", environ={"XDG_CONFIG_HOME": str(tmp_path)}, command=("keybroker",))
    assert auto.path is not None
    auto.path.mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(AutostartError, match="cannot read the login entry"):
        auto.is_enabled()


def test_desktop_file_validate_accepts_the_entry(tmp_path: Path) -> None:
    import shutil

    validator = shutil.which("desktop-file-validate")
    if validator is None:
        pytest.skip("desktop-file-validate is not installed")
    path = tmp_path / f"{APP_ID}.desktop"
    path.write_text(desktop_entry(["/home/me/My Venv/bin/python", "-m", "keybroker"]), "utf-8")
    result = subprocess.run([validator, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# macOS ---------------------------------------------------------------------------------------------


def test_macos_launch_agent(tmp_path: Path) -> None:
    command = ("/Applications/Keybroker.app/Contents/MacOS/Keybroker",)
    auto = Autostart(platform="darwin", environ={}, home=tmp_path, command=command)
    agent = tmp_path / "Library" / "LaunchAgents" / f"{APP_ID}.plist"
    assert auto.path == agent
    auto.enable()
    data = plistlib.loads(agent.read_bytes())
    assert data["Label"] == APP_ID
    assert data["ProgramArguments"] == list(command)
    assert data["RunAtLoad"] is True and data["KeepAlive"] is False
    assert auto.is_enabled() and auto.is_current()
    data["Disabled"] = True
    agent.write_bytes(plistlib.dumps(data))
    assert not auto.is_enabled()
    assert auto.disable() and not agent.exists()


def test_macos_ignores_xdg_config_home(tmp_path: Path) -> None:
    auto = Autostart(
        platform="darwin", environ={"XDG_CONFIG_HOME": str(tmp_path / "x")}, home=tmp_path, command=("k",)
    )
    assert auto.path == tmp_path / "Library" / "LaunchAgents" / f"{APP_ID}.plist"


def test_a_corrupt_launch_agent_is_an_error(tmp_path: Path) -> None:
    auto = Autostart(platform="darwin", environ={}, home=tmp_path, command=("k",))
    assert auto.path is not None
    auto.path.parent.mkdir(parents=True)
    auto.path.write_bytes(b"not a plist")
    with pytest.raises(AutostartError):
        auto.is_enabled()
    auto.enable()  # repairs it
    assert auto.is_enabled()


# Windows -------------------------------------------------------------------------------------------


def test_windows_run_key(tmp_path: Path) -> None:
    key = FakeRunKey()
    home = tmp_path / "windows-home"
    home.mkdir()
    command = ("C:\\Program Files\\Keybroker\\pythonw.exe", "-m", "keybroker")
    auto = Autostart(platform="win32", environ={}, home=home, command=command, run_key=key)
    assert auto.path is None
    assert auto.location == "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\Keybroker"
    assert not auto.is_enabled()
    auto.enable()
    assert key.values == {"Keybroker": '"C:\\Program Files\\Keybroker\\pythonw.exe" -m keybroker'}
    assert auto.is_enabled() and auto.is_current()
    key.values["Keybroker"] = "C:\\old\\keybroker.exe"
    assert auto.is_enabled() and not auto.is_current()
    assert auto.disable() and key.values == {}
    assert not auto.disable()
    assert list(home.iterdir()) == []  # no file anywhere


@pytest.mark.skipif(os.name == "nt", reason="the real registry is there")
def test_windows_without_a_registry_is_refused_elsewhere() -> None:
    with pytest.raises(AutostartError, match="only be written on Windows"):
        Autostart(platform="win32", environ={}, command=("k",))


# The command --------------------------------------------------------------------------------------


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_a_frozen_bundle_starts_itself(tmp_path: Path) -> None:
    exe = str(tmp_path / "Keybroker")
    assert launch_command("linux", executable=exe, frozen=True) == (exe,)


def test_the_installed_script_next_to_the_interpreter_wins(tmp_path: Path) -> None:
    python = _executable(tmp_path / "venv" / "bin" / "python")
    script = _executable(tmp_path / "venv" / "bin" / "keybroker")
    assert launch_command("linux", executable=str(python), frozen=False) == (str(script),)


def test_without_a_script_the_interpreter_runs_the_module(tmp_path: Path) -> None:
    python = _executable(tmp_path / "bin" / "python3")
    assert launch_command("linux", executable=str(python), frozen=False) == (str(python), "-m", "keybroker")
    assert launch_command("darwin", executable=str(python), frozen=False, args=("--quiet",)) == (
        str(python),
        "-m",
        "keybroker",
        "--quiet",
    )


def test_windows_prefers_pythonw_so_no_console_opens(tmp_path: Path) -> None:
    python = _executable(tmp_path / "Scripts" / "python.exe")
    assert launch_command("win32", executable=str(python), frozen=False) == (str(python), "-m", "keybroker")
    pythonw = _executable(tmp_path / "Scripts" / "pythonw.exe")
    assert launch_command("win32", executable=str(python), frozen=False) == (str(pythonw), "-m", "keybroker")


def test_an_empty_interpreter_path_is_an_error() -> None:
    with pytest.raises(AutostartError):
        launch_command("linux", executable="", frozen=False)
