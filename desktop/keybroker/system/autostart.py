# SPDX-License-Identifier: Apache-2.0
"""Start at login, per user (DESIGN §8): the package installs no system-wide autostart.

- Linux and other XDG desktops: `$XDG_CONFIG_HOME/autostart/io.github.keybroker.Keybroker.desktop`
  (`~/.config` when `XDG_CONFIG_HOME` is unset, empty or relative, as the XDG base dir spec says);
- macOS: a LaunchAgent, `~/Library/LaunchAgents/io.github.keybroker.Keybroker.plist`, loaded by launchd
  at the next login;
- Windows: a value named `Keybroker` under `HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run`, the
  per-user Run key (a Startup-folder `.lnk` is a binary format that needs COM to write well).

Every branch is chosen by an explicit `platform` and writes through plain files (or an injected
`RunKey`), so all three are tested on any OS. Nothing here needs a display. The entries' formats are
autostart_entries.py's.
"""

from __future__ import annotations

import os
import plistlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from keybroker import APP_ID
from keybroker.core.errors import InvalidInputError
from keybroker.system.autostart_entries import (
    WINDOWS_RUN_KEY,
    WINDOWS_VALUE_NAME,
    AutostartError,
    RunKey,
    WinRegRunKey,
    desktop_entry,
    desktop_entry_enabled,
    launch_agent,
    windows_command_line,
)

__all__ = ["AUTOSTART_ARGS", "Autostart", "AutostartError", "launch_command", "xdg_config_home"]

#: Arguments the login entry passes: a quiet start (DESIGN §5), which `keybroker --autostart` turns into
#: `KEYBROKER_AUTOSTART=1` for the app.
AUTOSTART_ARGS: tuple[str, ...] = ("--autostart",)


def launch_command(
    platform: str = sys.platform,
    *,
    executable: str | None = None,
    frozen: bool | None = None,
    args: Sequence[str] = (),
) -> tuple[str, ...]:
    """How to start this Keybroker, then `args` (the login entry passes AUTOSTART_ARGS).

    A frozen bundle starts itself. Otherwise the `keybroker` script installed next to the running
    interpreter (a venv's `bin/`, `/usr/bin`), else this interpreter with `-m keybroker`; on Windows
    `pythonw.exe` when there is one, so no console window opens at login. The interpreter path is not
    resolved: a venv's `python` symlink must stay the venv's. `executable` and `frozen` default to this
    process's (`sys.executable`, `sys.frozen`), read at each call.
    """
    executable = sys.executable if executable is None else executable
    frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    if not executable:
        raise AutostartError("cannot tell which program runs Keybroker (sys.executable is empty)")
    if frozen:
        return (executable, *args)
    exe = Path(executable)
    if platform == "win32":
        pythonw = exe.with_name("pythonw.exe")
        return (str(pythonw) if pythonw.is_file() else executable, "-m", "keybroker", *args)
    script = exe.with_name("keybroker")
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script), *args)
    return (executable, "-m", "keybroker", *args)


# Where the entry lives ---------------------------------------------------------------------------


def xdg_config_home(environ: Mapping[str, str], home: Path) -> Path:
    """`$XDG_CONFIG_HOME` when it is an absolute path, else `~/.config` (XDG base dir spec)."""
    value = environ.get("XDG_CONFIG_HOME", "")
    if value and Path(value).is_absolute():
        return Path(value)
    return home / ".config"


def _platform_family(platform: str) -> str:
    if platform == "win32":
        return "windows"
    if platform == "darwin":
        return "macos"
    return "xdg"  # linux, the BSDs: freedesktop autostart


