# SPDX-License-Identifier: Apache-2.0
"""The plain shape of a send request, checked on the JSON itself: the fast path's cheap admission.

fast_path.py serves a request only when the SDK's route would accept it as it is. Finding that out
through the SDK (a2a-sdk's 0.3 pydantic model and conversion, or protobuf's `ParseDict`, then the
required fields, `params.check_params`) costs about half a millisecond a request, more than the rest
of the decision. `plain_send` answers the same question for the shapes real clients send, in one walk
over the dict orjson gave: True only when every member is one the SDK reads, spelled as its clients
write it (camelCase), of the type it wants, every required field present and non-empty, each part
holding exactly one kind of content, and the nesting shallow. Anything else (a snake_case alias, an
unknown member, `null` where a value belongs, an enum spelled another way, `raw` bytes or a file part,
a number past 2**53, a oneof conflict, deep nesting) gets False, and fast_path.py asks the SDK as
before: False means "not sure", never "refused". tests/bridge/test_send_shape.py holds the two
verdicts against each other on generated bodies.

The input is what `orjson.loads` returns: str keys, finite floats, no lone surrogates.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["PLAIN_DEPTH", "plain_send"]

#: How deep JSON under a metadata or data member may nest here. The SDK follows further (protobuf's
#: ParseDict up to 100 messages, two per JSON level; the bridge's own walk to proto_walk.MAX_DEPTH);
#: deeper bodies are left to it.
PLAIN_DEPTH = 16
#: Integers a JSON number holds exactly as a double (protobuf's `Value` keeps numbers as doubles).
_EXACT_INT = 2**53
_INT32 = 2**31

_ROLES = {"0.3": frozenset({"user", "agent"}), "1.0": frozenset({"ROLE_USER", "ROLE_AGENT"})}
_PARAMS = {"0.3": frozenset({"message", "configuration", "metadata"})}
_PARAMS["1.0"] = _PARAMS["0.3"] | {"tenant"}
_MESSAGE_10 = frozenset(
    {"messageId", "contextId", "taskId", "role", "parts", "metadata", "extensions", "referenceTaskIds"}
)
_MESSAGE = {"0.3": _MESSAGE_10 | {"kind"}, "1.0": _MESSAGE_10}
_CONFIGURATION = {
    "0.3": frozenset({"acceptedOutputModes", "blocking", "historyLength"}),
    "1.0": frozenset({"acceptedOutputModes", "returnImmediately", "historyLength"}),
}
_FLAG = {"0.3": "blocking", "1.0": "returnImmediately"}
#: 1.0 parts: the content members (`raw` is bytes: left to the SDK) and the others.
_CONTENT_10 = frozenset({"text", "url", "data"})
_PART_10 = frozenset({"text", "url", "data", "metadata", "filename", "mediaType"})
#: 0.3 parts by kind (file parts are left to the SDK).
_PART_03 = {"text": frozenset({"kind", "text", "metadata"}), "data": frozenset({"kind", "data", "metadata"})}
#: A 0.3 data part's metadata member the SDK's conversion reads as an instruction.
_DATA_PART_COMPAT = "data_part_compat"


def plain_send(rpc: dict[str, Any], version: str) -> bool:
    """True when `rpc`, a JSON-RPC send of A2A `version` ("0.3" or "1.0"), is a plain request the SDK
    accepts; False when not sure (module docstring)."""
    if version == "0.3" and not _plain_id(rpc.get("id")):
        return False  # (0.3: the SDK's model reads the envelope too; 1.0 reads the params only)
    params = rpc.get("params")
    if type(params) is not dict or not params.keys() <= _PARAMS[version]:
        return False
    message = params.get("message")
    if type(message) is not dict or not _plain_message(message, version):
        return False
    if not _optional_str(params.get("tenant")) or not _optional_struct(params.get("metadata")):
        return False
    configuration = params.get("configuration")
    return configuration is None or _plain_configuration(configuration, version)


def _plain_message(message: dict[str, Any], version: str) -> bool:
    if not message.keys() <= _MESSAGE[version]:
        return False
    message_id, role, parts = message.get("messageId"), message.get("role"), message.get("parts")
    if type(message_id) is not str or not message_id or type(role) is not str or role not in _ROLES[version]:
        return False
    if type(parts) is not list or not parts:
        return False
    if version == "0.3" and message.get("kind", "message") != "message":
        return False
    if not (
        _optional_str(message.get("contextId"))
        and _optional_str(message.get("taskId"))
        and _optional_strings(message.get("extensions"))
        and _optional_strings(message.get("referenceTaskIds"))
        and _optional_struct(message.get("metadata"))
    ):
        return False
    plain_part = _plain_part_10 if version == "1.0" else _plain_part_03
    return all(plain_part(part) for part in parts)


def _plain_part_10(part: object) -> bool:
    if type(part) is not dict or not part.keys() <= _PART_10:
        return False
    content = part.keys() & _CONTENT_10
    if len(content) != 1:
        return False
    (kind,) = content
    value = part[kind]
    if kind == "data":
        if value is None or not _plain_json(value, PLAIN_DEPTH):
            return False
    elif type(value) is not str:
        return False
    return (
        _optional_str(part.get("filename"))
        and _optional_str(part.get("mediaType"))
        and _optional_struct(part.get("metadata"))
    )


def _plain_part_03(part: object) -> bool:
    if type(part) is not dict:
        return False
    kind = part.get("kind")
    allowed = _PART_03.get(kind) if type(kind) is str else None
    if allowed is None or not part.keys() <= allowed:
        return False
    metadata = part.get("metadata")
    if kind == "text":
        return type(part.get("text")) is str and _optional_struct(metadata)
    if metadata is not None and (type(metadata) is not dict or _DATA_PART_COMPAT in metadata):
        return False
    data = part.get("data")
    return type(data) is dict and _plain_json(data, PLAIN_DEPTH) and _optional_struct(metadata)


def _plain_configuration(configuration: object, version: str) -> bool:
    if type(configuration) is not dict or not configuration.keys() <= _CONFIGURATION[version]:
        return False
    flag = configuration.get(_FLAG[version])
    if flag is not None and type(flag) is not bool:
        return False
    history = configuration.get("historyLength")
    if history is not None and (type(history) is not int or not -_INT32 <= history < _INT32):
        return False
    return _optional_strings(configuration.get("acceptedOutputModes"))


def _plain_id(value: object) -> bool:
    return type(value) is str or (type(value) is int and -_EXACT_INT <= value <= _EXACT_INT)


def _optional_str(value: object) -> bool:
    return value is None or type(value) is str


def _optional_strings(value: object) -> bool:
    return value is None or (type(value) is list and all(type(item) is str for item in value))


def _optional_struct(value: object) -> bool:
    return value is None or (type(value) is dict and _plain_json(value, PLAIN_DEPTH))


def _plain_json(value: object, depth: int) -> bool:
    """JSON a protobuf `Value` holds as it is: str keys, numbers exact as doubles, `depth` levels."""
    if type(value) is str or type(value) is bool or value is None:
        return True
    if type(value) is int:
        return -_EXACT_INT <= value <= _EXACT_INT
    if type(value) is float:
        return math.isfinite(value)
    if depth <= 0:
        return False
    if type(value) is dict:
        return all(type(key) is str and _plain_json(item, depth - 1) for key, item in value.items())
    if type(value) is list:
        return all(_plain_json(item, depth - 1) for item in value)
    return False
