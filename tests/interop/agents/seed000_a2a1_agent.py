# SPDX-License-Identifier: Apache-2.0
"""Seed 000's agent on a2a-sdk 1.x: one secret, and its own answer when none is given.

Runs with Keybroker's own venv. Usage: `python seed000_a2a1_agent.py [PORT]`. The same behaviour as
seed000_agentstack_agent.py (PROTOCOL pitfall 27), in A2A 1.0 (and 0.3 through the SDK's compat
routes): the card demands `SLACK_API_KEY` through the Agent Stack secrets extension; a value in the
first message is used; otherwise the task goes `auth-required` with the demand, and the resume is
read the way agentstack-sdk reads it (`parse_secret_response`: no secrets metadata raises
`ValueError`), the error caught, and "No Slack API key provided" answered when no value came back.
The reply is a proof (`Slack API key: len=<n> sha256=<first 12 hex> via=<...>`), never the value.
"""

from __future__ import annotations

import hashlib
import os
import sys
import uuid
from typing import Any

import uvicorn
from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentExtension,
    AgentInterface,
    AgentSkill,
    Message,
    Role,
    TaskState,
)
from google.protobuf import json_format  # type: ignore[import-untyped]
from starlette.applications import Starlette

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"
KEY = "SLACK_API_KEY"
NO_KEY = "No Slack API key provided"
DEMANDS = {KEY: {"name": "Slack", "description": "Access to Slack"}}


def proof(value: str, via: str) -> str:
    """Length and a sha256 prefix: enough for a test to compare, never the value."""
    return (
        f"Slack API key: len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]} via={via}"
    )


def _payload(message: Message | None) -> Any:
    if message is None or not message.HasField("metadata") or SECRETS_URI not in message.metadata.fields:
        return None
    return json_format.MessageToDict(message.metadata.fields[SECRETS_URI])


def fulfilments(payload: Any) -> dict[str, str]:
    """`secret_fulfillments` of the extension's payload, as key -> value."""
    found = payload.get("secret_fulfillments") if isinstance(payload, dict) else None
    if not isinstance(found, dict):
        return {}
    return {
        k: v["secret"] for k, v in found.items() if isinstance(v, dict) and isinstance(v.get("secret"), str)
    }


def parse_secret_response(message: Message | None) -> dict[str, str]:
    """What agentstack-sdk's `parse_secret_response` does: no (or empty) metadata is a ValueError."""
    payload = _payload(message)
    if not payload:
        raise ValueError("Secrets has not been provided in response.")
    return fulfilments(payload)


class Seed000Executor(AgentExecutor):
    """See the module docstring."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        resumed = task is not None
        if task is None:
            assert context.message is not None
            task = new_task_from_user_message(context.message)
            task.id = context.task_id or task.id
            task.context_id = context.context_id or task.context_id
            await event_queue.enqueue_event(task)  # 1.x: a Task before any status update (PROTOCOL §4)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        if not resumed:
            given = fulfilments(_payload(context.message))
            if given.get(KEY):
                await self._answer(updater, proof(given[KEY], "preconfigured"))
                return
            ask = Message(
                role=Role.ROLE_AGENT,
                message_id=str(uuid.uuid4()),
                task_id=task.id,
                context_id=task.context_id,
                parts=[],
            )
            ask.metadata.update({SECRETS_URI: {"secret_demands": DEMANDS}})
            await updater.update_status(TaskState.TASK_STATE_AUTH_REQUIRED, message=ask)
            return
        try:
            runtime: dict[str, str] | None = parse_secret_response(context.message)
        except ValueError:
            runtime = None
        if runtime and runtime.get(KEY):
            await self._answer(updater, proof(runtime[KEY], "runtime"))
        else:
            await self._answer(updater, NO_KEY)

    @staticmethod
    async def _answer(updater: TaskUpdater, text: str) -> None:
        await updater.add_artifact([new_text_part(text)], name="answer")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is not None:
            await TaskUpdater(event_queue, task.id, task.context_id).cancel()


def build_card(base_url: str) -> AgentCard:
    """JSON-RPC and HTTP+JSON in 1.0 and 0.3; the secrets extension demanding SLACK_API_KEY."""
    extension = AgentExtension(uri=SECRETS_URI, required=False)
    extension.params.update({"secret_demands": DEMANDS})
    return AgentCard(
        name="keybroker-seed000-a2a1-peer",
        description="Seed 000 on a2a-sdk 1.x: needs a Slack key, says so without one.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=base_url, protocol_binding="HTTP+JSON", protocol_version="1.0"),
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version="0.3"),
            AgentInterface(url=base_url, protocol_binding="HTTP+JSON", protocol_version="0.3"),
        ],
        capabilities=AgentCapabilities(streaming=True, extensions=[extension]),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(id="slack", name="Slack", description="Uses a Slack key if given.", tags=["test"])
        ],
    )


def build_app(port: int) -> Starlette:
    """The peer's ASGI app for `http://127.0.0.1:<port>`."""
    card = build_card(f"http://127.0.0.1:{port}")
    handler = DefaultRequestHandler(
        agent_executor=Seed000Executor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    return Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True),
            *create_rest_routes(handler, enable_v0_3_compat=True),
        ]
    )


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("KEYBROKER_PEER_PORT", "10002"))
    uvicorn.run(build_app(port), host="127.0.0.1", port=port, log_level="warning", date_header=False)


if __name__ == "__main__":
    main()
