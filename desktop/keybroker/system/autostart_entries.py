# SPDX-License-Identifier: Apache-2.0
"""The login entry's per-platform formats, for `Autostart` (autostart.py) to write, read and compare.

- XDG desktops: a Desktop Entry file (`desktop_entry`), with the spec's Exec-key quoting;
- macOS: a LaunchAgent plist (`launch_agent`);
- Windows: a command line (`windows_command_line`) stored in the per-user Run key (`RunKey`,
  `WinRegRunKey`, which imports `winreg` only when used).
"""

from __future__ import annotations

import importlib
import plistlib
import subprocess
from collections.abc import Sequence
from typing import Any, Protocol

from keybroker import APP_ID
from keybroker.core.errors import InvalidInputError, KeybrokerError

DISPLAY_NAME = "Keybroker"
WINDOWS_RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
WINDOWS_VALUE_NAME = DISPLAY_NAME

# Desktop Entry spec, "The Exec key": arguments holding one of these must be quoted.
_EXEC_RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`")
_EXEC_ESCAPED_IN_QUOTES = frozenset('"`$\\')


class AutostartError(KeybrokerError):
    """The login entry could not be written, read or removed."""


# XDG desktops: the autostart entry -----------------------------------------------------------------


def exec_quote(arg: str) -> str:
    """One argument for a desktop entry's Exec key (quoting, then the string escapes of the file)."""
    if not arg:
        quoted = '""'
    elif any(c in _EXEC_RESERVED for c in arg):
        quoted = '"' + "".join("\\" + c if c in _EXEC_ESCAPED_IN_QUOTES else c for c in arg) + '"'
    else:
        quoted = arg
    # Field codes start with %; a literal one is %%. Then the spec's string escapes, which apply
    # before the quoting rule is undone: a literal backslash in a quoted argument becomes "\\\\".
    quoted = quoted.replace("%", "%%")
    return quoted.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def exec_line(command: Sequence[str]) -> str:
    """The value of the Exec key for `command`."""
    if not command:
        raise InvalidInputError("the autostart command is empty")
    if "=" in command[0]:
        raise AutostartError(f"the program path {command[0]!r} contains '=', which an Exec key cannot hold")
    return " ".join(exec_quote(a) for a in command)


def desktop_entry(command: Sequence[str]) -> str:
    """The autostart `.desktop` file for `command`."""
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.0\n"
        f"Name={DISPLAY_NAME}\n"
        "GenericName=Secrets broker for AI agents\n"
        "Comment=Keeps your agents' secrets in the OS vault and hands them out when you agree\n"
        f"Exec={exec_line(command)}\n"
        f"Icon={APP_ID}\n"
        "Terminal=false\n"
        "Categories=Utility;Security;\n"
        "StartupNotify=false\n"
        "X-GNOME-Autostart-enabled=true\n"
        # Start after the panel so the tray exists when the icon registers.
        "X-KDE-autostart-after=panel\n"
        "X-GNOME-Autostart-Delay=2\n"
    )


def desktop_entry_enabled(text: str) -> bool:
    """False when a desktop tool switched our entry off (Hidden=true or X-GNOME-Autostart-enabled=false)."""
    in_main_group = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            in_main_group = line == "[Desktop Entry]"
            continue
        key, sep, value = line.partition("=")
        if not in_main_group or not sep:
            continue
        key, value = key.strip(), value.strip().lower()
        if key == "Hidden" and value == "true":
            return False
        if key == "X-GNOME-Autostart-enabled" and value == "false":
            return False
    return True


# macOS: a LaunchAgent -----------------------------------------------------------------------------


def launch_agent(command: Sequence[str]) -> bytes:
    """The LaunchAgent plist for `command` (XML)."""
    if not command:
        raise InvalidInputError("the autostart command is empty")
    return plistlib.dumps(
        {
            "Label": APP_ID,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            "KeepAlive": False,
            "ProcessType": "Interactive",
            "LimitLoadToSessionType": "Aqua",
        },
        fmt=plistlib.FMT_XML,
        sort_keys=True,
    )


# Windows: the Run key ----------------------------------------------------------------------------


class RunKey(Protocol):
    """The per-user Run key: named command lines Windows starts at login."""

    def get(self, name: str) -> str | None:
        """The command line stored under `name`, or None."""
        ...

    def set(self, name: str, command_line: str) -> None:
        """Store `command_line` under `name`."""
        ...

    def delete(self, name: str) -> bool:
        """Remove `name`; False when it was not there."""
        ...


def _winreg() -> Any:
    """`winreg`, imported by name so type checkers on other platforms see no Windows-only stubs."""
    return importlib.import_module("winreg")


class WinRegRunKey:
    """`HKCU\\...\\Run` through `winreg` (Windows only; imported when used)."""

    def get(self, name: str) -> str | None:
        """The stored command line, or None."""
        winreg = _winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, WINDOWS_RUN_KEY) as key:
                value, _kind = winreg.QueryValueEx(key, name)
        except FileNotFoundError:
            return None
        return str(value)

    def set(self, name: str, command_line: str) -> None:
        """Write the value (REG_SZ)."""
        winreg = _winreg()
        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, WINDOWS_RUN_KEY) as key:
            winreg.SetValueEx(key, name, 0, winreg.REG_SZ, command_line)

    def delete(self, name: str) -> bool:
        """Delete the value."""
        winreg = _winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, WINDOWS_RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, name)
        except FileNotFoundError:
            return False
        return True


def windows_command_line(command: Sequence[str]) -> str:
    """`command` quoted the way the Windows C runtime splits it."""
    if not command:
        raise InvalidInputError("the autostart command is empty")
    return subprocess.list2cmdline(list(command))
