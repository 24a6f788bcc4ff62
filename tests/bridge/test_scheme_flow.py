# SPDX-License-Identifier: Apache-2.0
"""Card security schemes through the bridge, in-process: the real broker and a scripted prompter
in front of a2a-sdk 1.x agents that check an API key (header, query, cookie) or a bearer token.

The client is plain JSON-RPC that knows no secret. The value is stored with `--scheme`, or asked
for when the agent refuses (HTTP 401, or `auth-required` without a demand) and retried once.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client.card_resolver import parse_agent_card
from a2a.compat.v0_3.conversions import to_compat_agent_card
from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import Message, Role, TaskState
from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette

from keybroker.core.bridge import BridgeApp
from keybroker.core.broker.prompts import NewValue, PromptAnswer
from keybroker.core.models import AgentRecord, AuditDecision, GrantScope, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.support import jsonrpc, message_v03, message_v10, record_from_card, sse_payloads
from tests.core.broker.test_broker import make_broker
from tests.fakes import ScriptedPrompter
from tests.interop.agents import a2a1_agent

BRIDGE = "http://127.0.0.1:7411"
AGENT = "http://127.0.0.1:10001"
SECRET = "kb-CANARY-peer-key-0123456789"
STALE = "kb-CANARY-stale-key-9876543210"
V10 = {"A2A-Version": "1.0"}
SCHEME_NAME = {"header": "apiKey", "query": "apiKey", "cookie": "apiKey", "bearer": "bearer"}


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """The core over a memory vault (cards are not fetched: records are upserted)."""
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


def pure_10(data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = MessageToDict(parse_agent_card(copy.deepcopy(data)))
    return result


def pure_03(data: dict[str, Any]) -> dict[str, Any]:
    compat = to_compat_agent_card(parse_agent_card(copy.deepcopy(data)))
    result: dict[str, Any] = compat.model_dump(mode="json", by_alias=True, exclude_none=True)
    return result


class WireLog(httpx.AsyncBaseTransport):
    """An in-process upstream keeping, per request, its URL and headers as they went on the wire."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/.well-known/agent-card.json"):  # the bridge's liveness probe
            headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
            self.sent.append(str(request.url) + "\n" + headers)
        return await self.inner.handle_async_request(request)


@dataclass
class Rig:
    client: httpx.AsyncClient
    services: Services
    prompter: ScriptedPrompter
    upstream: WireLog
    record: AgentRecord

    async def send(self, text: str = "go keys=openai") -> httpx.Response:
        body = jsonrpc("message/send", {"message": message_v03(text)})
        return await self.client.post("/agents/peer", json=body)

    def requests_with(self, text: str) -> int:
        return sum(text in sent for sent in self.upstream.sent)


@asynccontextmanager
async def rig(
    services: Services,
    kind: str,
    *answers: PromptAnswer,
    shape: str = "merged",
    agent_app: Any = None,
    card: dict[str, Any] | None = None,
    default: PromptAnswer | None = None,
) -> AsyncIterator[Rig]:
    """The bridge (real broker, scripted prompter) before an agent checking `kind` with SECRET."""
    data = card or agent_card_to_dict(a2a1_agent.build_card(AGENT, kind))
    data = {"merged": data, "1.0": pure_10(data), "0.3": pure_03(data)}[shape]
    record = record_from_card(data, "peer", url=AGENT)
    services.catalog.upsert_agent(record)
    for key in ("openai", "github"):  # the card's declared demands: granted, so only schemes prompt
        services.secrets.set(key, SecretValue(f"{key}-value"), owner="peer")
    prompter = ScriptedPrompter(*answers, default=default)
    broker = make_broker(services, prompter)
    upstream = WireLog(httpx.ASGITransport(app=agent_app or a2a1_agent.build_app(10001, kind, SECRET)))
    app = BridgeApp(services.catalog.find_agent, broker, caller=None, transport=upstream)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BRIDGE, timeout=30
        ) as c:
            yield Rig(c, services, prompter, upstream, record)
    finally:
        await app.aclose()


