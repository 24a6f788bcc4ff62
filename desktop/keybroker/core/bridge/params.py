# SPDX-License-Identifier: Apache-2.0
"""What a request must hold before the bridge forwards it, answered as a conformant agent would.

A2A (0.3 §7.1 and §8.1, 1.0 §3.1) and JSON-RPC 2.0 (§5.1) tell two failures apart: a request that is
not valid JSON-RPC (no `jsonrpc: "2.0"`, no method, an id that is not a string, number or null) is
`-32600 Invalid Request`; a valid request whose params are wrong (a message without `messageId`,
`role` or `parts`, `parts` that is not a list) is `-32602 Invalid params`, HTTP 400 on HTTP+JSON.
- a2a-sdk 1.3's 0.3 JSON-RPC adapter validates envelope and params in one pydantic model and answers
  every failure `-32600`, quoting pydantic's text, input values included. `v03_rpc_problem` validates
  the same model first and says which it was, by where the failures are (`params...` or not), naming
  fields and never quoting a value.
- Required fields (the SDK's own rule, `validate_proto_required_fields`: a message needs `messageId`,
  a role and at least one part; `tasks/get` needs an id...) are checked on the 1.0 protobufs every
  binding is converted to (`check_params`), before anything is forwarded: an agent that cannot take a
  message would fail on it, or drop the connection, and the client would learn less.

One exception, on purpose: a message that resumes a task (it has a `taskId`) may have no parts when
the agent speaks only A2A 0.3. agentstack-sdk 0.7.1 agents (a2a-sdk 0.3.24) accept `parts: []` on a
resume and the Agent Stack UI sends exactly that when it fulfils a secret demand (PROTOCOL §2.1);
refusing it would break that client for no agent's benefit. A 1.x agent rejects it (-32602), so
the bridge does too, before forwarding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from a2a.types import Message, SendMessageRequest
from a2a.utils.errors import A2AError, InvalidParamsError, InvalidRequestError
from a2a.utils.proto_utils import validate_proto_required_fields
from google.protobuf.message import Message as ProtoMessage  # type: ignore[import-untyped]
from pydantic import BaseModel, ValidationError

__all__ = ["check_params", "v03_message_problem", "v03_rpc_problem"]

#: pydantic error types whose message never quotes the input (others are named by type only).
_PLAIN_MESSAGES = frozenset(
    {
        "missing",
        "string_type",
        "list_type",
        "dict_type",
        "model_type",
        "model_attributes_type",
        "int_type",
        "int_parsing",
        "float_type",
        "bool_type",
        "bool_parsing",
        "literal_error",
        "enum",
        "extra_forbidden",
        "union_tag_not_found",
        "none_required",
    }
)
#: Fields named in one answer, at most.
_MAX_FIELDS = 10
PARTS_FIELD = "message.parts"


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(item) for item in loc) or "(request)"


def _details(error: ValidationError, strip: int = 0) -> list[dict[str, str]]:
    """Each failure as `{"field", "message"}`, the way a2a-sdk 1.x reports required fields."""
    details = []
    for item in error.errors(include_input=False, include_url=False)[:_MAX_FIELDS]:
        kind = item.get("type", "")
        message = item.get("msg", "") if kind in _PLAIN_MESSAGES else f"invalid value ({kind})"
        details.append({"field": _field(tuple(item.get("loc", ()))[strip:]), "message": message})
    return details


def _summary(what: str, details: list[dict[str, str]]) -> str:
    fields = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return f"{what}: {fields}" if fields else what


def v03_rpc_problem(
    method: str, body: Mapping[str, Any], model: type[BaseModel], *, legacy_agent: bool
) -> A2AError | None:
    """Why the A2A 0.3 JSON-RPC request `body` cannot be served, or None (see the module docstring).

    `model` is the 0.3 request type the SDK's adapter validates `method` with; `legacy_agent`: the
    agent speaks only A2A 0.3 (then a resume may have no parts).
    """
    if "id" not in body:  # a notification is valid JSON-RPC (the SDK's model wants an id): judge the params
        body = {**body, "id": 0}
    try:
        request = model.model_validate(body)
    except ValidationError as exc:
        failures = exc.errors(include_input=False, include_url=False)
        in_params = all(tuple(f.get("loc", ()))[:1] == ("params",) for f in failures)
        if in_params:
            details = _details(exc, strip=1)
            said = _summary(f"{method}: invalid params", details)
            return InvalidParamsError(said, data={"errors": details})
        details = _details(exc)
        said = _summary("not a valid JSON-RPC request", details)
        return InvalidRequestError(said, data={"errors": details})
    params = getattr(request, "params", None)
    message = getattr(params, "message", None)
    if message is None:
        return None
    return v03_message_problem(message, legacy_agent=legacy_agent)


def v03_message_problem(message: Any, *, legacy_agent: bool) -> InvalidParamsError | None:
    """Required fields pydantic lets through in an A2A 0.3 message (an empty id, no parts)."""
    details = []
    if not message.message_id:
        details.append({"field": "message.messageId", "message": "Field is required."})
    if not message.parts and not (message.task_id and legacy_agent):
        details.append({"field": PARTS_FIELD, "message": "Field must contain at least one element."})
    if not details:
        return None
    return InvalidParamsError(_summary("invalid params", details), data={"errors": details})


def check_params(params: ProtoMessage | None, *, legacy_agent: bool) -> None:
    """Raise `InvalidParamsError` (-32602, HTTP 400) when `params` lacks what A2A requires.

    Every required field as a2a-sdk's own servers check it, and every part of a message must hold
    content (text, raw, url or data); a resume to a 0.3-only agent may have no parts (module docstring).
    """
    if params is None:
        return
    details: list[dict[str, str]] = []
    try:
        validate_proto_required_fields(params)
    except InvalidParamsError as exc:
        found = exc.data.get("errors", []) if isinstance(exc.data, dict) else []
        details = [dict(d) for d in found if isinstance(d, dict)]
    if isinstance(params, SendMessageRequest) and params.HasField("message"):
        details = _message_details(params.message, details, legacy_agent=legacy_agent)
    if details:
        details = details[:_MAX_FIELDS]
        raise InvalidParamsError(_summary("invalid params", details), data={"errors": details})


def _message_details(
    message: Message, details: list[dict[str, str]], *, legacy_agent: bool
) -> list[dict[str, str]]:
    if message.task_id and legacy_agent and not message.parts:
        details = [d for d in details if d.get("field") != PARTS_FIELD]
    for index, part in enumerate(message.parts):
        if part.WhichOneof("content") is None:
            field = f"{PARTS_FIELD}[{index}]"
            details.append({"field": field, "message": "A part needs text, raw, url or data."})
    return details
