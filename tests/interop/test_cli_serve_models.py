# SPDX-License-Identifier: Apache-2.0
"""Issue 14 as a user runs it: `keybroker serve` on a terminal, the LiteLLM proxy added with `keybroker
models add`, a real agentstack agent demanding a chat and an embedding model, `keybroker send`.

The first run asks on the terminal (a yes gives the best matches through the gateway, "always"); the
next run is served without asking; usage shows in `keybroker models usage`; the provider's key (the
proxy's master key) appears in no output, no file of the data home and no log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IsolatedEnv, RunCli, subprocess_env
from tests.interop.conftest import RunningPeer, launch_peer
from tests.interop.test_cli_serve_send import Serve, kb, reap, serve  # noqa: F401 - fixtures used by name
from tests.peers import litellm
from tests.peers.process import skip_if_missing

pytestmark = [pytest.mark.secret_service, pytest.mark.slow]


@pytest.fixture(scope="module")
def proxy() -> Iterator[litellm.LiteLLMProxy]:
    with skip_if_missing(), litellm.litellm_proxy() as running:
        yield running


@pytest.fixture(scope="module")
def model_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPeer]:
    peer = launch_peer("agentstack-models", tmp_path_factory.mktemp("agentstack-models-cli"))
    yield peer
    peer.stop()


def test_serve_asks_once_for_models_then_serves_them_through_the_gateway(
    kb: RunCli,  # noqa: F811
    serve: list[Serve],  # noqa: F811
    proxy: litellm.LiteLLMProxy,
    model_agent: RunningPeer,
    isolated_env: IsolatedEnv,
    request: pytest.FixtureRequest,
) -> None:
    s = Serve(Path(), [])
    serve.append(s)
    added = kb("models", "add", "lite", "--base", proxy.api_base, stdin=proxy.master_key)
    assert added.returncode == 0 and "2 models" in added.stderr, added.stderr
    assert kb("agents", "add", model_agent.base_url, "--slug", "mdl").returncode == 0

    sender = subprocess.Popen(
        [sys.executable, "-m", "keybroker", "send", "mdl", "hello stream embed"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env({"KEYBROKER_VAULT": "system"}),
    )
    request.addfinalizer(lambda: reap(sender))
    screen = s.read_until("Allow? [y/N]")
    assert "a llm model (default): Answers the user" in screen
    assert "gets: lite/mock-chat, through the gateway" in screen
    assert "gets: lite/mock-embed, through the gateway" in screen
    s.type("y\n")
    s.read_until("For how long?")
    s.type("a\n")
    out, err = sender.communicate(timeout=60)
    assert sender.returncode == 0, err
    assert f"answer: {litellm.MOCK_REPLY}" in out and "embedding: 3 floats" in out

    before = len(s.screen)
    again = kb("send", "mdl", "hello leak")
    assert again.returncode == 0, again.stderr
    assert f"answer: {litellm.MOCK_REPLY}" in again.stdout
    assert "kb-gw-" not in again.stdout  # the agent echoed its token: cut
    time.sleep(0.3)
    s.read_until("", timeout=0.5)
    assert "Allow?" not in s.screen[before:]

    grants = json.loads(kb("models", "grants", "--json").stdout)
    assert sorted((g["demand"], g["scope"]) for g in grants) == [
        ("embedding:default", "always"),
        ("llm:default", "always"),
    ]
    usage = {u["model"]: u for u in json.loads(kb("models", "usage", "--json").stdout)}
    assert usage[litellm.CHAT_MODEL]["requests"] == 2 and usage[litellm.CHAT_MODEL]["total_tokens"] > 0
    assert usage[litellm.EMBEDDING_MODEL]["requests"] == 1
    assert s.stop() == 0
    key = proxy.master_key
    assert key not in out + err + again.stdout + again.stderr + s.screen
    for path in Path(isolated_env.keybroker_home).rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
