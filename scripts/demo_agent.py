#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A small local A2A agent that needs one secret: the agent of `make screenshots` (and a demo).

    python scripts/demo_agent.py PORT

An a2a-sdk 1.x agent (Keybroker's own venv) on `http://127.0.0.1:PORT`, serving its card at
`/.well-known/agent-card.json` and JSON-RPC (A2A 1.0 and 0.3) at `/`. The card declares one demand
through the Agent Stack secrets extension, `GITHUB_TOKEN`. A message that arrives with the value in
`metadata[SECRETS_URI].secret_fulfillments` (the bridge puts it there once the user allows) gets a
reply saying what it would do and proving it got a value (its length and a hash prefix, never the
value); without one, the task stops in `auth-required` with the demand, as PROTOCOL.md §2 says.
It makes no network calls of its own.
"""

from __future__ import annotations

import hashlib
import sys
import uuid
from typing import Any

import uvicorn
from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
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
    TaskState,
)
from google.protobuf import json_format  # type: ignore[import-untyped]
from starlette.applications import Starlette

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"
NAME = "Issue Digest"
KEY = "GITHUB_TOKEN"
DEMANDS = {KEY: {"name": "GitHub token", "description": "A personal access token that can read your issues"}}


def received(message: Message | None) -> str | None:
    """The value the bridge put into the message for `KEY`, if any."""
    if message is None or not message.HasField("metadata"):
        return None
    payload = json_format.MessageToDict(message.metadata).get(SECRETS_URI) or {}
    found = (payload.get("secret_fulfillments") or {}).get(KEY)
    return found.get("secret") if isinstance(found, dict) and isinstance(found.get("secret"), str) else None


def reply_text(request: str, value: str) -> str:
    """What the agent answers: the request, and proof of the token without the token."""
    digest = hashlib.sha256(value.encode()).hexdigest()[:12]
    return (
        f"Digest for “{request.strip() or 'your repositories'}”: 3 open issues, 1 needs a reply. "
        f"(Read with the {KEY} you allowed: {len(value)} characters, sha256 {digest}…)"
    )


class DigestExecutor(AgentExecutor):
    """Answers when it has the token; asks for it (auth-required) when it does not."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        task = context.current_task
        if task is None:
            assert message is not None
            task = new_task_from_user_message(message)
            task.id = context.task_id or task.id
            task.context_id = context.context_id or task.context_id
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        value = received(message)
        if value is None:
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
        text = reply_text(context.get_user_input(), value)
        await updater.add_artifact([new_text_part(text)], name="digest")
        await updater.complete(updater.new_agent_message([new_text_part(text)]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is not None:
            await TaskUpdater(event_queue, task.id, task.context_id).cancel()


def build_card(base_url: str) -> AgentCard:
    """The card: JSON-RPC in A2A 1.0 and 0.3, and the secrets extension with one demand."""
    extension = AgentExtension(uri=SECRETS_URI, required=False)
    extension.params.update({"secret_demands": DEMANDS})
    return AgentCard(
        name=NAME,
        description="Summarises the open issues of your GitHub repositories.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version="0.3"),
        ],
        capabilities=AgentCapabilities(streaming=True, extensions=[extension]),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(
                id="digest",
                name="Issue digest",
                description="Lists what needs your attention in your repositories.",
                tags=["github", "issues"],
            )
        ],
    )


def build_app(port: int) -> Any:
    """The agent's ASGI app for `http://127.0.0.1:<port>`."""
    card = build_card(f"http://127.0.0.1:{port}")
    handler = DefaultRequestHandler(
        agent_executor=DigestExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    return Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True),
        ]
    )


def main() -> None:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        raise SystemExit("usage: demo_agent.py PORT")
    port = int(sys.argv[1])
    uvicorn.run(build_app(port), host="127.0.0.1", port=port, log_level="warning", date_header=False)


if __name__ == "__main__":
    main()
