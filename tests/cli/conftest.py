"""CLI tests run `python -m keybroker` in a subprocess against the rig's real Secret Service."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from keybroker import VAULT_SERVICE
from tests.conftest import IsolatedEnv, RunCli, subprocess_env
from tests.vault import secret_service as rig

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"


@pytest.fixture
def kb(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """`run_cli` on the OS vault (each test has its own KEYBROKER_HOME).

    The rig's keyring is shared by the whole session: the test starts with no Keybroker entry in it, so
    what earlier tests stored (under other homes) is not taken for leftovers by `doctor` or `purge`."""
    if rig.rig_problem() is None:
        rig.delete_all(VAULT_SERVICE)
    monkeypatch.setenv("KEYBROKER_VAULT", "system")
    return run_cli


class CardHandler(BaseHTTPRequestHandler):
    card: dict[str, Any] = {}

    def do_GET(self) -> None:
        if self.path == "/.well-known/agent-card.json":
            body = json.dumps(self.server.card).encode()  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


class CardSite:
    """A tiny HTTP server that serves one agent card (changeable)."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), CardHandler)
        self.server.card = card()  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set_card(self, data: dict[str, Any]) -> None:
        self.server.card = data  # type: ignore[attr-defined]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def card(name: str = "Demo Agent", demands: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "description": "serves a card",
        "version": "1.0.0",
        "url": "http://127.0.0.1:1/jsonrpc/",
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3.0",
        "capabilities": {
            "streaming": True,
            "extensions": [
                {
                    "uri": SECRETS_URI,
                    "params": {
                        "secret_demands": demands
                        if demands is not None
                        else {"github": {"name": "GitHub token", "description": "PAT with repo scope"}}
                    },
                }
            ],
        },
        # OAuth 2 is not handled yet: `agents show` must say so, never report it satisfied.
        "securitySchemes": {
            "oauth": {
                "type": "oauth2",
                "flows": {"clientCredentials": {"tokenUrl": "https://idp.example/token", "scopes": {}}},
            }
        },
        "security": [{"oauth": []}],
        "defaultInputModes": ["text"],
        "defaultOutputModes": ["text"],
        "skills": [],
    }


@pytest.fixture
def card_site() -> Iterator[CardSite]:
    site = CardSite()
    yield site
    site.close()


class Serving:
    """`keybroker serve --headless --port 0` in this test's home, on a session-only vault, no terminal
    (so every prompt is declined): the running instance the CLI then talks to through its API."""

    def __init__(self, home: str, env: dict[str, str | None] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "keybroker", "serve", "--headless", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=subprocess_env({"KEYBROKER_HOME": home, "KEYBROKER_VAULT": "memory", **(env or {})}),
            text=True,
        )
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if line.startswith("listening on "):
                self.url = line.split()[-1]
                return
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise AssertionError(f"serve did not start (rc {self.proc.poll()})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def serving(isolated_env: IsolatedEnv) -> Iterator[Serving]:
    """A running `keybroker serve` for this test's home (stopped at the end)."""
    running = Serving(str(isolated_env.keybroker_home))
    yield running
    running.stop()


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """`python -m keybroker ARGS` on a pseudo-terminal that is its controlling terminal (so `getpass`
    reads /dev/tty, and stdin and stdout are TTYs), driven like a person at a keyboard."""

    def __init__(self, *args: str, env: dict[str, str | None] | None = None) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "keybroker", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=subprocess_env(env),
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
        os.close(slave)
        self.screen = ""

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.screen += chunk.decode(errors="replace")
        return bool(chunk)

    def expect(self, text: str, timeout: float = 30.0) -> None:
        """Until `text` is on the screen; AssertionError with the screen after `timeout` s."""
        deadline = time.monotonic() + timeout
        while text not in self.screen and time.monotonic() < deadline:
            if not self._read(0.2):
                break
        assert text in self.screen, self.screen[-2000:]

    def type(self, keys: str) -> None:
        """Type `keys` (\\x04 is Ctrl+D, \\n Enter)."""
        os.write(self.master, keys.encode())

    def finish(self, timeout: float = 30.0) -> int:
        """Read to the end; the exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(0.2):
            if self.proc.poll() is not None and not select.select([self.master], [], [], 0)[0]:
                break
        code = self.proc.wait(max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return code


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    """Terminals a test opened, killed at the end if still running."""
    opened: list[Terminal] = []
    yield opened
    for t in opened:
        if t.proc.poll() is None:
            t.proc.kill()
            t.proc.wait(10)


class ServeTerminal(Terminal):
    """`keybroker serve --headless --port 0` on a pseudo-terminal: its prompts are asked there."""

    def __init__(self, env: dict[str, str | None] | None = None) -> None:
        super().__init__("serve", "--headless", "--port", "0", env=env)
        self.expect("listening on ")
        self.expect("\n")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.finish()


class DemoAgent:
    """scripts/demo_agent.py (a real a2a-sdk agent whose card declares GITHUB_TOKEN) on a free port."""

    def __init__(self) -> None:
        import socket

        import httpx

        from tests.conftest import source_root

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        script = source_root().parent / "scripts" / "demo_agent.py"
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(port)], env=subprocess_env(), stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + "/.well-known/agent-card.json", trust_env=False).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError("the demo agent did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def demo_agent() -> Iterator[DemoAgent]:
    agent = DemoAgent()
    yield agent
    agent.stop()
