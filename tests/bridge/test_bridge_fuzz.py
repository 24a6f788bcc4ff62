# SPDX-License-Identifier: Apache-2.0
"""Hypothesis throws malformed JSON-RPC, cards, demands and oversized bodies at the whole bridge.

The app is what `keybroker serve` serves (guard, router, agents, management and AP API) with the
real broker over a memory vault, answering every prompt with a decline. Whatever comes in:
- no 500 and no hang (every request is bounded); a 5xx is only the bridge's documented 502 for an
  agent card it cannot read, or a JSON-RPC error inside a 200;
- nothing is stored: no secret record, no vault entry beyond the API token's, no grant;
- no prompt is ever shown for a malformed demand (keys are validated first).
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import Message, Role, TaskState
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from keybroker.core.a2a.card import parse_card
from keybroker.core.a2a.demand import validate_demand_key
from keybroker.core.api.ap_secrets import agent_protocol_app
from keybroker.core.api.app import create_api
from keybroker.core.bridge import BridgeApp
from keybroker.core.bridge.bridged_card import upstream_card
from keybroker.core.bridge.guard import MAX_BODY_BYTES
from keybroker.core.broker.broker import Broker
from keybroker.core.broker.prompts import PromptAnswer, PromptRequest
from keybroker.core.errors import InvalidCardError
from keybroker.core.models import SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.scripted_agent import SECRETS_URI, scripted_card
from tests.bridge.support import record_from_card

BRIDGE = "http://127.0.0.1:7411"
AGENT = "http://127.0.0.1:10001"
TOKEN = "fuzz-bridge-token"
REQUEST_TIMEOUT = 15.0
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


class RecordingDecliner:
    """A prompter that declines everything and keeps the keys it was asked for."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    async def ask(self, request: PromptRequest) -> PromptAnswer:
        self.keys.extend(request.keys)
        return PromptAnswer.deny("fuzzing")


