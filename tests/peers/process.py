# SPDX-License-Identifier: Apache-2.0
"""Running a third-party server as a subprocess for a test: ports, cache checks, start, wait, stop.

The peers' installs are caches that scripts/peers/*.sh fill (a venv or a node_modules dir). A missing
cache fails loudly with the command that fills it, unless KEYBROKER_ALLOW_MISSING_PEERS=1: then
`PeerMissingError` is raised, which a test turns into `pytest.skip`:
`with skip_if_missing(), openbao.dev_server() as bao: ...`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ALLOW_MISSING_ENV = "KEYBROKER_ALLOW_MISSING_PEERS"
STOP_TIMEOUT = 10.0
_PROXY_VARS = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy", "sslkeylogfile"})


class PeerMissingError(Exception):
    """A peer's cache is not installed and KEYBROKER_ALLOW_MISSING_PEERS=1 says that may be skipped."""


class PeerError(RuntimeError):
    """A peer is not installed (and may not be skipped), did not start, or answered wrongly."""


def cache_path(env_var: str, default: str) -> Path:
    """Where a peer's cache lives: `$env_var` if set, else `default` below the repo root."""
    value = os.environ.get(env_var)
    return Path(value) if value else REPO_ROOT / default


def require_cache(path: Path, what: str, install: str) -> Path:
    """Return `path` if it exists; else raise PeerMissingError (skippable) or PeerError."""
    if path.exists():
        return path
    message = f"{what} is not installed: {path} is missing; run `{install}`"
    if os.environ.get(ALLOW_MISSING_ENV) == "1":
        raise PeerMissingError(f"{message} ({ALLOW_MISSING_ENV}=1: skipped)")
    raise PeerError(f"{message} (or set {ALLOW_MISSING_ENV}=1 to skip tests that need it)")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (all held open together while choosing, so none repeats)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def free_port_pair() -> int:
    """A port P with P+1 free too (servers that put a second listener on the next port)."""
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise PeerError("no two consecutive free ports on 127.0.0.1")


def peer_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment without proxy variables (loopback traffic never goes to a proxy)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    env.update(extra or {})
    return env


@dataclass
class ServerProcess:
    """One server subprocess in its own process group, its output going to `log_path`."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def output_tail(self, limit: int = 4000) -> str:
        """The end of the server's stdout+stderr, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return "(no output)"

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL if `kill`) to the process group, SIGKILL after STOP_TIMEOUT s; reaps it."""
        if self.process.poll() is None:
            self._signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        # Children that outlived the leader (npm, uvicorn workers) belong to the same group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)


def start_process(
    name: str,
    argv: list[str],
    log_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ServerProcess:
    """Start `argv` in a new session (so stop() reaches its children), output to log_dir/<name>.log."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else peer_env(),
            cwd=cwd,
            start_new_session=True,
        )
    return ServerProcess(name=name, argv=argv, log_path=log_path, process=process)


def wait_until(
    server: ServerProcess,
    ready: Callable[[httpx.Client], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
) -> float:
    """Poll `ready(client)` until True; returns the seconds since the server started.

    Connection errors count as "not yet". Raises PeerError with the server's output if it exits or
    `timeout` passes first.
    """
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not server.running:
                raise PeerError(
                    f"{server.name} exited with code {server.process.returncode} before {what}:\n"
                    + server.output_tail()
                )
            try:
                if ready(client):
                    return time.monotonic() - server.started_at
                last = "not ready"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(interval)
    raise PeerError(f"{server.name}: no {what} within {timeout:.0f} s ({last}):\n{server.output_tail()}")


@contextlib.contextmanager
def work_dir(given: Path | None, prefix: str) -> Iterator[Path]:
    """`given` as is, or a temporary directory removed afterwards."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def skip_if_missing() -> Iterator[None]:
    """Turn PeerMissingError (a missing cache that may be skipped) into pytest.skip."""
    try:
        yield
    except PeerMissingError as exc:
        pytest.skip(str(exc))
