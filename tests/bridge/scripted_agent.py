# SPDX-License-Identifier: Apache-2.0
"""An in-process a2a-sdk 1.x agent whose behaviour the message text picks, for bridge edge cases.

- `echo ...`: replies with a Message echoing the text (no task);
- `leak`: completes with an artifact quoting every pre-configured secret verbatim (a careless agent);
- `bad-demand`: goes `auth-required` with a malformed demand (a key with a control character);
- `ask KEY`: goes `auth-required` demanding KEY, and on resume completes with `got KEY len=N`;
  `ask KEY1 KEY2 ...`: asks for each key in turn, one demand per resume, and completes after the last
  (`got KEY len=N` per key), or at the first resume without its key (`missing KEY`);
- `slow S`: says `working`, sleeps S seconds, completes.

Hostile modes (an agent echoing what it was given, later or disguised). The agent remembers every
value any message of a conversation (context) carried:
- `hold`: adds an artifact quoting the values the message carried and goes `input-required`; the
  next message of the task completes it quoting every value remembered;
- `recall`: completes quoting the values remembered for the conversation;
- `split`: streams an artifact in two chunks (`append`), cutting the first value after 9 characters:
  `S1:<value[:9]>` then `<value[9:]>:S2` (the last chunk);
- `encoded`: completes with one text part per encoding of the first value (JSON-escaped, percent,
  base64, hex: forms.scrub_forms' list);
- `bad-demand-echo`: goes `auth-required` with a malformed demand whose key is the first value plus
  a control character.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any
from urllib.parse import quote, quote_plus

from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Message, Role, TaskState
from google.protobuf import json_format
from starlette.applications import Starlette

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"


def _fulfilments(message: Message | None) -> dict[str, str]:
    if message is None or not message.HasField("metadata"):
        return {}
    payload = json_format.MessageToDict(message.metadata).get(SECRETS_URI) or {}
    found = payload.get("secret_fulfillments") or {}
    return {
        k: v["secret"] for k, v in found.items() if isinstance(v, dict) and isinstance(v.get("secret"), str)
    }


def encodings(value: str) -> list[str]:
    """The encoded forms of `value` the `encoded` mode sends, one per text part."""
    raw = value.encode()
    b64, b64url = base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()
    return [
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value),
        b64,
        b64.rstrip("="),
        b64url,
        b64url.rstrip("="),
        raw.hex(),
        raw.hex().upper(),
    ]


class ScriptedExecutor(AgentExecutor):
    """See the module docstring."""

    def __init__(self) -> None:
        self.asked: dict[str, list[str]] = {}
        self.holding: set[str] = set()
        self.remembered: dict[str, list[str]] = {}

    async def _ask(
        self, updater: TaskUpdater, task_id: str, context_id: str, demands: dict[str, Any]
    ) -> None:
        ask = Message(
            role=Role.ROLE_AGENT, message_id=str(uuid.uuid4()), task_id=task_id, context_id=context_id
        )
        ask.metadata.update({SECRETS_URI: {"secret_demands": demands}})
        await updater.update_status(TaskState.TASK_STATE_AUTH_REQUIRED, message=ask)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        assert message is not None
        text = context.get_user_input()
        if text.startswith("echo") and context.current_task is None:
            reply = Message(role=Role.ROLE_AGENT, message_id=str(uuid.uuid4()), parts=[new_text_part(text)])
            reply.context_id = context.context_id or ""
            await event_queue.enqueue_event(reply)
            return
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(message)
            task.id = context.task_id or task.id
            task.context_id = context.context_id or task.context_id
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        given = _fulfilments(message)
        remembered = self.remembered.setdefault(task.context_id, [])
        remembered.extend(v for v in given.values() if v not in remembered)
        first = next(iter(given.values()), remembered[0] if remembered else "nothing")
        if task.id in self.holding:
            self.holding.discard(task.id)
            await updater.add_artifact([new_text_part(f"earlier you gave me {sorted(remembered)}")])
            await updater.complete()
        elif text.startswith("hold"):
            self.holding.add(task.id)
            await updater.add_artifact([new_text_part(f"holding {sorted(given.values())}")], name="held")
            await updater.requires_input(updater.new_agent_message([new_text_part("tell me more")]))
        elif text.startswith("recall"):
            await updater.add_artifact([new_text_part(f"I remember {sorted(remembered)}")])
            await updater.complete()
        elif text.startswith("split"):
            chunks = [("S1:" + first[:9], False), (first[9:] + ":S2", True)]
            for chunk, appended in chunks:
                await updater.add_artifact(
                    [new_text_part(chunk)], artifact_id="a2", append=appended, last_chunk=appended
                )
            await updater.complete()
        elif text.startswith("encoded"):
            await updater.add_artifact([new_text_part(form) for form in encodings(first)], name="encoded")
            await updater.complete()
        elif text.startswith("bad-demand-echo"):
            await self._ask(updater, task.id, task.context_id, {first + "\u0007": {"name": "Bell"}})
        elif task.id in self.asked:
            key, *later = self.asked.pop(task.id)
            value = given.get(key)
            answer = f"got {key} len={len(value)}" if value is not None else f"missing {key}"
            await updater.add_artifact([new_text_part(answer)], name="answer")
            if value is not None and later:
                self.asked[task.id] = later
                await self._ask(updater, task.id, task.context_id, {later[0]: {"name": f"{later[0]} please"}})
            else:
                await updater.complete()
        elif text.startswith("leak"):
            await updater.add_artifact(
                [new_text_part(f"the secrets are {sorted(given.values())}")], name="leak"
            )
            await updater.complete()
        elif text.startswith("bad-demand"):
            await self._ask(updater, task.id, task.context_id, {"bad\u0007key": {"name": "Bell"}})
        elif text.startswith("ask "):
            key, *later = text.split()[1:]
            self.asked[task.id] = [key, *later]
            await self._ask(
                updater, task.id, task.context_id, {key: {"name": f"{key} please", "description": None}}
            )
        elif text.startswith("slow "):
            await updater.start_work(updater.new_agent_message([new_text_part("thinking")]))
            await asyncio.sleep(float(text.split()[1]))
            await updater.add_artifact([new_text_part("done")], name="answer")
            await updater.complete()
        else:
            await updater.add_artifact([new_text_part(f"ok: {text}")], name="answer")
            await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is not None:
            await TaskUpdater(event_queue, task.id, task.context_id).cancel()


def scripted_card(base_url: str, demands: dict[str, dict[str, str]] | None = None) -> AgentCard:
    """A 1.0 (+0.3) card; `demands` become the secrets extension's declared demands."""
    capabilities = AgentCapabilities(streaming=True)
    if demands:
        extension = capabilities.extensions.add(uri=SECRETS_URI, required=False)
        extension.params.update({"secret_demands": demands})
    return AgentCard(
        name="scripted",
        description="Test agent for bridge edge cases",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=base_url, protocol_binding="HTTP+JSON", protocol_version="1.0"),
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version="0.3"),
        ],
        capabilities=capabilities,
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="script", name="Script", description="Does what the text says", tags=["test"])],
    )


def scripted_app(card: AgentCard) -> Starlette:
    """The agent's ASGI app serving `card`."""
    handler = DefaultRequestHandler(
        agent_executor=ScriptedExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    return Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True),
            *create_rest_routes(handler, enable_v0_3_compat=True),
        ]
    )


def main() -> None:
    """`python -m tests.bridge.scripted_agent PORT`: serve the scripted agent on 127.0.0.1:PORT."""
    import sys

    import uvicorn

    port = int(sys.argv[1])
    card = scripted_card(f"http://127.0.0.1:{port}")
    uvicorn.run(scripted_app(card), host="127.0.0.1", port=port, log_level="warning", date_header=False)


if __name__ == "__main__":
    main()