def typed(kind: str, value: str, scope: GrantScope = GrantScope.ALWAYS) -> PromptAnswer:
    return PromptAnswer.grant(scope, {SCHEME_NAME[kind]: NewValue(SecretValue(value))})


def scheme_events(services: Services, kind: str) -> list[AuditDecision]:
    return [e.decision for e in services.audit.events() if e.key == SCHEME_NAME[kind]]


def result_state(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "result" in body, body
    return str(body["result"]["status"]["state"])


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["header", "query", "cookie", "bearer"])
@pytest.mark.parametrize("shape", ["merged", "1.0", "0.3"])
async def test_a_stored_credential_is_sent_and_never_comes_back(
    services: Services, kind: str, shape: str
) -> None:
    async with rig(services, kind, shape=shape) as r:
        record = r.record
        services.secrets.set(SCHEME_NAME[kind], SecretValue(SECRET), owner="peer", scheme=SCHEME_NAME[kind])
        response = await r.send()
        task_id = response.json()["result"]["id"]
        got = await r.client.post("/agents/peer", json=jsonrpc("tasks/get", {"id": task_id}))
    assert result_state(response) == "completed"
    assert got.status_code == 200 and got.json()["result"]["status"]["state"] == "completed"
    assert [s.name for s in record.schemes] == [SCHEME_NAME[kind]]
    assert r.prompter.requests == []
    assert SECRET not in response.text and SECRET not in got.text
    assert r.requests_with(SECRET) == 2  # the send and the tasks/get: every request carries it
    assert scheme_events(services, kind).count(AuditDecision.RELEASED) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["header", "query", "bearer"])
