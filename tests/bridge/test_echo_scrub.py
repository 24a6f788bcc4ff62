# SPDX-License-Identifier: Apache-2.0
"""A hostile agent echoing a released value later, split or encoded: the bridge cuts it everywhere.

In-process: the scripted agent's hostile modes (scripted_agent.py) behind `httpx.ASGITransport`,
clients speaking raw JSON-RPC in both protocol versions. A value released to an agent is cut from
`tasks/get`, list, cancel, resubscribe and later messages that no longer carry it (released.py),
across streamed chunks (chunks.py) and in its encoded forms (forms.py); forgotten on a lock.
"""

from __future__ import annotations

import asyncio
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
from starlette.applications import Starlette

from keybroker.core.bridge import BridgeApp
from keybroker.core.bridge.masking import MASK
from keybroker.core.broker.broker import Broker
from keybroker.core.broker.prompts import NewValue, PromptAnswer
from keybroker.core.models import GrantScope, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.scripted_agent import encodings, scripted_app, scripted_card
from tests.bridge.support import jsonrpc, message_v03, message_v10, record_from_card, sse_payloads
from tests.bridge.test_app import V10, rig
from tests.core.broker.test_broker import make_broker
from tests.fakes import ScriptedPrompter
from tests.interop.agents import a2a1_agent

BRIDGE = "http://127.0.0.1:7411"
AGENT = "http://127.0.0.1:10001"
VALUE = "echo-CANARY-7f3a9c-0123456789"
DEMANDS = {"k": {"name": "K"}}


def _text(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def _texts(node: Any) -> list[str]:
    """Every `text` member below `node`, in document order."""
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("text"), str):
            found.append(node["text"])
        for value in node.values():
            found.extend(_texts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_texts(value))
    return found


def _task_v03(answer: dict[str, Any]) -> dict[str, Any]:
    assert "result" in answer, answer
    result: dict[str, Any] = answer["result"]
    return result


# F1: later answers about a task or conversation ---------------------------------------------------


@pytest.mark.asyncio
async def test_tasks_get_list_and_cancel_after_an_echoing_send_cut_the_value() -> None:
    async with rig("scripted", values={"k": VALUE}, demands=DEMANDS) as r:
        sent = _task_v03(await r.rpc("message/send", {"message": message_v03("hold")}))
        task_id = sent["id"]
        got = await r.rpc("tasks/get", {"id": task_id})
        got10 = await r.rpc("GetTask", {"id": task_id}, headers=V10)
        listed = await r.rpc("ListTasks", {"includeArtifacts": True}, headers=V10)
        canceled = await r.rpc("tasks/cancel", {"id": task_id})
    assert sent["status"]["state"] == "input-required"
    assert f"holding ['{MASK}']" in _texts(sent["artifacts"])
    for answer in (got, got10, listed, canceled):
        assert "result" in answer, answer
        assert VALUE not in _text(answer)
        assert f"holding ['{MASK}']" in _texts(answer["result"])
    assert canceled["result"]["status"]["state"] == "canceled"


@pytest.mark.asyncio
async def test_resubscribing_to_a_task_cuts_the_value() -> None:
    async with rig("scripted", values={"k": VALUE}, demands=DEMANDS) as r:
        sent = _task_v03(await r.rpc("message/send", {"message": message_v03("hold")}))
        subscribed = asyncio.create_task(
            r.client.post("/agents/peer", json=jsonrpc("tasks/resubscribe", {"id": sent["id"]}))
        )
        # The agent's resubscription stream ends with the task (the upstream here reads whole
        # responses): a later message completes it, quoting the value it no longer carries.
        await asyncio.sleep(0.5)
        ids = {"taskId": sent["id"], "contextId": sent["contextId"]}
        await r.rpc("message/send", {"message": message_v03("more", **ids)})
        response = await asyncio.wait_for(subscribed, 10)
    assert response.status_code == 200
    events = sse_payloads(response.text)
    assert events and VALUE not in _text(events)
    texts = _texts(events)
    assert f"holding ['{MASK}']" in texts and f"earlier you gave me ['{MASK}']" in texts


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["message/send", "message/stream"])
async def test_a_later_message_of_the_task_that_does_not_carry_the_value_is_cut(method: str) -> None:
    async with rig("scripted", values={"k": VALUE}, demands=DEMANDS) as r:
        first = _task_v03(await r.rpc("message/send", {"message": message_v03("hold")}))
        ids = {"taskId": first["id"], "contextId": first["contextId"]}
        response = await r.client.post(
            "/agents/peer", json=jsonrpc(method, {"message": message_v03("more", **ids)})
        )
        calls = list(r.secrets.calls)
    assert response.status_code == 200
    later = sse_payloads(response.text) if method == "message/stream" else [response.json()]
    assert [c.phase for c in calls] == ["preflight"]  # nothing injected into the later message
    assert VALUE not in _text(later)
    assert f"earlier you gave me ['{MASK}']" in _texts(later)


