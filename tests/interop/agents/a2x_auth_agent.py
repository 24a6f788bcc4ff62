# SPDX-License-Identifier: Apache-2.0
"""An a2a-sdk 1.x agent that refuses a bad card credential the way A2X servers do (seed 004).

Runs with Keybroker's own venv. Usage: `python a2x_auth_agent.py [PORT]`. PROTOCOL pitfall 28: an
A2X server reports a missing or wrong credential not with HTTP 401 but
- on a send, as a *task* in `auth-required`, HTTP 200: a blocking send returns that task, a stream
  sends one status-update event and closes;
- on the methods that return no task of their own making (`tasks/get`, `tasks/cancel`, resubscribe,
  the push configs, the extended card), as JSON-RPC error `-32600`.
Its client then gets the credential again and re-sends the original request once.

Environment: `KEYBROKER_PEER_SECRET` (the credential it accepts, required but with `oauth`),
`KEYBROKER_PEER_A2X_SCHEME` (`header`: an API key in `X-API-Key`, the default; or `bearer`; or `oauth`:
OAuth 2 access tokens checked as oauth_agent.py checks them, from `KEYBROKER_PEER_ISSUER` with `aud`
this agent's URL, `exp` and `KEYBROKER_PEER_SCOPE`, the card's scheme and requirement given as 1.0 JSON
in `KEYBROKER_PEER_SCHEMES` and `KEYBROKER_PEER_REQUIREMENTS`, as oauth_agent.py takes them),
`KEYBROKER_PEER_A2X_VERSION` (`1.0`, `0.3` or `both`, the default: the interfaces its card offers).
With a good credential it echoes: a task whose artifact is `echo: <text>`, completed.

For tests, two routes need no credential: `GET /debug/requests` lists every A2A call it got as
`{"method", "accepted", "message_id", "task_id", "text"}` (never the credential), and
`POST /debug/secret` with `{"secret": "..."}` changes the credential it accepts (a rotated key).
"""

from __future__ import annotations

import hmac
import json
import os
import sys
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import uvicorn
from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    APIKeySecurityScheme,
    CancelTaskRequest,
    GetTaskRequest,
    HTTPAuthSecurityScheme,
    Message,
    Role,
    SecurityRequirement,
    SecurityScheme,
    SendMessageRequest,
    StringList,
    SubscribeToTaskRequest,
    Task,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import InvalidRequestError
from google.protobuf import json_format  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY_HEADER = "X-API-Key"
REFUSAL = "Authentication required: the credential is missing or wrong"


class Gate:
    """The credential the agent accepts, and every call it saw (see the module docstring)."""

    def __init__(self, scheme: str, secret: str, tokens: Any = None) -> None:
        self.scheme, self.secret = scheme, secret
        #: `oauth`: oauth_agent.py's Validator (signature, iss, aud, exp, scope), else None
        self.tokens = tokens
        self.calls: list[dict[str, Any]] = []

    def accepts(self, given: str | None) -> bool:
        if given is None:
            return False
        if self.tokens is not None:
            return bool(self.tokens.bearer(given))
        return hmac.compare_digest(given.encode(), self.secret.encode())

    def given(self, context: ServerCallContext) -> str | None:
        headers = {k.lower(): v for k, v in context.state.get("headers", {}).items()}
        if self.scheme == "header":
            return headers.get(API_KEY_HEADER.lower())
        auth = headers.get("authorization", "")
        return auth[7:].strip() if auth[:7].lower() == "bearer " else None

    def check(self, method: str, context: ServerCallContext, message: Message | None = None) -> bool:
        accepted = self.accepts(self.given(context))
        text = "".join(p.text for p in message.parts) if message is not None else ""
        self.calls.append(
            {
                "method": method,
                "accepted": accepted,
                "message_id": message.message_id if message is not None else "",
                "task_id": message.task_id if message is not None else "",
                "text": text,
            }
        )
        return accepted


def refused_task(message: Message) -> Task:
    """A2X's answer to a send with a bad credential: a task in `auth-required`, saying why."""
    task_id, context_id = message.task_id or str(uuid.uuid4()), message.context_id or str(uuid.uuid4())
    why = Message(
        role=Role.ROLE_AGENT,
        message_id=str(uuid.uuid4()),
        task_id=task_id,
        context_id=context_id,
        parts=[new_text_part(REFUSAL)],
    )
    status = TaskStatus(state=TaskState.TASK_STATE_AUTH_REQUIRED, message=why)
    return Task(id=task_id, context_id=context_id, status=status)


