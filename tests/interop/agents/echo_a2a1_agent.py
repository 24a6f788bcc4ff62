# SPDX-License-Identifier: Apache-2.0
"""A plain a2a-sdk 1.x echo agent: no secret demands, no security schemes, no extended card by default.

Runs with Keybroker's own venv (a2a-sdk 1.3). Usage: `python echo_a2a1_agent.py [PORT]` (else
`$KEYBROKER_PEER_PORT`, else 10002). The conformance tests (issue 18) and a TCK run use it: an agent
that conforms as far as a2a-sdk 1.3 does, so whatever differs through the bridge is the bridge's.
It serves JSON-RPC (1.0 and 0.3) at `/`, HTTP+JSON at `/message:send` (1.0) and `/v1/...` (0.3),
and its card at `/.well-known/agent-card.json` (no `extendedAgentCard` capability). A message is
answered with a completed task whose artifact says `echo: <text>`; `cancel` answers
`TaskNotCancelableError` for finished tasks, as the SDK does.

With `KEYBROKER_PEER_EXTENDED=1` its card declares an extended card, which adds the skill `extra`.

A request whose body holds `DROP_CUE` gets response headers and then a closed connection, the way an
agent that crashes mid-answer looks from outside (`DropOnCue`).
"""

from __future__ import annotations

import asyncio
import os
import sys

import uvicorn
from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

AGENT_NAME = "keybroker-echo-peer"
DROP_CUE = "please-drop-the-connection"
#: Seconds a task stays `working` before it completes (so cancel and resubscribe have a window).
WORK_SECONDS = 0.2


class EchoExecutor(AgentExecutor):
    """Echoes the user's text as an artifact, then completes the task."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            assert context.message is not None
            task = new_task_from_user_message(context.message)
            task.id = context.task_id or task.id
            task.context_id = context.context_id or task.context_id
            await event_queue.enqueue_event(task)  # 1.x: a Task before any status update
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        await asyncio.sleep(WORK_SECONDS)
        await updater.add_artifact([new_text_part(f"echo: {context.get_user_input()}")], name="echo")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            return
        await TaskUpdater(event_queue, task.id, task.context_id).cancel()


def build_card(base_url: str, *, extended: bool = False) -> AgentCard:
    """The card: JSON-RPC and HTTP+JSON in 1.0 and 0.3, streaming, nothing demanded."""
    interfaces = [
        AgentInterface(
            url=base_url + ("/" if binding == "JSONRPC" else ""),
            protocol_binding=binding,
            protocol_version=version,
        )
        for version in ("1.0", "0.3")
        for binding in ("JSONRPC", "HTTP+JSON")
    ]
    return AgentCard(
        name=AGENT_NAME,
        description="Test peer (a2a-sdk 1.x): echoes what it is sent.",
        version="1.0.0",
        supported_interfaces=interfaces,
        capabilities=AgentCapabilities(streaming=True, extended_agent_card=extended),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="Echo", description="Echoes the text it is sent.", tags=["test"])],
    )


class DropOnCue:
    """ASGI middleware: a body holding `DROP_CUE` gets a 200 start line, then the connection closes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if DROP_CUE.encode() in body:
            start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
            await send(start)
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise ConnectionAbortedError("dropped on cue")  # uvicorn closes the connection

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def build_app(port: int) -> ASGIApp:
    """The peer's ASGI app for `http://127.0.0.1:<port>`."""
    extended = os.environ.get("KEYBROKER_PEER_EXTENDED") == "1"
    card = build_card(f"http://127.0.0.1:{port}", extended=extended)
    extended_card = None
    if extended:
        extended_card = AgentCard()
        extended_card.CopyFrom(card)
        extra = AgentSkill(id="extra", name="Extra", description="Only on the extended card.", tags=["test"])
        extended_card.skills.append(extra)
    handler = DefaultRequestHandler(
        agent_executor=EchoExecutor(),
        task_store=InMemoryTaskStore(),
        agent_card=card,
        extended_agent_card=extended_card,
    )
    app = Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True),
            *create_rest_routes(handler, enable_v0_3_compat=True),
        ]
    )
    return DropOnCue(app)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("KEYBROKER_PEER_PORT", "10002"))
    uvicorn.run(build_app(port), host="127.0.0.1", port=port, log_level="warning", date_header=False)


if __name__ == "__main__":
    main()
