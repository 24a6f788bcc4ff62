# SPDX-License-Identifier: Apache-2.0
"""No secret value reaches a bridge client (PROTOCOL.md pitfall 17, INTERFACES "Bridge").

Agents echo the user's message, metadata included, in task history: `message/send` results, stream
events, `tasks/get`. So every `secret_fulfillments` object in every payload handed back is masked:
each leaf below it (the `{"secret": value}` of each key, or whatever junk stands there) becomes
`"**********"`, while the demand keys and the shape stay, so a client still sees *which* keys were
fulfilled. The rule is structural and stateless: a pure function of the payload, so it holds for
tasks created before a restart too.

Two shapes are covered: JSON-like data (`mask_payload`, pure, copy-on-write) and a2a-sdk protobuf
messages (`mask_proto`, in place on a message the bridge owns), where metadata is a
`google.protobuf.Struct` at any depth (message, status message, history, artifacts, parts).

Cutting the literal values the bridge released out of what goes back is the second layer: cutting.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.message import Message as ProtoMessage  # type: ignore[import-untyped]
from google.protobuf.struct_pb2 import Struct, Value  # type: ignore[import-untyped]

from keybroker.core.bridge.proto_walk import MAX_DEPTH, Visitor, walk
from keybroker.core.models import MASK

__all__ = ["FULFILMENT_KEYS", "MASK", "mask_payload", "mask_proto", "mask_struct", "mask_value"]

#: The members holding fulfilled values (Agent Stack's snake_case; the camelCase twin just in case a
#: converter renamed it), and those of the OAuth extension (PROTOCOL §2.2): the callback the agent
#: was given, and the redirect (with the code) it got back. The authorization URL is not among them:
#: a client that fulfils the extension itself needs it to sign in; when the bridge signs in, it cuts
#: that URL as a value it released (oauth_flow.py).
FULFILMENT_KEYS = frozenset(
    {
        "secret_fulfillments",
        "secretFulfillments",
        "oauth_fulfillments",
        "oauthFulfillments",
        "redirect_uri",
        "redirectUri",
    }
)


# JSON-like data ----------------------------------------------------------------------------------


def _masked_leaves(value: object, depth: int) -> object:
    """`value` with every leaf but null replaced by MASK (dicts and lists keep their shape)."""
    if depth > MAX_DEPTH:
        return MASK
    kind = type(value)
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        return {k: _masked_leaves(v, depth + 1) for k, v in value.items()}  # type: ignore[attr-defined]
    if kind is list or isinstance(value, list | tuple):
        return [_masked_leaves(v, depth + 1) for v in value]  # type: ignore[attr-defined]
    if value is None:
        return None
    return MASK


#: Values `_mask` returns as they are (up to MAX_DEPTH): the walk makes no call for each of them.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _mask(data: object, depth: int) -> object:
    """`data` with its fulfilments masked. What JSON parsers give (dicts, lists, scalars) is told by its
    exact type; only other types pay for `isinstance` against the `Mapping` ABC."""
    if depth > MAX_DEPTH:
        return MASK  # refuse to walk absurd nesting rather than let anything through
    kind = type(data)
    if kind is dict:
        return _mask_mapping(data, depth)  # type: ignore[arg-type]
    if kind is list:
        return _mask_items(data, depth)  # type: ignore[arg-type]
    if kind in _SCALARS:
        return data
    if isinstance(data, Mapping):
        return _mask_mapping(data, depth)
    if isinstance(data, list | tuple):
        return _mask_items(data, depth)
    return data


def _mask_mapping(data: Mapping[Any, object], depth: int) -> object:
    changed: dict[Any, object] | None = None
    deep = depth + 1 > MAX_DEPTH
    for key, value in data.items():
        if key in FULFILMENT_KEYS:
            new = _masked_leaves(value, depth + 1)
        elif type(value) in _SCALARS and not deep:
            continue  # `_mask(value, depth + 1)` is `value`
        else:
            new = _mask(value, depth + 1)
        if new is not value:
            if changed is None:
                changed = dict(data)
            changed[key] = new
    return data if changed is None else changed


def _mask_items(data: list[object] | tuple[object, ...], depth: int) -> object:
    if depth + 1 <= MAX_DEPTH and all(type(v) in _SCALARS for v in data):
        return data  # `_mask` of each is itself
    items = [_mask(v, depth + 1) for v in data]
    if all(new is old for new, old in zip(items, data, strict=True)):
        return data
    return items


def mask_payload(data: object) -> object:
    """`data` with every `secret_fulfillments` value masked; the same object when nothing changed.

    Works on anything `json.loads` returns (non-dict junk passes through untouched). Never mutates
    its argument.
    """
    return _mask(data, 0)


# Protobuf messages -------------------------------------------------------------------------------


def _mask_value_leaves(value: Value, depth: int) -> bool:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return any([_mask_value_leaves(v, depth + 1) for v in value.struct_value.fields.values()])
    if kind == "list_value":
        return any([_mask_value_leaves(v, depth + 1) for v in value.list_value.values])
    if kind is None or kind == "null_value":
        return False
    if kind == "string_value" and value.string_value == MASK:
        return False
    value.string_value = MASK
    return True


def mask_struct(struct: Struct, depth: int) -> bool:
    """Mask the fulfilments inside `struct` (at `depth`), in place. True when one was masked."""
    changed = False
    for key, value in struct.fields.items():
        if key in FULFILMENT_KEYS:
            changed |= _mask_value_leaves(value, depth + 1)
        else:
            changed |= mask_value(value, depth + 1)
    return changed


def mask_value(value: Value, depth: int) -> bool:
    """Mask the fulfilments inside `value` (at `depth`), in place. True when one was masked."""
    if depth > MAX_DEPTH:
        return False
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return mask_struct(value.struct_value, depth + 1)
    if kind == "list_value":
        return any([mask_value(v, depth + 1) for v in value.list_value.values])
    return False


class _Masker(Visitor):
    """Masks at each Struct and Value; leaves strings alone."""

    def struct(self, struct: Struct, depth: int) -> bool:
        return mask_struct(struct, depth)

    def value(self, value: Value, depth: int) -> bool:
        return mask_value(value, depth)


_MASKER = _Masker()


def mask_proto(message: ProtoMessage) -> bool:
    """Mask every `secret_fulfillments` value inside `message`, in place. True when one was masked."""
    return walk(message, 0, _MASKER, texts=False)
