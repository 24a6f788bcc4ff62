# SPDX-License-Identifier: Apache-2.0
"""`keybroker models ...` (issue 14) against the LiteLLM proxy, alone and through a running instance.

The provider key (the proxy's master key) is a canary: it goes in on stdin and must never come out of
any command, nor be written anywhere but the vault.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import CardSite, card
from tests.conftest import IsolatedEnv, RunCli
from tests.peers import litellm
from tests.peers.process import skip_if_missing

pytestmark = pytest.mark.slow

LLM_URI = "https://a2a-extensions.agentstack.beeai.dev/services/llm/v1"


@pytest.fixture(scope="module")
def proxy() -> Iterator[litellm.LiteLLMProxy]:
    with skip_if_missing(), litellm.litellm_proxy() as running:
        yield running


def model_card() -> dict[str, object]:
    data = card("Model Agent")
    data["capabilities"]["extensions"].append(  # type: ignore[index]
        {"uri": LLM_URI, "params": {"llm_demands": {"default": {"suggested": ["openai/mock-chat"]}}}}
    )
    return data


def _no_key_anywhere(key: str, home: Path, *outputs: str) -> None:
    for text in outputs:
        assert key not in text
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def _walk(kb: RunCli, proxy: litellm.LiteLLMProxy, card_site: CardSite) -> list[str]:
    """add, list, test, allow, grants, usage, rm: every command's output."""
    out: list[str] = []

    def run(*args: str, stdin: str | None = None, code: int = 0) -> str:
        done = kb(*args, stdin=stdin)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        out.extend((done.stdout, done.stderr))
        return done.stdout + done.stderr

    assert "2 models" in run("models", "add", "lite", "--base", proxy.api_base, stdin=proxy.master_key + "\n")
    [listed] = json.loads(kb("models", "list", "--json").stdout)
    assert listed["name"] == "lite" and listed["has_key"] is True
    assert sorted(listed["models"]) == [litellm.CHAT_MODEL, litellm.EMBEDDING_MODEL]
    assert "HTTP 200" in run("models", "test", "lite", "--model", litellm.CHAT_MODEL)
    card_site.set_card(model_card())
    run("agents", "add", card_site.url, "--slug", "mdl")
    assert "through the gateway" in run("models", "allow", "mdl", "--model", f"lite/{litellm.CHAT_MODEL}")
    # A model the provider does not list, and a handover the provider does not allow, are refused.
    run("models", "allow", "mdl", "--model", "lite/gpt-none", code=2)
    run("models", "allow", "mdl", "--model", f"lite/{litellm.CHAT_MODEL}", "--handover", code=2)
    grants = json.loads(kb("models", "grants", "--json").stdout)
    assert [(g["agent"], g["demand"], g["model"], g["scope"]) for g in grants] == [
        ("mdl", "llm:default", litellm.CHAT_MODEL, "always")
    ]
    assert "no model use yet" in run("models", "usage")
    run("models", "rm", "lite")
    assert json.loads(kb("models", "grants", "--json").stdout) == []
    assert json.loads(kb("models", "list", "--json").stdout) == []
    return out


def test_models_commands_on_the_data_home(
    kb: RunCli, proxy: litellm.LiteLLMProxy, card_site: CardSite, isolated_env: IsolatedEnv
) -> None:
    outputs = _walk(kb, proxy, card_site)
    _no_key_anywhere(proxy.master_key, Path(isolated_env.keybroker_home), *outputs)


def test_models_commands_through_a_running_instance(
    run_cli: RunCli, proxy: litellm.LiteLLMProxy, card_site: CardSite, request: pytest.FixtureRequest
) -> None:
    serving = request.getfixturevalue("serving")
    outputs = _walk(run_cli, proxy, card_site)
    assert serving.proc.poll() is None
    for text in outputs:
        assert proxy.master_key not in text


def test_a_key_for_plain_http_elsewhere_is_refused_and_nothing_stored(kb: RunCli) -> None:
    done = kb("models", "add", "far", "--base", "http://models.example.com/v1", stdin="sk-CANARY-far\n")
    assert done.returncode == 2, done.stderr
    assert "in clear" in done.stderr and "sk-CANARY-far" not in done.stderr
    assert json.loads(kb("models", "list", "--json").stdout) == []
