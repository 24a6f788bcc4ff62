# SPDX-License-Identifier: Apache-2.0
"""What a running bridge has loaded once it answers (issue 16: cold start to the bridge answering).

`keybroker serve --headless` runs with `-X importtime` (PYTHONPROFILEIMPORTTIME): every module it
imports is named on stderr, in order, so the modules imported before `listening on URL` are a fact to
check, not a time. The heavy stacks a feature needs only when it is used must not be among them: the
management API (FastAPI and pydantic, built on its first request: core/api/lazy.py), the A2A stack
(first bridged request), the fast path's aiohttp, the sign-in libraries (httpx, authlib, joserfc,
cryptography: the first sign-in or card fetch). Then the API still answers, building itself on that
first request.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx

from keybroker.system.paths import Paths
from tests.conftest import IsolatedEnv, subprocess_env

#: Top-level packages (and keybroker modules) no start may import.
NOT_AT_START = (
    "fastapi",
    "pydantic",
    "a2a",
    "google.protobuf",
    "aiohttp",
    "httpx",
    "httpcore",
    "authlib",
    "joserfc",
    "cryptography",
    "keybroker.core.api.app",
)


def _module(line: str) -> str | None:
    """`import time:  self |  cumulative |    name` -> name."""
    if not line.startswith("import time:"):
        return None
    name = line.rsplit("|", 1)[-1].strip()
    return None if name == "imported package" else name  # the header line


def _heavy(modules: list[str]) -> list[str]:
    return sorted({m for m in modules for p in NOT_AT_START if m == p or m.startswith(p + ".")})


def test_the_bridge_answers_without_the_stacks_only_a_feature_needs(isolated_env: IsolatedEnv) -> None:
    home = str(isolated_env.keybroker_home)
    env = subprocess_env(
        {"KEYBROKER_HOME": home, "KEYBROKER_VAULT": "memory", "PYTHONPROFILEIMPORTTIME": "1"}
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "keybroker", "serve", "--headless", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stderr is not None
    before: list[str] = []
    after: list[str] = []
    ready = threading.Event()
    url: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("listening on "):
                url.append(line.split()[-1])
                ready.set()
            name = _module(line)
            if name is not None:
                (after if ready.is_set() else before).append(name)
        ready.set()  # the process ended

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(90) and url, f"serve did not start (rc {proc.poll()})"
        assert "keybroker.wiring.runtime" in before  # the probe sees the start's imports
        assert _heavy(before) == []

        token = Paths.from_env(env).token_file.read_text().strip()
        response = httpx.get(
            f"{url[0]}/api/v1/status",
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert response.json()["running"] is True
        denied = httpx.get(f"{url[0]}/api/v1/status", trust_env=False, timeout=60)
        assert denied.status_code == 401  # the lazily built API keeps its token gate
        deadline = time.monotonic() + 10
        while "fastapi" not in after and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "fastapi" in after  # built on that first request, not before
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        reader.join(10)
        proc.stderr.close()
