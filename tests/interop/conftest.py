# SPDX-License-Identifier: Apache-2.0
"""Real peer agents as subprocesses on free ports, for the interop tests.

- `agentstack_agent` (session): tests/interop/agents/agentstack_secret_agent.py on agentstack-sdk
  0.7.1 (A2A 0.3), run by `$KEYBROKER_PEER_PYTHON` (the peer venv of scripts/peer-venv.sh, which
  `make test` sets). Without that variable the tests that use it are skipped, saying so.
- `a2a1_agent` (session): tests/interop/agents/a2a1_agent.py on our own a2a-sdk 1.x (A2A 1.0 + 0.3).
- `echo_agent` (session): tests/interop/agents/echo_a2a1_agent.py, a plain a2a-sdk 1.x echo agent (no
  demands, no schemes, no extended card; drops the connection on cue), for the conformance tests.
- `start_peer` (per test): a factory for a fresh peer with extra environment, e.g.
  `start_peer("a2a1", env={"KEYBROKER_PEER_API_KEY": "k"})`; stopped when the test ends. Kinds:
  `agentstack`, `a2a1` (KEYBROKER_PEER_SCHEME=header|query|cookie|bearer for a one-scheme peer),
  `ap` (tests/interop/agents/ap_peer.py, serving the Agent Protocol secrets API), `seed000-agentstack`
  and `seed000-a2a1` (seed 000's agent: its own answer when a secret is declined) and `a2x` (a card
  scheme refused the way A2X servers refuse it: an `auth-required` task, `-32600`).

Each peer is started with `self_registration=False` / `PRODUCTION_MODE=true` and without proxy
variables, polled until its card answers (timeout below), and stopped with SIGTERM then SIGKILL.
A peer that dies or never answers fails the test with the tail of its output.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

AGENTS_DIR = Path(__file__).parent / "agents"
CARD_PATH = "/.well-known/agent-card.json"
PEER_PYTHON_ENV = "KEYBROKER_PEER_PYTHON"
#: agentstack imports a lot (opentelemetry, fastapi, mcp): a few seconds on a 2-core machine.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/interop runs real agents: mark it `interop`."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.interop)


@dataclass
class RunningPeer:
    """A peer agent subprocess that answers on `base_url`."""

    kind: str
    port: int
    base_url: str
    card_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def output_tail(self, limit: int = 4000) -> str:
        """The end of the peer's stdout+stderr, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return "(no output)"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the peer binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peer_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    env.update(PYTHONUNBUFFERED="1", PRODUCTION_MODE="true")
    env.update(extra or {})
    return env


def _agentstack_python() -> str:
    python = os.environ.get(PEER_PYTHON_ENV)
    if not python:
        pytest.skip(f"{PEER_PYTHON_ENV} is unset: run scripts/peer-venv.sh and point it at the venv's python")
    if not Path(python).exists():
        pytest.fail(f"{PEER_PYTHON_ENV}={python} does not exist: run scripts/peer-venv.sh")
    return python


#: Peers run by Keybroker's own python (a2a-sdk 1.x) and by the agentstack peer venv's, by kind.
_OWN_PYTHON = {
    "a2a1": "a2a1_agent.py",
    "ap": "ap_peer.py",
    "seed000-a2a1": "seed000_a2a1_agent.py",
    "a2x": "a2x_auth_agent.py",
    "oauth": "oauth_agent.py",
    "echo": "echo_a2a1_agent.py",
}
_AGENTSTACK = {
    "agentstack": "agentstack_secret_agent.py",
    "seed000-agentstack": "seed000_agentstack_agent.py",
    "agentstack-models": "agentstack_model_agent.py",  # issue 14: LLM and embedding demands
    "agentstack-oauth": "agentstack_oauth_agent.py",  # issue 13: Agent Stack's OAuth extension
}


def _command(kind: str, port: int) -> list[str]:
    if kind in _AGENTSTACK:
        return [_agentstack_python(), str(AGENTS_DIR / _AGENTSTACK[kind]), str(port)]
    if kind in _OWN_PYTHON:
        return [sys.executable, str(AGENTS_DIR / _OWN_PYTHON[kind]), str(port)]
    raise ValueError(f"unknown peer kind {kind!r}")


def _wait_for_card(peer: RunningPeer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer yet"
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if peer.process.poll() is not None:
                raise RuntimeError(f"exited with code {peer.process.returncode} before its card answered")
            try:
                response = client.get(peer.card_url)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
    raise RuntimeError(f"card did not answer within {START_TIMEOUT:.0f} s (last: {last})")


def _launch_once(kind: str, log_dir: Path, env: dict[str, str] | None) -> tuple[RunningPeer, str | None]:
    """Start a peer; (peer, None) once its card answers, else (stopped peer, why)."""
    port = free_port()
    command = _command(kind, port)
    log_path = log_dir / f"{kind}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_peer_env(env),
            cwd=log_dir,
            stdin=subprocess.DEVNULL,
        )
    base_url = f"http://127.0.0.1:{port}"
    peer = RunningPeer(kind, port, base_url, base_url + CARD_PATH, process, log_path)
    try:
        _wait_for_card(peer)
    except RuntimeError as exc:
        peer.stop()
        return peer, f"{kind} peer ({' '.join(command)}) {exc}"
    return peer, None


def launch_peer(kind: str, log_dir: Path, env: dict[str, str] | None = None) -> RunningPeer:
    """Start a peer on a free port and wait until its card answers; fails the test otherwise.

    The port is free when picked and bound a moment later by the peer: if another process took it
    in between, the peer is started again on another port (up to 3 tries).
    """
    for _ in range(3):
        peer, problem = _launch_once(kind, log_dir, env)
        if problem is None:
            return peer
        if "address already in use" not in peer.output_tail().lower():
            break
    pytest.fail(f"{problem}\n--- its output ---\n{peer.output_tail()}")


@pytest.fixture(scope="session")
def agentstack_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPeer]:
    """The agentstack-sdk 0.7.1 secrets peer (A2A 0.3), shared by the session."""
    peer = launch_peer("agentstack", tmp_path_factory.mktemp("agentstack-peer"))
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def a2a1_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPeer]:
    """The a2a-sdk 1.x secrets peer (A2A 1.0 and 0.3), shared by the session."""
    peer = launch_peer("a2a1", tmp_path_factory.mktemp("a2a1-peer"))
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def echo_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPeer]:
    """The plain a2a-sdk 1.x echo peer (A2A 1.0 and 0.3), shared by the session."""
    peer = launch_peer("echo", tmp_path_factory.mktemp("echo-peer"))
    yield peer
    peer.stop()


@pytest.fixture
def start_peer(tmp_path: Path) -> Iterator[Callable[..., RunningPeer]]:
    """A factory for fresh peers with their own environment, stopped at the end of the test."""
    started: list[RunningPeer] = []

    def start(kind: str, env: dict[str, str] | None = None) -> RunningPeer:
        peer = launch_peer(kind, tmp_path, env)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()
