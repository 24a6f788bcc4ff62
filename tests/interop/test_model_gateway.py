# SPDX-License-Identifier: Apache-2.0
"""Model access end to end (issue 14): a real agentstack-sdk 0.7.1 agent demanding a chat and an
embedding model, behind the real bridge, served by the LiteLLM proxy (mock models) through the gateway.

The client is a plain a2a-sdk 1.x client that knows nothing about models. The provider's key (the
proxy's master key) and the gateway token are canaries: neither may reach the client in any shape,
and the agent must never see the real key.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from keybroker.core.a2a.model_provider import HttpModelProvider
from keybroker.core.broker.prompts import ModelPick, PromptAnswer, PromptRequest
from keybroker.core.llm.access import ModelAccess
from keybroker.core.models import AuditDecision, GrantScope, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.ui.app_state import AppState, Status, tooltip
from keybroker.wiring.services import Services, open_services
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.support import a2a_client_run, bridged, record_from_url
from tests.conftest import RIG_FLAG
from tests.fakes import RecordingNotifier, ScriptedPrompter
from tests.interop.conftest import RunningPeer, free_port, launch_peer
from tests.peers import litellm
from tests.peers.process import skip_if_missing

pytestmark = pytest.mark.slow  # the proxy and the agent take seconds to start

PROVIDER = "lite"
CHAT = f"{PROVIDER}/{litellm.CHAT_MODEL}"


@pytest.fixture(scope="module")
def proxy() -> Iterator[litellm.LiteLLMProxy]:
    with skip_if_missing(), litellm.litellm_proxy() as running:
        yield running


@pytest.fixture(scope="module")
def model_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPeer]:
    peer = launch_peer("agentstack-models", tmp_path_factory.mktemp("agentstack-models"))
    yield peer
    peer.stop()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    # The provider key lives in the real vault under the test rig (gnome-keyring), else in memory.
    vault = open_vault("system" if os.environ.get(RIG_FLAG) else "memory")
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=vault)
    yield svc
    svc.close()


def allow_all(request: PromptRequest) -> PromptAnswer:
    """Allow every model demand with the prompt's pre-set best match."""
    return PromptAnswer.grant(GrantScope.ONCE)


def access_for(
    services: Services,
    proxy: litellm.LiteLLMProxy,
    prompter: ScriptedPrompter,
    notifier: RecordingNotifier | None = None,
) -> ModelAccess:
    access = ModelAccess(
        catalog=services.catalog,
        vault=services.vault,
        audit=services.audit,
        prompter=prompter,
        notifier=notifier,
    )
    access.providers.add(PROVIDER, proxy.api_base, SecretValue(proxy.master_key))
    models = HttpModelProvider().list_models(PROVIDER, proxy.api_base, SecretValue(proxy.master_key))
    access.providers.set_models(PROVIDER, models)
    return access


@dataclass
class Gateway:
    """The bridge serving only the model gateway, and the token an allowed demand got."""

    url: str
    token: str
    access: ModelAccess

    @property
    def notices(self) -> list[tuple[str, str]]:
        notifier = self.access._notifier
        assert isinstance(notifier, RecordingNotifier)
        return notifier.notices


@asynccontextmanager
async def gateway_for(
    services: Services, proxy: litellm.LiteLLMProxy, model_agent: RunningPeer
) -> AsyncIterator[Gateway]:
    """Fulfil the model agent's chat demand (no prompt: an *always* answer) and serve the gateway."""
    prompter = ScriptedPrompter()
    access = access_for(services, proxy, prompter, notifier=RecordingNotifier())
    record = record_from_url(model_agent.base_url)
    from keybroker.core.llm.grants import new_model_grant_id
    from keybroker.core.llm.records import ModelGrant

    grant = ModelGrant(
        new_model_grant_id(),
        record.slug,
        "llm:default",
        PROVIDER,
        litellm.CHAT_MODEL,
        False,
        GrantScope.ALWAYS,
        0.0,
        card_fingerprint=record.fingerprint,
    )
    access.grants.add(grant, caller=None, detail="test")
    chat = next(d for d in record.model_demands if d.kind == "llm")
    answer = await access.fulfil_models(record, [chat], phase="preflight", task_id=None, context_id=None)
    assert prompter.requests == []
    release = answer.releases["llm:default"]
    assert release.gateway
    async with bridged([], ScriptedSecrets({}), models=access) as bridge:
        yield Gateway(
            f"http://127.0.0.1:{bridge.port}/models/{record.slug}/v1", release.api_key.reveal(), access
        )


def _client(token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, trust_env=False, timeout=30.0)


CHAT_BODY = {"model": litellm.CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}]}


