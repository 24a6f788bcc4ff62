# SPDX-License-Identifier: Apache-2.0
"""Agents and clients on the official JS SDK, two release lines side by side (scripts/peers/README.md).

- `V03`: @a2a-js/sdk 0.3.x, A2A 0.3 (scripts/peers/a2a-js/, cache `.cache/peers/a2a-js` or
  `$KEYBROKER_PEER_A2A_JS_DIR`);
- `V1`: @a2a-js/sdk 1.x, A2A 1.0 (scripts/peers/a2a-js-1/, cache `.cache/peers/a2a-js-1` or
  `$KEYBROKER_PEER_A2A_JS1_DIR`).

- `a2a_js_agent(line=...)` starts that line's `agent.mjs` on a free loopback port and yields its base
  URL (card at /.well-known/agent-card.json, JSON-RPC at /a2a/jsonrpc, HTTP+JSON at /a2a/rest). It echoes
  text as a streamed artifact; "/secret ..." asks for Agent Stack secrets (auth-required) first; "/message
  ..." answers with a plain Message. See agent.mjs for the details.
- `run_client(url, text, ..., line=...)` runs that line's `client.mjs` (`ClientFactory.createFromUrl(url)`,
  the URL verbatim) and returns the final task (or Message) and, when streaming, the events it saw.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
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

CARD_PATH = "/.well-known/agent-card.json"
SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"
START_TIMEOUT = 20.0
CLIENT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SdkLine:
    """One release line of @a2a-js/sdk: its scripts, its cache and the command that fills it."""

    name: str
    dir_env: str
    default_dir: str
    scripts: Path
    install: str


V03 = SdkLine(
    "@a2a-js/sdk 0.3",
    "KEYBROKER_PEER_A2A_JS_DIR",
    ".cache/peers/a2a-js",
    REPO_ROOT / "scripts" / "peers" / "a2a-js",
    "bash scripts/peers/a2a-js.sh",
)
V1 = SdkLine(
    "@a2a-js/sdk 1.x",
    "KEYBROKER_PEER_A2A_JS1_DIR",
    ".cache/peers/a2a-js-1",
    REPO_ROOT / "scripts" / "peers" / "a2a-js-1",
    "bash scripts/peers/a2a-js-1.sh",
)


def cache_dir(line: SdkLine = V03) -> Path:
    """A line's cache (its `dir_env` variable, or its default dir below the repo root)."""
    return cache_path(line.dir_env, line.default_dir)


def _modules(line: SdkLine) -> Path:
    sdk = cache_dir(line) / "node_modules" / "@a2a-js" / "sdk"
    return require_cache(sdk, line.name, line.install).parents[1]


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
    *,
    secret_demands: Mapping[str, Mapping[str, str | None]] | None = None,
    workdir: Path | None = None,
    line: SdkLine = V03,
) -> Iterator[A2AJsAgent]:
    """Start `line`'s agent.mjs on a free loopback port; yield once its card answers.

    `secret_demands` replaces the default {"api_key": {"name": "API key", "description": ...}}.
    """
    env = {"A2A_MODULES": str(_modules(line)), "A2A_PORT": str(port := free_port())}
    if secret_demands is not None:
        env["A2A_SECRET_DEMANDS"] = json.dumps(secret_demands)
    url = f"http://127.0.0.1:{port}"
    with work_dir(workdir, "keybroker-a2a-js-") as wd:
        argv = [_node(), str(line.scripts / "agent.mjs")]
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
        """The task's state (`completed` on 0.3, `TASK_STATE_COMPLETED` on 1.x), or None for a Message."""
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
    extensions: Sequence[str] = (),
    line: SdkLine = V03,
) -> ClientResult:
    """Send `text` to the agent at `url` with `line`'s client.mjs; resume with `secrets` if it asks for them.

    `preconfigured` sends the secrets in the first message's metadata instead (Agent Stack's pre-configured
    fulfilment); `extensions` (1.x only) are asked for on every call. Raises PeerError if the client fails.
    """
    argv = [_node(), str(line.scripts / "client.mjs"), url, text]
    if stream:
        argv.append("--stream")
    for key, value in (secrets or {}).items():
        argv += ["--secret", f"{key}={value}"]
    if preconfigured:
        argv.append("--preconfigured")
    if extensions and line is V03:
        raise PeerError("the 0.3 client.mjs takes no --extension")
    for uri in extensions:
        argv += ["--extension", uri]
    done = subprocess.run(
        argv,
        env=peer_env({"A2A_MODULES": str(_modules(line))}),
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
