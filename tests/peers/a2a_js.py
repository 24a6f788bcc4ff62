# SPDX-License-Identifier: Apache-2.0
"""An A2A 0.3 agent and client on the official JS SDK (@a2a-js/sdk 0.3.x, scripts/peers/a2a-js/).

- `a2a_js_agent()` starts `node scripts/peers/a2a-js/agent.mjs` on a free loopback port and yields its base
  URL (card at /.well-known/agent-card.json, JSON-RPC at /a2a/jsonrpc, HTTP+JSON at /a2a/rest). It echoes
  text as a streamed artifact; "/secret ..." asks for Agent Stack secrets (auth-required) first; "/message
  ..." answers with a plain Message. See agent.mjs for the details.
- `run_client(url, text, ...)` runs `node scripts/peers/a2a-js/client.mjs` (ClientFactory.createFromUrl) and
  returns the final task (or Message) and, when streaming, the events it saw.

The cache is `.cache/peers/a2a-js` in the repo root, or `$KEYBROKER_PEER_A2A_JS_DIR`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.peers.process import (
    REPO_ROOT,
    PeerError,
    ServerProcess,
    cache_path,
    free_port,
    peer_env,
    require_cache,
    start_process,
    wait_until,
    work_dir,
)

DIR_ENV = "KEYBROKER_PEER_A2A_JS_DIR"
INSTALL = "bash scripts/peers/a2a-js.sh"
SCRIPTS = REPO_ROOT / "scripts" / "peers" / "a2a-js"
CARD_PATH = "/.well-known/agent-card.json"
SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"
START_TIMEOUT = 20.0
CLIENT_TIMEOUT = 30.0


def cache_dir() -> Path:
    """The @a2a-js/sdk cache (`$KEYBROKER_PEER_A2A_JS_DIR` or .cache/peers/a2a-js)."""
    return cache_path(DIR_ENV, ".cache/peers/a2a-js")


def _modules() -> Path:
    return require_cache(cache_dir() / "node_modules" / "@a2a-js" / "sdk", "@a2a-js/sdk", INSTALL).parents[1]


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise PeerError("node is not on PATH (Node 20 comes with the machine image)")
    return node


@dataclass(frozen=True)
class A2AJsAgent:
    """A running agent.mjs."""

    url: str
    server: ServerProcess
    start_seconds: float

    @property
    def card_url(self) -> str:
        return f"{self.url}{CARD_PATH}"

    @property
    def jsonrpc_url(self) -> str:
        return f"{self.url}/a2a/jsonrpc"

    @property
    def rest_url(self) -> str:
        return f"{self.url}/a2a/rest"


@contextlib.contextmanager
def a2a_js_agent(
    *, secret_demands: Mapping[str, Mapping[str, str | None]] | None = None, workdir: Path | None = None
) -> Iterator[A2AJsAgent]:
    """Start agent.mjs on a free loopback port; yield once its card answers.

    `secret_demands` replaces the default {"api_key": {"name": "API key", "description": ...}}.
    """
    env = {"A2A_MODULES": str(_modules()), "A2A_PORT": str(port := free_port())}
    if secret_demands is not None:
        env["A2A_SECRET_DEMANDS"] = json.dumps(secret_demands)
    url = f"http://127.0.0.1:{port}"
    with work_dir(workdir, "keybroker-a2a-js-") as wd:
        argv = [_node(), str(SCRIPTS / "agent.mjs")]
        server = start_process("a2a-js-agent", argv, wd, env=peer_env(env), cwd=wd)
        try:
            took = wait_until(
                server,
                lambda c: c.get(f"{url}{CARD_PATH}").status_code == 200,
                timeout=START_TIMEOUT,
                what="card",
            )
            yield A2AJsAgent(url=url, server=server, start_seconds=took)
        finally:
            server.stop()


@dataclass(frozen=True)
class ClientResult:
    """What client.mjs printed: the final task or Message, and the streamed events (if --stream)."""

    result: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    stderr: str = ""

    @property
    def state(self) -> str | None:
        """The task's state, or None for a Message."""
        if self.result.get("kind") != "task":
            return None
        return str(self.result["status"]["state"])

    def artifact_text(self) -> str:
        """All text parts of all artifacts, joined (the agent streams them in 4-character chunks)."""
        return "".join(
            part.get("text", "")
            for artifact in self.result.get("artifacts", [])
            for part in artifact["parts"]
        )


def run_client(
    url: str,
    text: str,
    *,
    stream: bool = False,
    secrets: Mapping[str, str] | None = None,
    preconfigured: bool = False,
    timeout: float = CLIENT_TIMEOUT,
) -> ClientResult:
    """Send `text` to the agent at `url` with client.mjs; resume with `secrets` if it asks for them.

    `preconfigured` sends the secrets in the first message's metadata instead (Agent Stack's pre-configured
    fulfilment). Raises PeerError if the client fails.
    """
    argv = [_node(), str(SCRIPTS / "client.mjs"), url, text]
    if stream:
        argv.append("--stream")
    for key, value in (secrets or {}).items():
        argv += ["--secret", f"{key}={value}"]
    if preconfigured:
        argv.append("--preconfigured")
    done = subprocess.run(
        argv,
        env=peer_env({"A2A_MODULES": str(_modules())}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise PeerError(f"client.mjs exited with {done.returncode}:\n{done.stderr[-4000:]}")
    events = [
        json.loads(line[len("event ") :]) for line in done.stderr.splitlines() if line.startswith("event ")
    ]
    return ClientResult(
        result=json.loads(done.stdout.strip().splitlines()[-1]), events=events, stderr=done.stderr
    )