# The agent behind the bridge ----------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["hello embed", "hello stream embed"], ids=["blocking", "streamed"])
async def test_agent_gets_its_models_through_the_gateway_and_answers(
    services: Services, proxy: litellm.LiteLLMProxy, model_agent: RunningPeer, text: str
) -> None:
    prompter = ScriptedPrompter(default=allow_all)
    access = access_for(services, proxy, prompter)
    record = record_from_url(model_agent.base_url)
    assert {d.ref for d in record.model_demands} == {"llm:default", "embedding:default"}
    async with bridged(record, ScriptedSecrets({}), models=access) as bridge:
        run = await a2a_client_run(bridge.url(), text + " leak")
    assert run.state == "TASK_STATE_COMPLETED", run.events
    assert f"answer: {litellm.MOCK_REPLY}" in run.text
    assert f"embedding: {len(litellm.MOCK_EMBEDDING)} floats" in run.text
    assert f"identifier: openai/{litellm.CHAT_MODEL}" in run.text
    # One prompt for both demands, the picker pre-set to the agent's suggestions.
    [request] = prompter.requests
    assert [(m.ref, m.options[0].label) for m in request.models] == [
        ("llm:default", CHAT),
        ("embedding:default", f"{PROVIDER}/{litellm.EMBEDDING_MODEL}"),
    ]
    assert request.models[0].description == "Answers the user"
    # The agent echoed the key it got ("leak"): the gateway token, cut before the client saw it.
    assert "my key: " in run.text
    assert b"kb-gw-" not in run.received
    assert proxy.master_key.encode() not in run.received
    # Counted per agent and model: the chat (its stream's usage chunk too) and the embedding.
    rows = {(u.model): u for u in access.usage.rows(agent=record.slug)}
    assert rows[litellm.CHAT_MODEL].requests == 1
    assert rows[litellm.CHAT_MODEL].total_tokens > 0
    assert rows[litellm.EMBEDDING_MODEL].requests == 1
    # The task ended: its tokens are gone.
    assert len(access.tokens) == 0
    released = [e for e in services.audit.events() if e.decision == AuditDecision.RELEASED]
    assert {e.key for e in released} == {"llm:default", "embedding:default"}
    assert all(proxy.master_key not in json.dumps(e.detail or "") for e in released)


@pytest.mark.asyncio
async def test_declined_models_leave_the_agent_without_them(
    services: Services, proxy: litellm.LiteLLMProxy, model_agent: RunningPeer
) -> None:
    prompter = ScriptedPrompter(default=PromptAnswer.deny("no"))
    access = access_for(services, proxy, prompter)
    async with bridged(record_from_url(model_agent.base_url), ScriptedSecrets({}), models=access) as bridge:
        run = await a2a_client_run(bridge.url(), "hello embed")
    assert run.state == "TASK_STATE_COMPLETED", run.events
    assert "no model: llm" in run.text and "no model: embedding" in run.text
    assert len(access.tokens) == 0


@pytest.mark.asyncio
async def test_handover_gives_the_agent_the_providers_own_key_and_base(
    services: Services, proxy: litellm.LiteLLMProxy, model_agent: RunningPeer
) -> None:
    answer = PromptAnswer.grant(
        GrantScope.ONCE, models={"llm:default": ModelPick(PROVIDER, litellm.CHAT_MODEL, handover=True)}
    )
    prompter = ScriptedPrompter(default=answer)
    access = access_for(services, proxy, prompter)
    access.providers.add(PROVIDER, proxy.api_base, SecretValue(proxy.master_key), handover=True)
    async with bridged(record_from_url(model_agent.base_url), ScriptedSecrets({}), models=access) as bridge:
        run = await a2a_client_run(bridge.url(), "hello leak")
    assert run.state == "TASK_STATE_COMPLETED", run.events
    assert f"answer: {litellm.MOCK_REPLY}" in run.text
    # The agent called the proxy itself (nothing counted here) with the real key, which is cut.
    assert access.usage.rows() == []
    assert proxy.master_key.encode() not in run.received
    assert "my key: " in run.text


