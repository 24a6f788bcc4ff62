# SPDX-License-Identifier: Apache-2.0
"""The Agent Stack secrets extension on a2a-sdk 1.x protobuf messages (PROTOCOL.md §2.1).

Pure helpers, no I/O: what a client already fulfilled, putting granted values into a first message,
spotting an `auth-required` status that carries secret demands, and building the resume message and
the "waiting for the user" status. Version differences are gone by the time events get here: the
SDK's compat layer turns 0.3 payloads into 1.0 protobufs on both sides.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from a2a.types import (
    Message,
    Part,
    Role,
    StreamResponse,
    Task,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.struct_pb2 import Struct  # type: ignore[import-untyped]

from keybroker.core.a2a.demand import SECRETS_EXTENSION_URI, parse_secret_demands
from keybroker.core.models import SecretDemand, SecretValue

__all__ = [
    "DECLINED_TEXT",
    "RESUME_TEXT",
    "RuntimeDemand",
    "auth_required_ids",
    "client_fulfilled_keys",
    "client_fulfilment_problem",
    "inject_fulfilments",
    "resume_message",
    "runtime_demand",
    "waiting_status",
]

#: The text part a resume carries: 1.x servers reject `parts: []` (PROTOCOL pitfall 3).
RESUME_TEXT = "secrets provided"
#: The text of a resume that carries no value: every key demanded was declined.
DECLINED_TEXT = "secrets declined"
_FULFILMENTS = "secret_fulfillments"


@dataclass(frozen=True)
class RuntimeDemand:
    """An `auth-required` status asking for secrets: which task, which demands."""

    task_id: str
    context_id: str
    demands: tuple[SecretDemand, ...]


def _extension_payload(metadata: Struct) -> Any:
    """`metadata[SECRETS_EXTENSION_URI]` as plain data, or None."""
    if SECRETS_EXTENSION_URI not in metadata.fields:
        return None
    return json_format.MessageToDict(metadata.fields[SECRETS_EXTENSION_URI])


def client_fulfilled_keys(message: Message) -> frozenset[str]:
    """Keys the client fulfilled itself in `message.metadata` (whatever their values look like)."""
    if not message.HasField("metadata"):
        return frozenset()
    payload = _extension_payload(message.metadata)
    if not isinstance(payload, dict):
        return frozenset()
    found = payload.get(_FULFILMENTS)
    return frozenset(k for k in found if isinstance(k, str)) if isinstance(found, dict) else frozenset()


def client_fulfilment_problem(message: Message) -> str | None:
    """Why the client's own fulfilments are malformed, or None.

    Each must be `{"secret": "<string>"}`: anything else makes an agentstack agent hang instead of
    failing (PROTOCOL.md §2.1), so the bridge refuses it up front. The text names keys, never values.
    """
    if not message.HasField("metadata"):
        return None
    payload = _extension_payload(message.metadata)
    if payload is None:
        return None
    if not isinstance(payload, dict):
        return f"metadata[{SECRETS_EXTENSION_URI}] must be an object"
    found = payload.get(_FULFILMENTS)
    if found is None:
        return None
    if not isinstance(found, dict):
        return f"{_FULFILMENTS} must be an object of {{key: {{'secret': string}}}}"
    for key, value in found.items():
        if not isinstance(value, dict) or not isinstance(value.get("secret"), str):
            return f"{_FULFILMENTS}[{key!r}] must be an object {{'secret': string}}"
    return None


def inject_fulfilments(message: Message, values: Mapping[str, SecretValue]) -> frozenset[str]:
    """Add `{"secret": value}` for each key the message does not fulfil yet; returns the keys added.

    Other members of the extension's metadata, and the client's own fulfilments, are left as they are.
    """
    if not values:
        return frozenset()
    payload = _extension_payload(message.metadata) if message.HasField("metadata") else None
    if not isinstance(payload, dict):
        payload = {}
    existing = payload.get(_FULFILMENTS)
    fulfilments: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
    added = frozenset(k for k in values if k not in fulfilments)
    if not added:
        return added
    for key in added:
        fulfilments[key] = {"secret": values[key].reveal()}
    payload[_FULFILMENTS] = fulfilments
    message.metadata.update({SECRETS_EXTENSION_URI: payload})
    return added


def _status_of(event: StreamResponse) -> tuple[str, str, TaskStatus] | None:
    kind = event.WhichOneof("payload")
    if kind == "status_update":
        update = event.status_update
        return update.task_id, update.context_id, update.status
    if kind == "task":
        task: Task = event.task
        return task.id, task.context_id, task.status
    return None


def auth_required_ids(event: StreamResponse) -> tuple[str, str] | None:
    """(taskId, contextId) when `event` puts a task in `auth-required` (with or without demands)."""
    found = _status_of(event)
    if found is None or found[2].state != TaskState.TASK_STATE_AUTH_REQUIRED:
        return None
    return found[0], found[1]


def runtime_demand(event: StreamResponse) -> RuntimeDemand | None:
    """The secret demands of an `auth-required` status (as an update or a whole task), else None.

    Detected by state plus the metadata key, never by text (PROTOCOL pitfall 10). Raises
    `InvalidDemandError` when the demands are malformed.
    """
    found = _status_of(event)
    if found is None:
        return None
    task_id, context_id, status = found
    if status.state != TaskState.TASK_STATE_AUTH_REQUIRED or not status.HasField("message"):
        return None
    if not status.message.HasField("metadata"):
        return None
    payload = _extension_payload(status.message.metadata)
    if payload is None:
        return None
    demands = parse_secret_demands(payload, "status.message.metadata[secrets]")
    if not demands:
        return None
    return RuntimeDemand(task_id=task_id, context_id=context_id, demands=demands)


def resume_message(task_id: str, context_id: str, values: Mapping[str, SecretValue]) -> Message:
    """The message answering a demand: same taskId and contextId (pitfall 2), one text part (pitfall 3).

    It always carries `{"secret_fulfillments": {...}}`, holding the granted values only: a declined key
    is absent, and when every key was declined the object is empty. That is how "declined" reads to an
    agentstack agent: `request_secrets` returns no fulfilment for the key and the agent's own fallback
    runs (seed 000's "No ... key provided", PROTOCOL pitfall 27), where a resume without the metadata
    would raise in the agent and fail a task that does not catch it (PROTOCOL §2.1).
    """
    message = Message(
        role=Role.ROLE_USER,
        message_id=str(uuid.uuid4()),
        task_id=task_id,
        context_id=context_id,
        parts=[Part(text=RESUME_TEXT if values else DECLINED_TEXT)],
    )
    message.metadata.update({SECRETS_EXTENSION_URI: {_FULFILMENTS: {}}})
    inject_fulfilments(message, values)
    return message


def _names(demands: tuple[SecretDemand, ...]) -> str:
    return ", ".join(f"{d.name} ({d.key})" if d.name != d.key else d.key for d in demands)


def waiting_status(demand: RuntimeDemand) -> TaskStatusUpdateEvent:
    """One `working` status telling the client what the bridge waits for (DESIGN §1)."""
    text = f"Keybroker is waiting for the user to provide: {_names(demand.demands)}"
    message = Message(
        role=Role.ROLE_AGENT,
        message_id=str(uuid.uuid4()),
        task_id=demand.task_id,
        context_id=demand.context_id,
        parts=[Part(text=text)],
    )
    return TaskStatusUpdateEvent(
        task_id=demand.task_id,
        context_id=demand.context_id,
        status=TaskStatus(state=TaskState.TASK_STATE_WORKING, message=message),
    )
