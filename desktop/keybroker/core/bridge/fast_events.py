# SPDX-License-Identifier: Apache-2.0
"""A streamed JSON-RPC event on the fast path (fast_stream.py): what it is, and the model it reads as.

An agent's stream event is a JSON-RPC response whose `result` is a task, a message, a status update
or an artifact update: 0.3 names it in `kind`, 1.0 in its one member (`task`, `message`,
`statusUpdate`, `artifactUpdate`). `payload_of` tells which from the parsed JSON, `event_states`
reads the task ids and state a `TaskWatch` and `Recall` are told (as task_trail.task_states does on
models). Only an event whose text chunks.py must hold back or cut across events is read into an
a2a-sdk model (`to_event`) and written back in the client's version (`to_result`), as the full path
writes it (the SDK's 0.3 adapter, the bridge's 1.0 dispatcher).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from a2a.compat.v0_3 import conversions
from a2a.compat.v0_3 import types as types_v03
from a2a.types import StreamResponse
from a2a.utils import proto_utils
from google.protobuf.json_format import MessageToDict, ParseDict  # type: ignore[import-untyped]

from keybroker.core.bridge.collector import stream_payload

if TYPE_CHECKING:
    from a2a.server.events.event_queue import Event

__all__ = ["event_states", "payload_of", "to_event", "to_result", "to_stream_response"]

_V03_KINDS = {"task": "task", "message": "message", "status-update": "status", "artifact-update": "artifact"}
_V10_KINDS = {"task": "task", "message": "message", "statusUpdate": "status", "artifactUpdate": "artifact"}


def payload_of(result: object, version: str) -> tuple[str, dict[str, Any]] | None:
    """(kind, the event's object) of a stream event's `result`; kind is task, message, status or
    artifact. None when it is none of them in `version`'s spelling."""
    if not isinstance(result, dict):
        return None
    if version == "1.0":
        if len(result) != 1:
            return None
        ((key, inner),) = result.items()
        kind = _V10_KINDS.get(key)
    else:
        inner, kind = result, _V03_KINDS.get(str(result.get("kind")))
    if kind is None or not isinstance(inner, dict):
        return None
    return kind, inner


def event_states(kind: str, event: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(task id, context id, state) the event speaks of; state "" when it carries none."""
    task_id = event.get("id") if kind == "task" else event.get("taskId")
    if not isinstance(task_id, str) or not task_id:
        return []
    context_id = event.get("contextId")
    context = context_id if isinstance(context_id, str) else ""
    state = ""
    if kind in ("task", "status") and isinstance(status := event.get("status"), dict):
        found = status.get("state")
        state = found if isinstance(found, str) else ""
    return [(task_id, context, state)]


def to_stream_response(envelope: dict[str, Any], version: str) -> StreamResponse:
    """The JSON-RPC event `envelope` as a 1.0 `StreamResponse`. Raises when the SDK cannot read it."""
    if version == "1.0":
        response: StreamResponse = ParseDict(envelope["result"], StreamResponse(), ignore_unknown_fields=True)
        return response
    compat = types_v03.SendStreamingMessageSuccessResponse.model_validate(envelope)
    return conversions.to_core_stream_response(compat)


def to_event(envelope: dict[str, Any], version: str) -> Event:
    """The Task, Message, status or artifact update the JSON-RPC event `envelope` carries."""
    return stream_payload(to_stream_response(envelope, version))


def to_result(event: Event, version: str, request_id: object) -> dict[str, Any]:
    """`event` as the JSON-RPC event the full path writes to a client of `version`."""
    response = proto_utils.to_stream_response(event)
    rid = request_id if isinstance(request_id, str | int) else None
    if version == "1.0":
        result = MessageToDict(response, preserving_proto_field_name=False)
        return {"jsonrpc": "2.0", "id": rid, "result": result}
    compat = conversions.to_compat_stream_response(response, rid)
    return compat.model_dump(mode="json", by_alias=True, exclude_none=True)