class A2XHandler(DefaultRequestHandler):
    """Checks the credential before anything runs, and refuses as A2X does."""

    def __init__(self, gate: Gate, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate

    async def on_message_send(self, params: SendMessageRequest, context: ServerCallContext) -> Message | Task:
        if not self.gate.check("send", context, params.message):
            return refused_task(params.message)
        return await super().on_message_send(params, context)

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        if not self.gate.check("stream", context, params.message):
            task = refused_task(params.message)
            yield TaskStatusUpdateEvent(task_id=task.id, context_id=task.context_id, status=task.status)
            return  # one status event, then the stream closes
        async for event in super().on_message_send_stream(params, context):
            yield event

    def _refuse_unless(self, method: str, context: ServerCallContext) -> None:
        if not self.gate.check(method, context):
            raise InvalidRequestError(REFUSAL)

    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task | None:
        self._refuse_unless("get", context)
        return await super().on_get_task(params, context)

    async def on_cancel_task(self, params: CancelTaskRequest, context: ServerCallContext) -> Task | None:
        self._refuse_unless("cancel", context)
        return await super().on_cancel_task(params, context)

    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        self._refuse_unless("subscribe", context)
        async for event in super().on_subscribe_to_task(params, context):
            yield event


class EchoExecutor(AgentExecutor):
    """Echoes the text as an artifact and completes."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            assert context.message is not None
            task = new_task_from_user_message(context.message)
            task.id = context.task_id or task.id
            task.context_id = context.context_id or task.context_id
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.add_artifact([new_text_part(f"echo: {context.get_user_input()}")], name="echo")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is not None:
            await TaskUpdater(event_queue, task.id, task.context_id).cancel()


def build_card(base_url: str, scheme: str, versions: tuple[str, ...]) -> AgentCard:
    """JSON-RPC in `versions`, and the one scheme it checks, required."""
    if scheme == "header":
        name = "apiKey"
        body = SecurityScheme(
            api_key_security_scheme=APIKeySecurityScheme(location="header", name=API_KEY_HEADER)
        )
    else:
        name = "bearer"
        body = SecurityScheme(http_auth_security_scheme=HTTPAuthSecurityScheme(scheme="Bearer"))
    card = AgentCard(
        name="keybroker-a2x-peer",
        description="Test peer: refuses a bad credential the way A2X does (auth-required task, -32600).",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version=v)
            for v in versions
        ],
        capabilities=AgentCapabilities(streaming=True),
        security_schemes={name: body},
        security_requirements=[SecurityRequirement(schemes={name: StringList()})],
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="Echo", description="Echoes the text.", tags=["test"])],
    )
    if scheme == "oauth":  # the card's OAuth 2 scheme and requirement, as oauth_agent.py reads them
        del card.security_schemes[name]
        del card.security_requirements[:]
        for scheme_name, scheme_body in json.loads(os.environ["KEYBROKER_PEER_SCHEMES"]).items():
            card.security_schemes[scheme_name].CopyFrom(json_format.ParseDict(scheme_body, SecurityScheme()))
        for requirement in json.loads(os.environ["KEYBROKER_PEER_REQUIREMENTS"]):
            card.security_requirements.append(json_format.ParseDict(requirement, SecurityRequirement()))
    return card


def build_app(port: int) -> Starlette:
    """The peer's ASGI app for `http://127.0.0.1:<port>` (environment: the module docstring)."""
    scheme = os.environ.get("KEYBROKER_PEER_A2X_SCHEME", "header")
    secret = os.environ.get("KEYBROKER_PEER_SECRET", "")
    if not secret and scheme != "oauth":
        raise SystemExit("KEYBROKER_PEER_SECRET is required")
    wanted = os.environ.get("KEYBROKER_PEER_A2X_VERSION", "both")
    versions = ("1.0", "0.3") if wanted == "both" else (wanted,)
    base = f"http://127.0.0.1:{port}"
    card = build_card(base, scheme, versions)
    tokens = None
    if scheme == "oauth":
        from oauth_agent import Validator  # this directory: the same token checks as the 401 agent

        tokens = Validator(base)
        tokens.audience = [base, base + "/"]  # the resource Keybroker names is the card's URL
    gate = Gate("bearer" if scheme == "oauth" else scheme, secret, tokens)
    handler = A2XHandler(gate, agent_executor=EchoExecutor(), task_store=InMemoryTaskStore(), agent_card=card)

    async def requests(_: Request) -> JSONResponse:
        return JSONResponse(gate.calls)

    async def rotate(request: Request) -> JSONResponse:
        gate.secret = str((await request.json())["secret"])
        return JSONResponse({"rotated": True})

    return Starlette(
        routes=[
            Route("/debug/requests", requests, methods=["GET"]),
            Route("/debug/secret", rotate, methods=["POST"]),
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat="0.3" in versions),
        ]
    )


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("KEYBROKER_PEER_PORT", "10003"))
    uvicorn.run(build_app(port), host="127.0.0.1", port=port, log_level="warning", date_header=False)


if __name__ == "__main__":
    main()