@pytest.mark.asyncio
async def test_a_later_task_of_the_conversation_without_the_value_is_cut() -> None:
    own = "client-own-value-0000"
    fulfil = {
        "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1": {
            "secret_fulfillments": {"k": {"secret": own}}
        }
    }
    async with rig("scripted", values={"k": VALUE}, demands=DEMANDS) as r:
        first = _task_v03(await r.rpc("message/send", {"message": message_v03("leak")}))
        # The client fulfils `k` itself: the bridge injects nothing, the agent quotes both values.
        message = message_v03("recall", metadata=fulfil, contextId=first["contextId"])
        later = _task_v03(await r.rpc("message/send", {"message": message}))
    assert later["status"]["state"] == "completed"
    assert VALUE not in _text(later)
    assert MASK in " ".join(_texts(later["artifacts"]))


class EchoKeyExecutor(AgentExecutor):
    """`auth-required` (no demand) until a request carries `X-API-Key`; then quotes the key back."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        key = context.call_context.state.get("headers", {}).get("x-api-key")
        task = context.current_task
        if task is None:
            assert context.message is not None
            task = new_task_from_user_message(context.message)
            task.id = context.task_id or task.id
            task.context_id = context.context_id or task.context_id
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        if key is None:
            ask = Message(
                role=Role.ROLE_AGENT,
                message_id=str(uuid.uuid4()),
                task_id=task.id,
                context_id=task.context_id,
                parts=[new_text_part("an API key, please")],
            )
            await updater.update_status(TaskState.TASK_STATE_AUTH_REQUIRED, message=ask)
            return
        await updater.add_artifact([new_text_part(f"your key is {key}")], name="answer")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        return None


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """The core over a memory vault (cards are not fetched: records are upserted)."""
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


@dataclass
class BrokerRig:
    client: httpx.AsyncClient
    app: BridgeApp
    broker: Broker
    prompter: ScriptedPrompter


@asynccontextmanager
async def broker_rig(
    services: Services, card: dict[str, Any], agent_app: Any, *answers: PromptAnswer
) -> AsyncIterator[BrokerRig]:
    """The bridge with the real broker (scripted prompter) before an in-process agent `peer`, whose
    declared demands are stored and granted (so only what `answers` are for prompts)."""
    record = record_from_card(card, "peer", url=AGENT)
    services.catalog.upsert_agent(record)
    for demand in record.demands:
        services.secrets.set(demand.key, SecretValue(f"{demand.key}-{VALUE}"), owner="peer")
    prompter = ScriptedPrompter(*answers, default=PromptAnswer.deny("no"))
    broker = make_broker(services, prompter)
    app = BridgeApp(
        services.catalog.find_agent, broker, caller=None, transport=httpx.ASGITransport(app=agent_app)
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BRIDGE, timeout=30
        ) as c:
            yield BrokerRig(c, app, broker, prompter)
    finally:
        await app.aclose()


@pytest.mark.asyncio
async def test_a_card_credential_echoed_by_the_agent_is_cut_from_tasks_get(services: Services) -> None:
    card = a2a1_agent.build_card(AGENT, "header")
    handler = DefaultRequestHandler(
        agent_executor=EchoKeyExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    agent_app = Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True),
        ]
    )
    # A ONCE answer: the key is sent for this send only, never "at hand" for the tasks/get after it.
    once = PromptAnswer.grant(GrantScope.ONCE, {"apiKey": NewValue(SecretValue(VALUE))})
    async with broker_rig(services, agent_card_to_dict(card), agent_app, once) as r:
        sent = await r.client.post(
            "/agents/peer", json=jsonrpc("message/send", {"message": message_v03("go")})
        )
        task = _task_v03(sent.json())
        got = await r.client.post("/agents/peer", json=jsonrpc("tasks/get", {"id": task["id"]}))
    assert task["status"]["state"] == "completed"
    assert f"your key is {MASK}" in _texts(task)
    assert VALUE not in got.text
    assert f"your key is {MASK}" in _texts(got.json()["result"])
    assert len(r.prompter.requests) == 1  # the tasks/get went without the key: nothing at hand


@pytest.mark.asyncio
async def test_a_lock_forgets_released_values_and_the_next_answer_rebuilds_them(services: Services) -> None:
    card = scripted_card(AGENT, DEMANDS)
    async with broker_rig(services, agent_card_to_dict(card), scripted_app(card)) as r:
        client, app, broker = r.client, r.app, r.broker

        async def get(task_id: str) -> str:
            got = await client.post("/agents/peer", json=jsonrpc("tasks/get", {"id": task_id}))
            return " ".join(_texts(got.json()["result"]["artifacts"]))

        leak = jsonrpc("message/send", {"message": message_v03("leak")})
        sent = await client.post("/agents/peer", json=leak)
        first = str(sent.json()["result"]["id"])
        before = await get(first)
        remembered = app.released.count("peer")
        broker.lock(caller="test")
        forgotten = app.released.count("peer")
        # The earlier task's echo is still cut: the values released before are read again from the
        # vault (released.py's Recall) before the next answer goes out.
        after_lock = await get(first)
        rebuilt = app.released.count("peer")
    assert before == after_lock == f"the secrets are ['{MASK}']"
    assert (remembered, forgotten, rebuilt) == (1, 0, 1)


# F2: a value split across streamed chunks -------------------------------------------------------


def _pure_03(card: dict[str, Any]) -> dict[str, Any]:
    compat = to_compat_agent_card(parse_agent_card(copy.deepcopy(card)))
    result: dict[str, Any] = compat.model_dump(mode="json", by_alias=True, exclude_none=True)
    return result


def _split_artifact(answer: Any) -> str:
    """The text of artifact `a2` as a client joining its chunks (or parts) reads it."""
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for item in [node["artifact"]] if "artifact" in node else node.get("artifacts", []):
                if isinstance(item, dict) and item.get("artifactId") == "a2":
                    texts.extend(p.get("text", "") for p in item["parts"])
            for key, value in node.items():
                if key not in ("artifact", "artifacts"):
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(answer)
    return "".join(texts)


@pytest.mark.asyncio
@pytest.mark.parametrize("upstream", ["1.0", "0.3"])
@pytest.mark.parametrize(
    ("method", "follow"),
    [
        ("message/stream", False),
        ("SendStreamingMessage", False),
        ("message/send", False),
        ("SendMessage", False),
        ("message/send", True),
        ("SendMessage", True),
    ],
)
async def test_a_value_split_across_two_streamed_chunks_is_cut_whole(
    upstream: str, method: str, follow: bool
) -> None:
    card = agent_card_to_dict(scripted_card(AGENT, DEMANDS))
    changes: dict[str, Any] = {}
    if upstream == "0.3":  # a pure 0.3 card: blocking sends follow a stream (collector.py)
        changes = {"card_json": json.dumps(_pure_03(card)), "protocol_versions": ("0.3",)}
    v10 = method[0].isupper()
    message = message_v10("split") if v10 else message_v03("split")
    async with rig("scripted", values={"k": VALUE}, demands=DEMANDS, follow_streams=follow, **changes) as r:
        response = await r.client.post(
            "/agents/peer", json=jsonrpc(method, {"message": message}), headers=V10 if v10 else {}
        )
        answer: Any = (
            sse_payloads(response.text) if "Stream" in method or "stream" in method else response.json()
        )
        task_id = (answer[0] if isinstance(answer, list) else answer)["result"]
        task_id = task_id.get("task", task_id).get("id")
        got = await r.rpc("tasks/get", {"id": task_id})
    assert response.status_code == 200
    assert VALUE not in _text(answer)
    assert _split_artifact(answer) == f"S1:{MASK}:S2"
    assert _split_artifact(got) == f"S1:{MASK}:S2"  # the agent's task: two parts side by side
    assert VALUE not in _text(got)


# F3: encoded forms -------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["message/send", "message/stream"])
async def test_encoded_forms_of_a_value_are_cut(method: str) -> None:
    value = 'enc-CANARY "q" \\ ü/€+ x'
    async with rig("scripted", values={"k": value}, demands=DEMANDS) as r:
        response = await r.client.post(
            "/agents/peer", json=jsonrpc(method, {"message": message_v03("encoded")})
        )
    answer = sse_payloads(response.text) if method == "message/stream" else response.json()
    raw = response.text
    for form in encodings(value):
        assert form not in raw and form not in _text(answer)
    texts = [t for t in _texts(answer) if t != "encoded"]
    assert texts and all(t == MASK for t in texts[-len(encodings(value)) :])


# F6: a malformed demand quoting a value ------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["dmd-CANARY-0123456789", "dmd-CANARY-long-" + "0123456789" * 5])
async def test_a_malformed_demand_key_carrying_a_value_does_not_reach_the_error(value: str) -> None:
    # The error quotes the key, cut short after 40 characters: the long value's start is cut too.
    async with rig("scripted", values={"k": value}, demands=DEMANDS) as r:
        blocking = await r.rpc("message/send", {"message": message_v03("bad-demand-echo")})
        events = await r.stream("message/stream", {"message": message_v03("bad-demand-echo")})
    for error in (blocking["error"], events[-1]["error"]):
        assert "malformed secret demand" in error["message"]
        assert MASK in error["message"]
        assert value[:12] not in _text(error)