# The gateway itself --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_gateway_forwards_chat_stream_embeddings_and_models_with_the_real_key(
    services: Services, proxy: litellm.LiteLLMProxy, model_agent: RunningPeer
) -> None:
    async with gateway_for(services, proxy, model_agent) as gw, _client(gw.token) as client:
        chat = await client.post(f"{gw.url}/chat/completions", json=CHAT_BODY)
        assert chat.status_code == 200, chat.text
        assert chat.json()["choices"][0]["message"]["content"] == litellm.MOCK_REPLY
        # The LiteLLM-style identifier is accepted too.
        named = await client.post(
            f"{gw.url}/chat/completions", json=CHAT_BODY | {"model": "openai/mock-chat"}
        )
        assert named.status_code == 200, named.text

        streamed = CHAT_BODY | {"stream": True, "stream_options": {"include_usage": True}}
        async with client.stream("POST", f"{gw.url}/chat/completions", json=streamed) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = [line async for line in stream.aiter_lines()]
        events = [line[6:] for line in lines if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text == litellm.MOCK_REPLY

        listed = await client.get(f"{gw.url}/models")
        assert [m["id"] for m in listed.json()["data"]] == [litellm.CHAT_MODEL]  # the granted one only

        other = await client.post(
            f"{gw.url}/embeddings", json={"model": litellm.EMBEDDING_MODEL, "input": "x"}
        )
        assert other.status_code == 400
        assert other.json()["error"]["code"] == "model_not_granted"
        [row] = gw.access.usage.rows()
        assert row.requests == 3  # the refused request never reached the provider
        assert row.total_tokens >= 3 * 1 and row.prompt_tokens > 0 and row.completion_tokens > 0


@pytest.mark.asyncio
async def test_gateway_token_dies_at_revoke_and_lock(
    services: Services, proxy: litellm.LiteLLMProxy, model_agent: RunningPeer
) -> None:
    async with gateway_for(services, proxy, model_agent) as gw, _client(gw.token) as client:
        assert (await client.post(f"{gw.url}/chat/completions", json=CHAT_BODY)).status_code == 200
        gw.access.locked()
        dead = await client.post(f"{gw.url}/chat/completions", json=CHAT_BODY)
        assert dead.status_code == 401
        assert dead.json()["error"]["code"] == "invalid_api_key"
    async with gateway_for(services, proxy, model_agent) as gw, _client(gw.token) as client:
        [grant] = gw.access.grants.all()
        gw.access.revoke(grant.grant_id, caller=None)
        assert (await client.post(f"{gw.url}/chat/completions", json=CHAT_BODY)).status_code == 401
        # Nor does a token work for another agent's path.
        foreign = gw.url.replace("/models/peer/", "/models/other/")
        assert (await client.get(f"{foreign}/models")).status_code == 401


@pytest.mark.asyncio
async def test_refused_key_and_down_provider_answer_with_status_and_openai_error(
    services: Services, proxy: litellm.LiteLLMProxy, model_agent: RunningPeer
) -> None:
    async with gateway_for(services, proxy, model_agent) as gw, _client(gw.token) as client:
        # The provider refuses: its key is gone (LiteLLM answers 401 without one).
        gw.access.providers.add(PROVIDER, proxy.api_base, None)
        gw.access.forget_provider(PROVIDER, None)
        refused = await client.post(f"{gw.url}/chat/completions", json=CHAT_BODY)
        assert refused.status_code == 401
        assert isinstance(refused.json()["error"]["message"], str)
        assert gw.access.refusing() == [PROVIDER]
        # The user hears of it once, and the tray's tooltip says it until the key works again.
        [(title, body)] = gw.notices
        assert "refuses its key" in title and PROVIDER in body
        tip = tooltip(Status(AppState.READY, refusing=tuple(gw.access.refusing())))
        assert f"Model provider {PROVIDER} refuses its key" in tip
        [refused] = [e for e in services.audit.events() if e.decision == AuditDecision.REFUSED]
        assert refused.key == f"model-provider:{PROVIDER}" and "HTTP 401" in (refused.detail or "")
        # A wrong key: LiteLLM's own status and body (400, "No connected db.") are passed on.
        gw.access.providers.add(PROVIDER, proxy.api_base, SecretValue("sk-wrong-CANARY-9"))
        gw.access.forget_provider(PROVIDER, None)
        wrong = await client.post(f"{gw.url}/chat/completions", json=CHAT_BODY)
        assert wrong.status_code == 400
        assert wrong.json()["error"]["message"] == "No connected db."
        assert "sk-wrong-CANARY-9" not in wrong.text
        # A provider that is down: 502, an OpenAI-style error, tried once.
        down = f"http://127.0.0.1:{free_port()}/v1"
        gw.access.providers.add(PROVIDER, down, None)
        unreachable = await client.post(f"{gw.url}/chat/completions", json=CHAT_BODY)
        assert unreachable.status_code == 502
        assert unreachable.json()["error"]["type"] == "provider_unreachable"
        [row] = gw.access.usage.rows()
        assert row.errors == 3


@pytest.mark.asyncio
async def test_budget_stops_an_agent_with_429(
    services: Services, proxy: litellm.LiteLLMProxy, model_agent: RunningPeer
) -> None:
    async with gateway_for(services, proxy, model_agent) as gw, _client(gw.token) as client:
        gw.access.usage.set_budget("peer", 1)
        assert (await client.post(f"{gw.url}/chat/completions", json=CHAT_BODY)).status_code == 200
        over = await client.post(f"{gw.url}/chat/completions", json=CHAT_BODY)
        assert over.status_code == 429
        assert over.json()["error"]["type"] == "budget_exceeded"
        assert (await client.post(f"{gw.url}/chat/completions", json=CHAT_BODY)).status_code == 429
    # Audited once that day, not once per refused request.
    denied = [e for e in services.audit.events() if e.decision == AuditDecision.DENIED and e.key == "models"]
    assert [(e.agent, "budget of 1" in (e.detail or "")) for e in denied] == [("peer", True)]
