# SPDX-License-Identifier: Apache-2.0
"""The bridge benchmark's agent: a minimal a2a-sdk 1.x echo agent under uvicorn (A2A 1.0 and 0.3).

`python bench/bridge_agent.py` binds a free port on 127.0.0.1, prints `READY <port>` and serves until
SIGTERM. Its card declares one secret demand (CARD_KEY), so the bridge's pre-flight path runs. Each
message becomes a task that completes at once with one artifact: the input text, prefixed with
SEEN_MARK when the first message carried a value for CARD_KEY (so the benchmark can check the bridge
injected it). A text starting with RUNTIME_WORD makes the agent ask for RUNTIME_KEY at run time
(`auth-required` with `secret_demands`, like an Agent Stack agent) and complete when a resume brings it.

Tasks live in memory, but only the last MAX_TASKS of them: a benchmark sends many thousands.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections import OrderedDict

# a2a-sdk traces every request by default; the bridge turns this off too (wiring/runtime.py).
os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

import uvicorn
from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentExtension,
    AgentInterface,
    AgentSkill,
    Message,
    Role,
    Task,
    TaskState,
)
from bridge_common import (
    CARD_KEY,
    RUNTIME_KEY,
    RUNTIME_WORD,
    SECRETS_URI,
    SEEN_MARK,
    listen_loopback,
    say_ready,
)
from starlette.applications import Starlette

MAX_TASKS = 2000


class BoundedTaskStore(InMemoryTaskStore):
    """The SDK's in-memory store, forgetting the oldest tasks past `limit`."""

    def __init__(self, limit: int = MAX_TASKS) -> None:
        super().__init__()
        self._limit = limit
        self._order: OrderedDict[str, ServerCallContext] = OrderedDict()

    async def save(self, task: Task, context: ServerCallContext) -> None:
        await super().save(task, context)
        self._order[task.id] = context
        self._order.move_to_end(task.id)
        while len(self._order) > self._limit:
            old, old_context = self._order.popitem(last=False)
            await super().delete(old, old_context)


def fulfilled(message: Message | None, key: str) -> bool:
    """True when `message` carries `metadata[SECRETS_URI].secret_fulfillments[key]`."""
    if message is None or SECRETS_URI not in message.metadata.fields:
        return False
    payload = message.metadata.fields[SECRETS_URI].struct_value.fields
    if "secret_fulfillments" not in payload:
        return False
    return key in payload["secret_fulfillments"].struct_value.fields


class EchoExecutor(AgentExecutor):
    """Echoes the input text as a completed task; asks for RUNTIME_KEY first when told to."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        task = context.current_task
        if task is None:
            assert message is not None
            task = new_task_from_user_message(message)
            task.id = context.task_id or task.id
            task.context_id = context.context_id or task.context_id
            await event_queue.enqueue_event(task)  # 1.x: a Task before any status update
            updater = TaskUpdater(event_queue, task.id, task.context_id)
            text = context.get_user_input()
            if text.startswith(RUNTIME_WORD) and not fulfilled(message, RUNTIME_KEY):
                await self._ask(updater, task)
                return
            mark = SEEN_MARK + " " if fulfilled(message, CARD_KEY) else ""
            await updater.add_artifact([new_text_part(mark + text)], name="echo")
            await updater.complete()
            return
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        if not fulfilled(message, RUNTIME_KEY):
            await updater.failed(updater.new_agent_message([new_text_part(f"missing: {RUNTIME_KEY}")]))
            return
        await updater.add_artifact([new_text_part(f"{SEEN_MARK} resumed")], name="echo")
        await updater.complete()

    @staticmethod
    async def _ask(updater: TaskUpdater, task: Task) -> None:
        ask = Message(
            role=Role.ROLE_AGENT,
            message_id=str(uuid.uuid4()),
            task_id=task.id,
            context_id=task.context_id,
            parts=[],
        )
        ask.metadata.update({SECRETS_URI: {"secret_demands": {RUNTIME_KEY: {"name": "Run-time bench key"}}}})
        await updater.update_status(TaskState.TASK_STATE_AUTH_REQUIRED, message=ask)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is not None:
            await TaskUpdater(event_queue, task.id, task.context_id).cancel()


def build_card(base_url: str) -> AgentCard:
    """JSON-RPC in 1.0 and 0.3; streaming; one declared secret demand (CARD_KEY)."""
    extension = AgentExtension(uri=SECRETS_URI, required=False)
    extension.params.update({"secret_demands": {CARD_KEY: {"name": "Bench key"}}})
    return AgentCard(
        name="keybroker-bench-echo",
        description="Benchmark echo agent: completes at once with the input text.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version="0.3"),
        ],
        capabilities=AgentCapabilities(streaming=True, extensions=[extension]),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="Echo", description="Replies with the input.", tags=["bench"])],
    )


def build_app(port: int) -> Starlette:
    """The agent's ASGI app for `http://127.0.0.1:<port>`."""
    card = build_card(f"http://127.0.0.1:{port}")
    handler = DefaultRequestHandler(
        agent_executor=EchoExecutor(), task_store=BoundedTaskStore(), agent_card=card
    )
    return Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True),
        ]
    )


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    sock = listen_loopback()
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        build_app(port),
        log_level="warning",
        access_log=False,
        date_header=False,
        server_header=False,
        lifespan="off",
    )
    say_ready(port)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
