# SPDX-License-Identifier: Apache-2.0
"""The LiteLLM proxy (scripts/peers/litellm.sh) with mock models, for tests.

`litellm_proxy()` starts `litellm --config scripts/peers/litellm/config.yaml` on a free loopback port with
a random master key and yields its URL and key. The models answer from `mock_response`, without network:
`mock-chat` (chat completions, streaming too) and `mock-embed` (embeddings; one fixed vector).

The venv is `.venv-peer-litellm` in the repo root, or `$KEYBROKER_PEER_LITELLM_VENV`. Start-up takes
5-10 s on a 2-core machine (importing the proxy), so share one proxy between tests where possible.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.peers.process import (
    REPO_ROOT,
    ServerProcess,
    cache_path,
    free_port,
    peer_env,
    require_cache,
    start_process,
    wait_until,
    work_dir,
)

VENV_ENV = "KEYBROKER_PEER_LITELLM_VENV"
INSTALL = "bash scripts/peers/litellm.sh"
CONFIG = REPO_ROOT / "scripts" / "peers" / "litellm" / "config.yaml"
CHAT_MODEL = "mock-chat"
EMBEDDING_MODEL = "mock-embed"
MOCK_REPLY = "Hello from the mock model."
MOCK_EMBEDDING = [0.1, 0.2, 0.3]
START_TIMEOUT = 60.0


def venv_dir() -> Path:
    """The LiteLLM peer venv (`$KEYBROKER_PEER_LITELLM_VENV` or .venv-peer-litellm)."""
    return cache_path(VENV_ENV, ".venv-peer-litellm")


@dataclass(frozen=True)
class LiteLLMProxy:
    """A running LiteLLM proxy: OpenAI-compatible API under `url` + /v1, `master_key` as the bearer."""

    url: str
    master_key: str
    server: ServerProcess
    start_seconds: float

    @property
    def api_base(self) -> str:
        """What OpenAI clients take as base URL (they add /chat/completions, /embeddings, /models)."""
        return f"{self.url}/v1"

    def client(self, key: str | None = None) -> httpx.Client:
        """An httpx client on api_base with `Authorization: Bearer <key or the master key>`."""
        return httpx.Client(
            base_url=self.api_base,
            headers={"Authorization": f"Bearer {key or self.master_key}"},
            trust_env=False,
            timeout=30.0,
        )


@contextlib.contextmanager
def litellm_proxy(
    *, config: Path = CONFIG, master_key: str | None = None, workdir: Path | None = None
) -> Iterator[LiteLLMProxy]:
    """Start the proxy on a free loopback port; yield once GET /v1/models answers 200 with the key.

    A `config` of your own may read the key as `master_key: os.environ/LITELLM_MASTER_KEY`.
    """
    litellm = require_cache(venv_dir() / "bin" / "litellm", "LiteLLM proxy", INSTALL)
    key = master_key or f"sk-test-{secrets.token_hex(12)}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with work_dir(workdir, "keybroker-litellm-") as wd:
        env = peer_env(
            {
                "HOME": str(wd),
                "LITELLM_MASTER_KEY": key,
                # Use the model cost map in the wheel instead of fetching the newest one at start-up.
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "PYTHONUNBUFFERED": "1",
                "NO_COLOR": "1",
            }
        )
        argv = [str(litellm), "--config", str(config), "--port", str(port), "--host", "127.0.0.1"]
        server = start_process("litellm", [*argv, "--telemetry", "False"], wd, env=env, cwd=wd)
        try:
            took = wait_until(
                server,
                lambda c: (
                    c.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
                ),
                timeout=START_TIMEOUT,
                what="/v1/models answer",
                interval=0.25,
            )
            yield LiteLLMProxy(url=url, master_key=key, server=server, start_seconds=took)
        finally:
            server.stop()
