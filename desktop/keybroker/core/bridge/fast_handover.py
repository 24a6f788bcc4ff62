# SPDX-License-Identifier: Apache-2.0
"""When a fast-path send meets a run-time demand: the full path's resume loop takes the run over.

The fast path (fast_path.py) forwarded the message as bytes; the agent answered a blocking send with
its task in `auth-required`. If that is a demand the bridge answers (`BridgeRun.interrupt`: secret
demands it may still ask for), the answer is read into a2a-sdk models once and the run continues in
`BridgeRun.events`, exactly as if the full path had sent the message: the broker is asked, the task
resumed (same taskId and contextId) through the full path's upstream, and its last event, cleaned, is
written back in the client's version. Anything else (an `auth-required` the client must answer, an
answer the SDK cannot read) stays on the fast path, cleaned as JSON.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from a2a.compat.v0_3 import conversions
from a2a.compat.v0_3 import types as types_v03
from a2a.server.request_handlers.response_helpers import build_error_response
from a2a.types import Message, SendMessageRequest, SendMessageResponse, StreamResponse, Task
from google.protobuf.json_format import MessageToDict, ParseDict  # type: ignore[import-untyped]

from keybroker.core.bridge.legs import replay_then, send_leg
from keybroker.core.bridge.rpc_errors import client_error

if TYPE_CHECKING:
    from a2a.server.events.event_queue import Event

    from keybroker.core.bridge.run import BridgeRun

__all__ = ["AUTH_REQUIRED_STATES", "handover"]

#: `auth-required` in both versions' spelling (PROTOCOL pitfall 1).
AUTH_REQUIRED_STATES = frozenset({"auth-required", "TASK_STATE_AUTH_REQUIRED"})


def _read(rpc: dict[str, Any], result: object) -> tuple[SendMessageRequest, Task] | None:
    """The client's request and the agent's task as 1.0 models, or None when either cannot be read."""
    try:
        if rpc.get("method") == "SendMessage":
            params = ParseDict(rpc["params"], SendMessageRequest(), ignore_unknown_fields=True)
            answer = ParseDict(result, SendMessageResponse(), ignore_unknown_fields=True)
            return (params, answer.task) if answer.HasField("task") else None
        compat = types_v03.SendMessageRequest.model_validate(
            {"jsonrpc": "2.0", "id": 0, "method": "message/send", "params": rpc["params"]}
        )
        return conversions.to_core_send_message_request(compat), conversions.to_core_task(
            types_v03.Task.model_validate(result)
        )
    except Exception:  # unreadable: the caller passes the answer on as JSON, cleaned
        return None


async def handover(
    run: BridgeRun, rpc: dict[str, Any], result: object, request_id: object
) -> dict[str, Any] | None:
    """The JSON-RPC answer after the full path resumed the run, or None when it is not the bridge's to
    answer (module docstring)."""
    read = _read(rpc, result)
    if read is None:
        return None
    params, task = read
    interrupt = run.interrupt(StreamResponse(task=task))
    if interrupt is None:
        return None
    rid = request_id if isinstance(request_id, str | int) else None
    request = SendMessageRequest()
    request.CopyFrom(params)
    last: Event | None = None
    leg = replay_then(task, interrupt, send_leg)
    try:
        events = run.events(params, request, leg, interactive=False, prepared=True)
        async with contextlib.aclosing(events) as sent:
            async for event in sent:
                last = event
    except Exception as exc:
        return build_error_response(rid, client_error(exc))
    if rpc.get("method") == "SendMessage":
        if isinstance(last, Task):
            answer: object = MessageToDict(SendMessageResponse(task=last))
        elif isinstance(last, Message):
            answer = MessageToDict(SendMessageResponse(message=last))
        else:
            return None
    elif isinstance(last, Task):
        answer = conversions.to_compat_task(last).model_dump(mode="json", by_alias=True, exclude_none=True)
    elif isinstance(last, Message):
        answer = conversions.to_compat_message(last).model_dump(mode="json", by_alias=True, exclude_none=True)
    else:
        return None
    return {"jsonrpc": "2.0", "id": rid, "result": answer}