class Autostart:
    """Writes, reads and removes this user's login entry for Keybroker."""

    def __init__(
        self,
        *,
        platform: str = sys.platform,
        environ: Mapping[str, str] | None = None,
        home: Path | None = None,
        command: Sequence[str] | None = None,
        run_key: RunKey | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.platform = platform
        self.family = _platform_family(platform)
        self.home = home if home is not None else Path(env.get("HOME") or Path.home())
        self._environ = env
        self.command = (
            tuple(command) if command is not None else launch_command(platform, args=AUTOSTART_ARGS)
        )
        if not self.command:
            raise InvalidInputError("the autostart command is empty")
        self._run_key = run_key
        if self.family == "windows" and run_key is None:
            if sys.platform != "win32":
                raise AutostartError("the Windows Run key can only be written on Windows")
            self._run_key = WinRegRunKey()

    @property
    def path(self) -> Path | None:
        """The file that holds the entry (None on Windows, where it is a registry value)."""
        if self.family == "xdg":
            return xdg_config_home(self._environ, self.home) / "autostart" / f"{APP_ID}.desktop"
        if self.family == "macos":
            return self.home / "Library" / "LaunchAgents" / f"{APP_ID}.plist"
        return None

    @property
    def location(self) -> str:
        """Where the entry lives, for the user to read."""
        path = self.path
        if path is not None:
            return str(path)
        return f"HKEY_CURRENT_USER\\{WINDOWS_RUN_KEY}\\{WINDOWS_VALUE_NAME}"

    def expected(self) -> str | bytes:
        """What `enable` writes: the file's text or bytes, or the Run key's command line."""
        if self.family == "xdg":
            return desktop_entry(self.command)
        if self.family == "macos":
            return launch_agent(self.command)
        return windows_command_line(self.command)

    def is_enabled(self) -> bool:
        """Whether Keybroker starts at the next login."""
        try:
            if self.family == "windows":
                return self._windows_key().get(WINDOWS_VALUE_NAME) is not None
            path = self.path
            assert path is not None
            if self.family == "macos":
                data = plistlib.loads(path.read_bytes())
                return isinstance(data, dict) and data.get("Disabled") is not True
            return desktop_entry_enabled(path.read_text("utf-8"))
        except (FileNotFoundError, NotADirectoryError):  # no entry (or no dir it could be in)
            return False
        except (OSError, ValueError, plistlib.InvalidFileException) as exc:
            raise AutostartError(f"cannot read the login entry {self.location}: {exc}") from None

    def is_current(self) -> bool:
        """Whether the entry exists and starts exactly what `enable` would write now."""
        try:
            if self.family == "windows":
                return self._windows_key().get(WINDOWS_VALUE_NAME) == self.expected()
            path = self.path
            assert path is not None
            if self.family == "macos":
                return path.read_bytes() == self.expected()
            return path.read_text("utf-8") == self.expected()
        except (OSError, UnicodeDecodeError):
            return False

    def enable(self) -> None:
        """Write the entry (replacing an older one)."""
        content = self.expected()
        if self.family == "windows":
            assert isinstance(content, str)
            try:
                self._windows_key().set(WINDOWS_VALUE_NAME, content)
            except OSError as exc:
                raise AutostartError(f"cannot write {self.location}: {exc}") from None
            return
        path = self.path
        assert path is not None
        data = content.encode("utf-8") if isinstance(content, str) else content
        try:
            _write_atomic(path, data)
        except OSError as exc:
            raise AutostartError(f"cannot write {path}: {exc.strerror or exc}") from None

    def disable(self) -> bool:
        """Remove the entry; False when there was none."""
        if self.family == "windows":
            try:
                return self._windows_key().delete(WINDOWS_VALUE_NAME)
            except OSError as exc:
                raise AutostartError(f"cannot remove {self.location}: {exc}") from None
        path = self.path
        assert path is not None
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise AutostartError(f"cannot remove {path}: {exc.strerror or exc}") from None
        return True

    def set_enabled(self, enabled: bool) -> None:
        """`enable()` or `disable()`."""
        if enabled:
            self.enable()
        else:
            self.disable()

    def _windows_key(self) -> RunKey:
        assert self._run_key is not None
        return self._run_key


def _write_atomic(path: Path, data: bytes) -> None:
    """Write through a temp file in the same dir, then rename (0644: launchers read it, nothing secret)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
