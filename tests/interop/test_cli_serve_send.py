"""`keybroker serve --headless` + `keybroker send` against a real agentstack agent, as a user runs them.

The issue's "done when": a run whose secret is asked for on the terminal once and then served without
asking on the next run. The terminal is a real pseudo-terminal driven by this test.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RunCli, subprocess_env
from tests.interop.conftest import RunningPeer

pytestmark = pytest.mark.secret_service

CANARY = "ghp-canary-serve-5d1e"


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Serve:
    """`keybroker serve --headless --port 0` on a pseudo-terminal."""

    def __init__(self, home: Path, extra: list[str]) -> None:
        self.master, slave = pty.openpty()
        env = subprocess_env({"KEYBROKER_VAULT": "system"})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "keybroker", "serve", "--headless", "--port", "0", *extra],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
            preexec_fn=_take_terminal,  # the pty becomes its controlling terminal (/dev/tty)
            text=True,
        )
        os.close(slave)
        self.screen = ""
        self.url = self._wait_listening()

    def _wait_listening(self) -> str:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if line.startswith("listening on "):
                return line.split()[-1]
            if not line and self.proc.poll() is not None:
                break
        raise AssertionError(f"serve did not start (rc {self.proc.poll()})")

    def read_until(self, needle: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.screen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.screen += os.read(self.master, 4096).decode(errors="replace")
                except OSError:
                    break
        assert needle in self.screen, self.screen[-2000:]
        return self.screen

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        os.close(self.master)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return rc


def reap(process: subprocess.Popen[str]) -> None:
    """A test's finalizer for a `keybroker send` it started: killed if it still runs, its pipes read and
    closed (left open, a failed test's pipes surface as a ResourceWarning in a later test's teardown)."""
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=30)


@pytest.fixture
def kb(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> RunCli:
    monkeypatch.setenv("KEYBROKER_VAULT", "system")
    return run_cli


@pytest.fixture
def serve(isolated_env: object, tmp_path: Path) -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for s in started:
        if s.proc.poll() is None:
            s.stop()


def test_asked_once_on_the_terminal_then_served_unasked(
    kb: RunCli,
    serve: list[Serve],
    agentstack_agent: RunningPeer,
    request: pytest.FixtureRequest,
) -> None:
    assert kb("agents", "add", agentstack_agent.base_url, "--slug", "demo").returncode == 0
    assert kb("secrets", "set", "slack", "--agent", "demo", stdin="xoxb-stored").returncode == 0
    s = Serve(Path(), [])
    serve.append(s)
    status = json.loads(kb("status", "--json").stdout)
    assert status["running"] and status["url"] == s.url

    sender = subprocess.Popen(
        [sys.executable, "-m", "keybroker", "send", "demo", "keys=github"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env({"KEYBROKER_VAULT": "system"}),
    )
    request.addfinalizer(lambda: reap(sender))
    screen = s.read_until("Allow? [y/N]")  # who asks, what and why, then the question
    assert "keybroker-secret-peer (demo)" in screen and "github - GitHub token" in screen
    s.type("y\n")
    s.read_until("Value for github (hidden")
    s.type(CANARY + "\n")
    s.read_until("For how long?")
    s.type("a\n")
    out, err = sender.communicate(timeout=60)
    assert sender.returncode == 0, err
    assert "github: len=" in out and "via=" in out
    assert CANARY not in out + err + s.screen

    # the next run is served without asking
    before = len(s.screen)
    again = kb("send", "demo", "keys=github")
    assert again.returncode == 0, again.stderr
    assert "github: len=" in again.stdout
    time.sleep(0.3)
    s.read_until("", timeout=0.5)
    assert "github" not in s.screen[before:]

    # changes made by the CLI while the instance runs go through its API
    assert kb("secrets", "rm", "slack", "--agent", "demo").returncode == 0
    events = json.loads(kb("audit", "--json").stdout)
    assert any(e["decision"] == "deleted" and (e["caller"] or "").startswith("api ") for e in events)
    assert kb("purge", "--yes").returncode == 2  # refused while running
    assert s.stop() == 0
    assert json.loads(kb("status", "--json").stdout) == {"running": False}
    assert kb("audit", "verify").returncode == 0


def test_send_without_a_running_instance_exits_6(kb: RunCli) -> None:
    r = kb("send", "demo", "hi")
    assert r.returncode == 6 and "serve" in r.stderr


def test_a_dead_agent_exits_6_with_the_reason(
    kb: RunCli, serve: list[Serve], start_peer: Callable[..., RunningPeer]
) -> None:
    peer = start_peer("a2a1")
    assert kb("agents", "add", peer.base_url, "--slug", "gone").returncode == 0
    peer.stop()
    serve.append(Serve(Path(), ["--deny-unknown"]))  # its card demands a secret: no prompt to answer
    r = kb("send", "gone", "hi")
    assert r.returncode == 6, r.stderr
    assert "keybroker: the bridge answered with an error" in r.stderr and "gone" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_hung_agent_gives_up_after_the_timeout(
    kb: RunCli, serve: list[Serve], start_peer: Callable[..., RunningPeer]
) -> None:
    """An agent that accepts and never answers (stopped with SIGSTOP): `send --timeout` ends it."""
    peer = start_peer("a2a1")
    assert kb("agents", "add", peer.base_url, "--slug", "hung").returncode == 0
    serve.append(Serve(Path(), ["--deny-unknown"]))
    peer.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        r = kb("send", "hung", "hi", "--timeout", "2")
        took = time.monotonic() - started
    finally:
        peer.process.send_signal(signal.SIGCONT)
    assert r.returncode == 6, r.stderr
    assert "no end of the run within 2 s" in r.stderr
    assert took < 30
    assert kb("send", "hung", "hi", "--timeout", "0").returncode == 2


def test_declined_prompt_exits_5_and_unknown_slug_3(
    kb: RunCli, serve: list[Serve], agentstack_agent: RunningPeer
) -> None:
    kb("agents", "add", agentstack_agent.base_url, "--slug", "demo")
    serve.append(Serve(Path(), ["--deny-unknown"]))
    r = kb("send", "demo", "keys=github")
    assert r.returncode == 5, r.stderr
    assert kb("send", "ghost", "hi").returncode == 3


@pytest.mark.parametrize("stored", [False, True], ids=["asks", "granted"])
def test_a_dead_agent_is_not_prompted_for_and_nothing_is_released(
    kb: RunCli, serve: list[Serve], start_peer: Callable[..., RunningPeer], stored: bool
) -> None:
    """Issue 12 item 8: with the agent down, `send` exits 6 at once; no prompt shows on the terminal, and
    a value the agent holds a grant for is not released (nor audited so) when nothing can be delivered."""
    peer = start_peer("a2a1")
    assert kb("agents", "add", peer.base_url, "--slug", "gone").returncode == 0
    if stored:
        for key in ("openai", "github"):
            assert kb("secrets", "set", key, "--agent", "gone", stdin=f"{key}-stored").returncode == 0
    peer.stop()
    s = Serve(Path(), [])  # a terminal to prompt on, and the default 5 min prompt timeout
    serve.append(s)
    r = kb("send", "gone", "hi", timeout=60)
    assert r.returncode == 6, r.stderr
    assert "gone" in r.stderr and "not reachable" in r.stderr
    s.read_until("", timeout=0.5)
    assert "Allow?" not in s.screen
    events = json.loads(kb("audit", "--json", "--agent", "gone").stdout)
    assert not {e["decision"] for e in events} & {"released", "denied", "timed_out"}, events


def test_send_gives_up_by_default_after_the_prompt_timeout_plus_the_run(
    kb: RunCli, serve: list[Serve], start_peer: Callable[..., RunningPeer]
) -> None:
    """Issue 12 item 10: `send` no longer waits forever; its default follows the instance's prompt timeout."""
    help_text = kb("send", "--help").stdout
    assert "prompt timeout" in help_text and "10 min" in help_text
    peer = start_peer("a2a1")
    assert kb("agents", "add", peer.base_url, "--slug", "demo").returncode == 0
    serve.append(Serve(Path(), ["--deny-unknown", "--prompt-timeout", "7"]))
    r = kb("-v", "send", "demo", "hi keys=none")
    assert "waits up to 607 s for the run to end" in r.stderr, r.stderr
    explicit = kb("-v", "send", "demo", "hi keys=none", "--timeout", "30")
    assert "waits up to 30 s for the run to end" in explicit.stderr, explicit.stderr