async def test_a_missing_credential_is_asked_for_after_the_401_and_kept(
    services: Services, kind: str
) -> None:
    async with rig(services, kind, typed(kind, SECRET)) as r:
        first = await r.send()
        second = await r.send()
        streamed = await r.client.post(
            "/agents/peer",
            json=jsonrpc("SendStreamingMessage", {"message": message_v10("go keys=github")}),
            headers=V10,
        )
    assert result_state(first) == "completed" and result_state(second) == "completed"
    events = sse_payloads(streamed.text)
    assert events[-1]["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert len(r.prompter.requests) == 1  # asked once; the ALWAYS answer serves the later runs
    (item,) = r.prompter.requests[0].items
    assert (item.key, item.scheme, item.stored) == (SCHEME_NAME[kind], SCHEME_NAME[kind], None)
    stored = services.catalog.find_secret(SCHEME_NAME[kind], "peer", SCHEME_NAME[kind])
    assert stored is not None and services.vault.get(stored.secret_id) == SecretValue(SECRET)
    for text in (first.text, second.text, streamed.text):
        assert SECRET not in text
    assert scheme_events(services, kind)[:4] == [
        AuditDecision.REFUSED,  # the first attempt went without: 401
        AuditDecision.CREATED,
        AuditDecision.GRANTED,
        AuditDecision.RELEASED,  # the retry
    ]


@pytest.mark.asyncio
async def test_a_stale_credential_is_asked_for_again_under_its_always_grant_and_retried_once(
    services: Services,
) -> None:
    async with rig(services, "header", typed("header", SECRET)) as r:
        old = services.secrets.set("apiKey", SecretValue(STALE), owner="peer", scheme="apiKey").record
        response = await r.send()
    assert result_state(response) == "completed"
    (request,) = r.prompter.requests
    assert request.items[0].stored is not None and request.items[0].stored.secret_id == old.secret_id
    assert "refused" in request.items[0].reason
    assert services.vault.get(old.secret_id) == SecretValue(SECRET)  # replaced in place
    assert r.requests_with(STALE) == 1 and r.requests_with(SECRET) == 1  # two attempts, both audited
    assert scheme_events(services, "header") == [
        AuditDecision.CREATED,
        AuditDecision.RELEASED,
        AuditDecision.REFUSED,
        AuditDecision.UPDATED,
        AuditDecision.GRANTED,
        AuditDecision.RELEASED,
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("answer", ["wrong", "decline"])
async def test_only_one_retry_and_the_client_gets_a_clean_error(services: Services, answer: str) -> None:
    reply = typed("header", "still-wrong-0000") if answer == "wrong" else PromptAnswer.deny("no")
    async with rig(services, "header", reply, default=PromptAnswer.deny("no more")) as r:
        response = await r.send()
        streamed = await r.client.post(
            "/agents/peer",
            json=jsonrpc("SendStreamingMessage", {"message": message_v10("go")}),
            headers=V10,
        )
    error = response.json()["error"]
    assert "401" in error["message"] and "credentials" in error["message"]
    # First request: sent without, 401, asked, (retried with the wrong value, 401). Second request:
    # sent with the wrong value at hand (or without), 401, asked again, declined: no retry.
    assert len(r.upstream.sent) == (3 if answer == "wrong" else 2)
    assert len(r.prompter.requests) == 2
    assert "error" in sse_payloads(streamed.text)[-1]
    assert "still-wrong" not in response.text + streamed.text


class AuthRequiredExecutor(AgentExecutor):
    """Answers `auth-required` (no secret demand) until a request carries `X-API-Key: SECRET`."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        headers = context.call_context.state.get("headers", {})
        task = context.current_task
        if task is None:
            assert context.message is not None
            task = new_task_from_user_message(context.message)
            task.id = context.task_id or task.id
            task.context_id = context.context_id or task.context_id
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        if headers.get("x-api-key") != SECRET:
            ask = Message(
                role=Role.ROLE_AGENT,
                message_id=str(uuid.uuid4()),
                task_id=task.id,
                context_id=task.context_id,
                parts=[new_text_part("a valid API key, please")],
            )
            await updater.update_status(TaskState.TASK_STATE_AUTH_REQUIRED, message=ask)
            return
        await updater.add_artifact([new_text_part(f"resumed={task.id}")], name="answer")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        return None


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["message/send", "message/stream"])
async def test_auth_required_without_a_demand_refreshes_and_sends_the_request_again(
    services: Services, method: str
) -> None:
    """Not a resume of the refused task with new text: the same request, on a new exchange (pitfall 28)."""
    card = a2a1_agent.build_card(AGENT, "header")
    handler = DefaultRequestHandler(
        agent_executor=AuthRequiredExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    agent_app = Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True),
        ]
    )
    async with rig(services, "header", typed("header", SECRET), agent_app=agent_app) as r:
        services.secrets.set("apiKey", SecretValue(STALE), owner="peer", scheme="apiKey")
        response = await r.client.post("/agents/peer", json=jsonrpc(method, {"message": message_v03("go")}))
    texts = json.dumps(sse_payloads(response.text) if method == "message/stream" else response.json())
    assert "resumed=" in texts and '"completed"' in texts
    assert "credentials provided" not in texts
    assert len(r.upstream.sent) == 2  # refused, then the same request with the new credential
    assert SECRET not in texts and STALE not in texts
    assert len(r.prompter.requests) == 1
    assert scheme_events(services, "header").count(AuditDecision.REFUSED) == 1


@pytest.mark.asyncio
async def test_a_credential_never_goes_in_clear_to_a_host_that_is_not_loopback(services: Services) -> None:
    remote = "http://agent.example:8000"
    card = agent_card_to_dict(a2a1_agent.build_card(remote, "header"))
    async with rig(services, "header", card=card) as r:
        services.secrets.set("apiKey", SecretValue(SECRET), owner="peer", scheme="apiKey")
        response = await r.send()
    # The agent refuses (401): nothing was sent, nothing was asked, nothing released.
    assert "401" in response.json()["error"]["message"]
    assert r.requests_with(SECRET) == 0 and len(r.upstream.sent) == 1
    assert r.prompter.requests == []
    assert AuditDecision.RELEASED not in scheme_events(services, "header")
