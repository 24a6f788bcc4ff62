# SPDX-License-Identifier: Apache-2.0
"""An a2a-sdk 1.x agent that leaks the value it was given, in the shape the message text names.

The value is the first `secret_fulfillments` value the message carries (the bridge's pre-flight one).
Each mode answers in events the way a real agent could, an LLM-backed one especially (PROTOCOL.md
pitfall 26), and completes the task:

- `drip N [FORM]`: the artifact `answer`, `the key is <FORM of value> ok`, streamed in chunks of N
  characters with `append: true` (the first chunk creates the artifact, the last says so);
  FORM is `plain` (default), `b64`, `basic` (base64 of `u:<value>`), `percent`, `upper` or `hex`;
- `drip-status N`: the same text as `working` status messages of N characters each;
- `status-split`: the value cut in two across two consecutive `working` status messages;
- `two-artifacts`: the first half at the end of artifact `a1`, the second at the start of `a2`;
- `interleave`: the value dripped into artifact `a1` in 2-character chunks, with a chunk of
  artifact `a2` and a `working` status between each two of them;
- `around-data`: the value cut in two by a data part, in one artifact, in one status message, and
  across two chunks of one artifact (the first ending with text then a data part);
- `meta-key`: the value as a key of artifact metadata, of status metadata and of a data part;
- `raw`: the value's bytes as `Part(raw=...)` (which JSON shows in base64), alone and inside other bytes;
- `basic`: base64 of `u<value>`, `u:<value>` and `u:<value>@host` (a prefix of 1 and 2 bytes);
- `percent`: every byte of the value percent-encoded, in upper and lower case hex;
- `upper`: the value upper-cased, lower-cased and with its case swapped;
- `drip-ask`: `the key is <first half of value>` dripped into artifact `answer` in 2-character
  chunks, then `auth-required` demanding the secret `other`; on resume the rest of the value and
  ` ok` go on in the same artifact, 2 characters a chunk, and the task completes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCard, Message, Part, TaskState
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.struct_pb2 import Struct, Value  # type: ignore[import-untyped]
from starlette.applications import Starlette

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"


def _given(message: Message | None) -> str:
    if message is None or not message.HasField("metadata"):
        return "nothing given"
    payload = json_format.MessageToDict(message.metadata).get(SECRETS_URI) or {}
    for found in (payload.get("secret_fulfillments") or {}).values():
        if isinstance(found, dict) and isinstance(found.get("secret"), str):
            return str(found["secret"])
    return "nothing given"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _percent(value: str, upper: bool) -> str:
    return "".join(f"%{b:02X}" if upper else f"%{b:02x}" for b in value.encode())


#: FORM of `drip N FORM`: what the agent streams in place of the value.
FORMS: dict[str, Callable[[str], str]] = {
    "plain": lambda v: v,
    "b64": lambda v: _b64(v.encode()),
    "basic": lambda v: _b64(b"u:" + v.encode()),
    "percent": lambda v: _percent(v, upper=True),
    "upper": lambda v: v.upper(),
    "hex": lambda v: v.encode().hex(),
}


def _data(payload: dict[str, Any]) -> Part:
    data = Struct()
    data.update(payload)
    return Part(data=Value(struct_value=data))


class LeakyExecutor(AgentExecutor):
    """See the module docstring."""

    def __init__(self) -> None:
        self.asked: dict[str, str] = {}  # task id: the rest of the text it sends on resume (`drip-ask`)

    async def _drip(self, updater: TaskUpdater, text: str, *, first: bool, last: bool) -> None:
        chunks = [text[i : i + 2] for i in range(0, len(text), 2)]
        for n, chunk in enumerate(chunks):
            start = first and n == 0
            await updater.add_artifact(
                [new_text_part(chunk)],
                artifact_id="answer",
                name="answer" if start else None,
                append=not start,
                last_chunk=last and n == len(chunks) - 1,
            )

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        assert message is not None
        task = context.current_task
        if task is not None and task.id in self.asked:
            updater = TaskUpdater(event_queue, task.id, task.context_id)
            await self._drip(updater, self.asked.pop(task.id), first=False, last=True)
            await updater.complete()
            return
        if task is None:
            task = new_task_from_user_message(message)
            task.id = context.task_id or task.id
            task.context_id = context.context_id or task.context_id
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        words = context.get_user_input().split()
        value = _given(message)
        mode = words[0] if words else ""
        half = len(value) // 2
        if mode == "drip":
            size = int(words[1])
            text = f"the key is {FORMS[words[2] if len(words) > 2 else 'plain'](value)} ok"
            chunks = [text[i : i + size] for i in range(0, len(text), size)]
            for n, chunk in enumerate(chunks):
                await updater.add_artifact(
                    [new_text_part(chunk)],
                    artifact_id="answer",
                    name="answer" if n == 0 else None,
                    append=n > 0,
                    last_chunk=n == len(chunks) - 1,
                )
        elif mode == "drip-ask":
            self.asked[task.id] = value[half:] + " ok"
            await self._drip(updater, "the key is " + value[:half], first=True, last=False)
            ask = updater.new_agent_message([new_text_part("one more, please")])
            ask.metadata.update({SECRETS_URI: {"secret_demands": {"other": {"name": "Other"}}}})
            await updater.update_status(TaskState.TASK_STATE_AUTH_REQUIRED, message=ask)
            return
        elif mode == "drip-status":
            size = int(words[1])
            text = f"the key is {value} ok"
            for i in range(0, len(text), size):
                await updater.start_work(updater.new_agent_message([new_text_part(text[i : i + size])]))
        elif mode == "status-split":
            await updater.start_work(updater.new_agent_message([new_text_part("half one: " + value[:half])]))
            await updater.start_work(updater.new_agent_message([new_text_part(value[half:] + " end")]))
        elif mode == "two-artifacts":
            await updater.add_artifact([new_text_part("first: " + value[:half])], artifact_id="a1")
            await updater.add_artifact([new_text_part(value[half:] + " :second")], artifact_id="a2")
        elif mode == "interleave":
            for n, i in enumerate(range(0, len(value), 2)):
                chunk = [new_text_part(value[i : i + 2])]
                name = "a1" if n == 0 else None
                await updater.add_artifact(chunk, artifact_id="a1", name=name, append=n > 0)
                await updater.add_artifact([new_text_part(f"<{n}>")], artifact_id="a2", append=n > 0)
                await updater.start_work(updater.new_agent_message([new_text_part(f"step {n}")]))
        elif mode == "around-data":
            parts = [new_text_part("x " + value[:half]), _data({"n": 1}), new_text_part(value[half:] + " y")]
            await updater.add_artifact(parts, artifact_id="one", name="one")
            await updater.start_work(updater.new_agent_message(parts))
            await updater.add_artifact(
                [new_text_part("z " + value[:half]), _data({"n": 2})], artifact_id="two", name="two"
            )
            await updater.add_artifact(
                [new_text_part(value[half:] + " w")], artifact_id="two", append=True, last_chunk=True
            )
        elif mode == "meta-key":
            await updater.add_artifact(
                [new_text_part("metadata"), _data({value: 1, "outer": {value: True}})],
                artifact_id="meta",
                metadata={value: "as a key", "nested": {value: [1]}},
            )
            status = updater.new_agent_message([new_text_part("status")], metadata={value: "status key"})
            await updater.start_work(status)
        elif mode == "raw":
            raw = value.encode()
            await updater.add_artifact(
                [Part(raw=raw), Part(raw=b"prefix-" + raw + b"-suffix"), Part(raw=b"ab" + raw)],
                artifact_id="raw",
                name="raw",
            )
        elif mode == "basic":
            raw = value.encode()
            forms = [_b64(b"u" + raw), _b64(b"u:" + raw), _b64(b"u:" + raw + b"@host")]
            await updater.add_artifact([new_text_part(f) for f in forms], artifact_id="basic", name="basic")
        elif mode == "percent":
            forms = [_percent(value, upper=True), _percent(value, upper=False)]
            await updater.add_artifact([new_text_part(f) for f in forms], artifact_id="pct", name="pct")
        elif mode == "upper":
            forms = [value.upper(), value.lower(), value.swapcase()]
            await updater.add_artifact([new_text_part(f) for f in forms], artifact_id="case", name="case")
        else:
            await updater.add_artifact([new_text_part(f"unknown mode {json.dumps(mode)}")], artifact_id="x")
        await updater.update_status(
            TaskState.TASK_STATE_COMPLETED, message=updater.new_agent_message([new_text_part("done")])
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is not None:
            await TaskUpdater(event_queue, task.id, task.context_id).cancel()


def leaky_app(card: AgentCard) -> Starlette:
    """The agent's ASGI app serving `card` (JSON-RPC and HTTP+JSON, 1.0 and 0.3)."""
    handler = DefaultRequestHandler(
        agent_executor=LeakyExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    return Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True),
            *create_rest_routes(handler, enable_v0_3_compat=True),
        ]
    )
