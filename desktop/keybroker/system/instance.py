"""The running instance's `instance.json` and the port the bridge uses (INTERFACES.md).

The file is there for as long as an app or `serve` runs with its core open, whether or not its bridge
listens: `bridge` says `listening`, `paused` (Tray → Pause bridge: the port is free until Resume) or
`stopped` (the port was taken). So `status`, `send`, `serve` and a second launch all say "running,
bridge paused" rather than "not running". A file without `bridge` (an older writer) means listening.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keybroker.core.errors import InvalidInputError
from keybroker.system.paths import Paths
from keybroker.system.settings import load as load_settings

log = logging.getLogger("keybroker")


class BridgeState(enum.StrEnum):
    """Whether a running instance's bridge (and management API) answers on its port."""

    LISTENING = "listening"
    PAUSED = "paused"
    """The user paused it (Tray → Pause bridge); Resume binds the port again."""
    STOPPED = "stopped"
    """It could not bind the port (taken); the tray says why and offers Start bridge."""


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """What a running app or `serve` wrote about itself."""

    pid: int
    port: int
    url: str
    started: float
    bridge: BridgeState = BridgeState.LISTENING

    @property
    def listening(self) -> bool:
        """Whether its bridge and management API answer on `url`."""
        return self.bridge is BridgeState.LISTENING

    def to_json(self) -> dict[str, Any]:
        """The file's shape."""
        return {
            "pid": self.pid,
            "port": self.port,
            "url": self.url,
            "started": self.started,
            "bridge": self.bridge.value,
        }

    def describe(self) -> str:
        """`running: pid 42, http://127.0.0.1:7411 (port 7411)` or `running, bridge paused: ...`, for
        `status`, `doctor` and a second launch."""
        where = f"{self.url} (port {self.port})"
        if self.bridge is BridgeState.PAUSED:
            return f"running, bridge paused: pid {self.pid}; {where} answers again after Tray → Resume bridge"
        if self.bridge is BridgeState.STOPPED:
            return f"running, bridge stopped: pid {self.pid}; port {self.port} is taken (Tray → Why…)"
        return f"running: pid {self.pid}, {where}"


def _bridge_state(value: object) -> BridgeState:
    if value is None:
        return BridgeState.LISTENING  # an older writer: the file was there only while listening
    try:
        return BridgeState(str(value))
    except ValueError:
        return BridgeState.STOPPED  # a state this version does not know: not one to send through


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_instance(paths: Paths) -> InstanceInfo | None:
    """The live instance, or None (a file left by a dead process counts as none)."""
    try:
        data = json.loads(paths.instance_file.read_text("utf-8"))
        info = InstanceInfo(
            int(data["pid"]),
            int(data["port"]),
            str(data["url"]),
            float(data["started"]),
            _bridge_state(data.get("bridge")),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return info if _pid_alive(info.pid) else None


def write_instance(
    paths: Paths,
    port: int,
    host: str = "127.0.0.1",
    *,
    bridge: BridgeState = BridgeState.LISTENING,
    started: float | None = None,
) -> InstanceInfo:
    """Record this process as the running instance (0600, atomic)."""
    info = InstanceInfo(
        os.getpid(), port, f"http://{host}:{port}", time.time() if started is None else started, bridge
    )
    paths.runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = paths.instance_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(info.to_json(), f)
    tmp.replace(paths.instance_file)
    return info


def remove_instance(paths: Paths) -> None:
    """Remove the file if it is ours."""
    current = read_instance(paths)
    if current is None or current.pid == os.getpid():
        paths.instance_file.unlink(missing_ok=True)


def parse_port(text: str, *, allow_zero: bool = False) -> int:
    """A TCP port from text; 0 only where "pick a free port" makes sense."""
    try:
        port = int(text)
    except ValueError:
        raise InvalidInputError(f"port {text!r} is not a number") from None
    if not (0 if allow_zero else 1) <= port <= 65535:
        raise InvalidInputError(f"port {port} is out of range")
    return port


def bridge_port(environ: Mapping[str, str], paths: Paths, *, strict: bool = False) -> int:
    """The port this process binds: `KEYBROKER_PORT` (0 picks a free one), else the settings file's
    `bridge_port` (7411). A bad `KEYBROKER_PORT` is an error when `strict`, else logged and ignored."""
    text = environ.get("KEYBROKER_PORT")
    if text:
        try:
            return parse_port(text, allow_zero=True)
        except InvalidInputError:
            if strict:
                raise
            log.warning("ignoring KEYBROKER_PORT=%r: not a port", text)
    return load_settings(paths.settings_file).bridge_port


def configured_port(environ: Mapping[str, str], paths: Paths) -> int:
    """Where the bridge is: the running instance's port, else the one it would bind."""
    running = read_instance(paths)
    return running.port if running is not None else bridge_port(environ, paths)
