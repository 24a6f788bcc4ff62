# SPDX-License-Identifier: Apache-2.0
"""`keybroker serve` under a flood, as a desktop runs it: 1,024 open files at most (issue 12, item 9).

1,100 idle connections used to take every file the process may open: the bridge and its management
API stopped answering, and the log filled with errors. Now the oldest idle connections are closed to
make room, the API and the bridge answer, and repeated log lines are cut to a few and a count.
"""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import CardSite
from tests.conftest import IsolatedEnv, RunCli, subprocess_env

OPEN_FILES = 1024


def _desktop_limits() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, hard))


@pytest.fixture
def served(isolated_env: IsolatedEnv) -> Iterator[tuple[str, str, Path]]:
    """`keybroker serve --headless --port 0` with 1,024 open files: (URL, API token, log file)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "keybroker", "serve", "--headless", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        preexec_fn=_desktop_limits,
    )
    try:
        assert proc.stderr is not None
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if line.startswith("listening on "):
                url = line.split()[-1]
            elif not line and proc.poll() is not None:
                break
        assert url, f"serve did not start (rc {proc.poll()})"
        home = isolated_env.keybroker_home
        token = (home / "config" / "api-token").read_text().strip()
        yield url, token, home / "logs" / "keybroker.log"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def test_1100_idle_connections_leave_the_bridge_and_the_api_answering(served: tuple[str, str, Path]) -> None:
    url, token, log = served
    port = int(url.rsplit(":", 1)[1])
    idle: list[socket.socket] = []
    try:
        for _ in range(1100):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        with httpx.Client(trust_env=False, timeout=10) as http:
            status = http.get(url + "/api/v1/status", headers={"Authorization": f"Bearer {token}"})
            card = http.get(url + "/agents/nobody/.well-known/agent-card.json")
    finally:
        for sock in idle:
            sock.close()
    assert status.status_code == 200 and status.json()["running"] is True
    assert card.status_code == 404 and card.json()["error"] == "unknown_agent"
    text = log.read_text() if log.exists() else ""
    assert "out of system resource" not in text
    assert " ERROR " not in text


def test_a_repeated_warning_is_logged_a_few_times_and_then_counted(
    served: tuple[str, str, Path], run_cli: RunCli, card_site: CardSite
) -> None:
    """300 sends to an agent that went away: each is refused with a warning, the log keeps a few."""
    url, _, log = served
    assert run_cli("agents", "add", card_site.url, "--slug", "gone").returncode == 0
    card_site.close()
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "role": "user",
                "messageId": "m",
                "parts": [{"kind": "text", "text": "hi"}],
            }
        },
    }
    with httpx.Client(trust_env=False, timeout=10) as http:
        for _ in range(300):
            answer = http.post(url + "/agents/gone", json=body).json()
            assert "not reachable" in answer["error"]["message"]
    lines = log.read_text().splitlines()
    warned = [line for line in lines if "does not answer: nothing asked for or released" in line]
    assert 1 <= len(warned) <= 10, len(warned)
    assert any("more like it are left out" in line for line in warned), warned