class DemandEcho(AgentExecutor):
    """Goes `auth-required` with whatever `secret_demands` the message text holds as JSON."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        task = context.current_task or new_task_from_user_message(context.message)
        if context.current_task is None:
            task.id = context.task_id or task.id
            task.context_id = context.context_id or task.context_id
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        try:
            demands = json.loads(context.get_user_input())
        except ValueError:
            await updater.complete()
            return
        ask = Message(
            role=Role.ROLE_AGENT, message_id=str(uuid.uuid4()), task_id=task.id, context_id=task.context_id
        )
        ask.metadata.update({SECRETS_URI: {"secret_demands": demands}})
        await updater.update_status(TaskState.TASK_STATE_AUTH_REQUIRED, message=ask)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        return None


@dataclass
class Rig:
    loop: asyncio.AbstractEventLoop
    app: BridgeApp
    client: httpx.AsyncClient
    services: Services
    prompter: RecordingDecliner
    records: dict[str, Any]

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            async with asyncio.timeout(REQUEST_TIMEOUT):  # no hang
                return await self.client.request(method, path, **kwargs)

        return self.loop.run_until_complete(call())

    def assert_nothing_stored(self) -> None:
        assert self.services.catalog.list_secrets() == []
        assert self.services.catalog.list_grants() == []
        assert [k for k in self.prompter.keys if _bad_key(k)] == []


def _bad_key(key: str) -> bool:
    try:
        validate_demand_key(key)
    except Exception:
        return True
    return False


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    loop = asyncio.new_event_loop()
    services = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    card = scripted_card(AGENT, {"github": {"name": "GitHub token", "description": "PAT"}})
    handler = DefaultRequestHandler(
        agent_executor=DemandEcho(), task_store=InMemoryTaskStore(), agent_card=card
    )
    agent = Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True),
            *create_rest_routes(handler, enable_v0_3_compat=True),
        ]
    )
    record = record_from_card(agent_card_to_dict(card), "peer", url=AGENT)
    services.catalog.upsert_agent(record)
    records: dict[str, Any] = {"peer": record}
    prompter = RecordingDecliner()
    broker = Broker.from_services(services, prompter)
    api = create_api(services, broker, SecretValue(TOKEN))

    def lookup(slug: str) -> Any:
        return records.get(slug)

    app = BridgeApp(
        lookup,
        broker,
        api_token=SecretValue(TOKEN),
        fallback=api,
        agent_apps={"/ap/": agent_protocol_app(api)},
        caller=None,
        transport=httpx.ASGITransport(app=agent),
    )
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BRIDGE, timeout=REQUEST_TIMEOUT
    )
    yield Rig(loop, app, client, services, prompter, records)
    loop.run_until_complete(client.aclose())
    loop.run_until_complete(app.aclose())
    # The agent's own tasks (a2a-sdk runs each task's consumer in the background) end with the loop.
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()

    async def drain() -> None:
        await asyncio.gather(*pending, return_exceptions=True)

    loop.run_until_complete(drain())
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    services.close()


def assert_clean(response: httpx.Response) -> None:
    """No 500, no traceback; a 5xx only as the documented bad-card 502; errors are JSON."""
    assert response.status_code < 500 or (
        response.status_code == 502 and response.json()["error"] == "bad_agent_card"
    ), response.text[:500]
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
METHODS = st.sampled_from(
    [
        "message/send",
        "message/stream",
        "tasks/get",
        "tasks/cancel",
        "tasks/resubscribe",
        "tasks/pushNotificationConfig/set",
        "agent/getAuthenticatedExtendedCard",
        "SendMessage",
        "SendStreamingMessage",
        "GetTask",
        "ListTasks",
        "CancelTask",
        "SubscribeToTask",
        "GetExtendedAgentCard",
    ]
) | st.text(max_size=30)
PARTS = st.lists(st.fixed_dictionaries({"kind": st.just("text"), "text": st.text(max_size=40)}), max_size=2)
MESSAGE = st.fixed_dictionaries(
    {"kind": st.just("message"), "role": st.sampled_from(["user", "agent", "x"]), "parts": PARTS | JSON},
    optional={
        "messageId": st.text(max_size=20),
        "taskId": st.text(max_size=20),
        "contextId": st.text(max_size=20),
        "metadata": st.fixed_dictionaries(
            {SECRETS_URI: JSON | st.fixed_dictionaries({"secret_fulfillments": JSON})}
        )
        | JSON,
    },
)
RPC = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "1.0"]) | JSON, "method": METHODS},
    optional={
        "id": st.integers() | st.text(max_size=10) | st.none() | JSON,
        "params": JSON | st.fixed_dictionaries({"message": MESSAGE}) | st.fixed_dictionaries({"id": JSON}),
    },
)
PATHS = st.sampled_from(
    [
        "/agents/peer",
        "/agents/peer/",
        "/agents/peer/message:send",
        "/agents/peer/v1/message:send",
        "/agents/peer/message:stream",
    ]
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "A2A-Version": st.sampled_from(["1.0", "0.3", "2.0", "", "x"]),
        "content-type": st.sampled_from(
            ["application/json", "text/plain", "application/x-www-form-urlencoded"]
        ),
        "A2A-Extensions": st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    },
)


def test_malformed_json_rpc_never_breaks_the_bridge(rig: Rig) -> None:
    @FUZZ
    @given(path=PATHS, body=RPC | JSON | st.binary(max_size=300), headers=HEADERS)
    def check(path: str, body: Any, headers: dict[str, str]) -> None:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = rig.request("POST", path, content=content, headers=headers)
        assert_clean(response)
        rig.assert_nothing_stored()

    check()


DEMANDS = (
    st.dictionaries(
        st.text(max_size=140),
        st.fixed_dictionaries({}, optional={"name": JSON, "description": JSON}) | JSON,
        max_size=4,
    )
    | JSON
)


def test_malformed_demands_from_an_agent_are_refused_before_any_prompt(rig: Rig) -> None:
    @FUZZ
    @given(demands=DEMANDS, method=st.sampled_from(["message/send", "message/stream"]))
    def check(demands: Any, method: str) -> None:
        message = {
            "kind": "message",
            "role": "user",
            "messageId": str(uuid.uuid4()),
            "parts": [{"kind": "text", "text": json.dumps(demands)}],
        }
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"message": message}}
        response = rig.request("POST", "/agents/peer", json=body)
        assert_clean(response)
        assert response.status_code == 200
        rig.assert_nothing_stored()

    check()


CARD_BASE = agent_card_to_dict(scripted_card(AGENT))


def _mutate(card: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    mutated = copy.deepcopy(card)
    node: Any = mutated
    for key in path[:-1]:
        if not isinstance(node, dict):
            return mutated
        node = node.setdefault(key, {})
    if isinstance(node, dict):
        node[path[-1]] = value
    return mutated


FIELDS = st.sampled_from(
    [
        ["name"],
        ["url"],
        ["supportedInterfaces"],
        ["capabilities"],
        ["capabilities", "extensions"],
        ["capabilities", "streaming"],
        ["securitySchemes"],
        ["security"],
        ["securityRequirements"],
        ["protocolVersion"],
        ["additionalInterfaces"],
        ["skills"],
    ]
)


def test_malformed_stored_cards_get_a_clear_502_never_a_crash(rig: Rig) -> None:
    @FUZZ
    @given(field=FIELDS, value=JSON, raw=st.none() | st.text(max_size=50))
    def check(field: list[str], value: Any, raw: str | None) -> None:
        card_json = raw if raw is not None else json.dumps(_mutate(CARD_BASE, field, value))
        rig.records["peer"] = replace(rig.records["peer"], card_json=card_json, fingerprint=str(uuid.uuid4()))
        for method, path, body in (
            ("GET", "/agents/peer/.well-known/agent-card.json", None),
            (
                "POST",
                "/agents/peer",
                {"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "t"}},
            ),
        ):
            assert_clean(rig.request(method, path, json=body))
        rig.assert_nothing_stored()

    check()


@pytest.mark.parametrize("size", [MAX_BODY_BYTES - 1, MAX_BODY_BYTES, MAX_BODY_BYTES + 1, 4 * MAX_BODY_BYTES])
@pytest.mark.parametrize("announced", [True, False])
@pytest.mark.parametrize(
    "path",
    ["/agents/peer", "/agents/peer/ap/v1/agent/secrets", "/api/v1/secrets", "/agents/nobody/message:send"],
)
def test_oversized_bodies_get_413_and_store_nothing(rig: Rig, size: int, announced: bool, path: str) -> None:
    payload = b'{"secret_key": "K", "secret_value": "' + b"v" * size + b'"}'

    async def chunks() -> Any:
        for start in range(0, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]

    content: Any = payload if announced else chunks()
    method = "PUT" if path.startswith("/api/") else "POST"
    response = rig.request(
        method,
        path,
        content=content,
        headers={"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    rig.assert_nothing_stored()


@FUZZ
@given(field=FIELDS, value=JSON)
def test_any_card_parses_or_is_refused_with_a_card_error(field: list[str], value: Any) -> None:
    """Both readers of a card (ours, and the bridge's a2a-sdk one) fail only with InvalidCardError."""
    data = _mutate(CARD_BASE, field, value)
    for read in (parse_card, lambda d: upstream_card(json.dumps(d))):
        try:
            read(data)
        except InvalidCardError as exc:
            assert exc.message and "Traceback" not in exc.message
