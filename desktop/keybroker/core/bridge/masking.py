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

`scrub_proto` / `scrub_text` are a second, request-scoped layer: the literal values the bridge
itself injected into a run are cut out of every string going back, in case an agent quotes one in
text or an error message. `clean_proto` does both in one walk over a message (the handler's path).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from google.protobuf.descriptor import FieldDescriptor  # type: ignore[import-untyped]
from google.protobuf.message import Message as ProtoMessage  # type: ignore[import-untyped]
from google.protobuf.struct_pb2 import ListValue, Struct, Value  # type: ignore[import-untyped]

from keybroker.core.models import MASK

__all__ = [
    "FULFILMENT_KEYS",
    "MASK",
    "MIN_SCRUB_LENGTH",
    "clean_proto",
    "mask_payload",
    "mask_proto",
    "scrub_proto",
    "scrub_text",
]

#: The member holding fulfilled values (Agent Stack's snake_case; the camelCase twin just in case a
#: converter renamed it).
FULFILMENT_KEYS = frozenset({"secret_fulfillments", "secretFulfillments"})
#: Values shorter than this are not scrubbed from free text: cutting every "a" would wreck replies,
#: and the structural mask already covers where a value is supposed to be.
MIN_SCRUB_LENGTH = 4
_MAX_DEPTH = 64


# JSON-like data ----------------------------------------------------------------------------------


def _masked_leaves(value: object, depth: int) -> object:
    """`value` with every leaf but null replaced by MASK (dicts and lists keep their shape)."""
    if depth > _MAX_DEPTH:
        return MASK
    if isinstance(value, Mapping):
        return {k: _masked_leaves(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked_leaves(v, depth + 1) for v in value]
    if value is None:
        return None
    return MASK


def _mask(data: object, depth: int) -> object:
    if depth > _MAX_DEPTH:
        return MASK  # refuse to walk absurd nesting rather than let anything through
    if isinstance(data, Mapping):
        changed: dict[Any, object] | None = None
        for key, value in data.items():
            new = _masked_leaves(value, depth + 1) if key in FULFILMENT_KEYS else _mask(value, depth + 1)
            if new is not value:
                if changed is None:
                    changed = dict(data)
                changed[key] = new
        return data if changed is None else changed
    if isinstance(data, list | tuple):
        items = [_mask(v, depth + 1) for v in data]
        if all(new is old for new, old in zip(items, data, strict=True)):
            return data
        return items
    return data


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


def _mask_struct(struct: Struct, depth: int) -> bool:
    changed = False
    for key, value in struct.fields.items():
        if key in FULFILMENT_KEYS:
            changed |= _mask_value_leaves(value, depth + 1)
        else:
            changed |= _mask_value(value, depth + 1)
    return changed


def _mask_value(value: Value, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _mask_struct(value.struct_value, depth + 1)
    if kind == "list_value":
        return any([_mask_value(v, depth + 1) for v in value.list_value.values])
    return False


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


# How `_walk` treats a set field, worked out once per field descriptor (descriptors are immutable).
_TEXT, _SKIP, _MAP, _REPEATED, _SINGLE = range(5)
_FIELD_KINDS: dict[FieldDescriptor, int] = {}


def _field_kind(field: FieldDescriptor) -> int:
    kind = _FIELD_KINDS.get(field)
    if kind is None:
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            kind = _TEXT if field.type == FieldDescriptor.TYPE_STRING else _SKIP
        elif field.message_type.GetOptions().map_entry:
            holds_messages = field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE
            kind = _MAP if holds_messages else _SKIP
        else:
            kind = _REPEATED if _is_repeated(field) else _SINGLE
        _FIELD_KINDS[field] = kind
    return kind


class _Visitor:
    """What a walk does at a Struct, a Value and (optionally) a string field."""

    def struct(self, struct: Struct, depth: int) -> bool:
        return any([self.value(v, depth + 1) for v in struct.fields.values()])

    def value(self, value: Value, depth: int) -> bool:
        raise NotImplementedError

    def text(self, owner: ProtoMessage, field: FieldDescriptor, value: Any) -> bool:
        return False


def _walk(message: ProtoMessage, depth: int, visitor: _Visitor, *, texts: bool) -> bool:
    if depth > _MAX_DEPTH:
        return False
    if isinstance(message, Struct):
        return visitor.struct(message, depth)
    if isinstance(message, Value):
        return visitor.value(message, depth)
    if isinstance(message, ListValue):
        return any([visitor.value(v, depth + 1) for v in message.values])
    changed = False
    for field, value in message.ListFields():
        kind = _field_kind(field)
        if kind == _SINGLE:
            changed |= _walk(value, depth + 1, visitor, texts=texts)
        elif kind == _REPEATED:
            for item in value:
                changed |= _walk(item, depth + 1, visitor, texts=texts)
        elif kind == _MAP:
            for item in value.values():
                changed |= _walk(item, depth + 1, visitor, texts=texts)
        elif kind == _TEXT and texts:
            changed |= visitor.text(message, field, value)
    return changed


class _Masker(_Visitor):
    def struct(self, struct: Struct, depth: int) -> bool:
        return _mask_struct(struct, depth)

    def value(self, value: Value, depth: int) -> bool:
        return _mask_value(value, depth)


_MASKER = _Masker()


def mask_proto(message: ProtoMessage) -> bool:
    """Mask every `secret_fulfillments` value inside `message`, in place. True when one was masked."""
    return _walk(message, 0, _MASKER, texts=False)


# Literal values ----------------------------------------------------------------------------------


def _scrubbable(values: Collection[str]) -> list[str]:
    # Longest first, so a value containing another is cut whole.
    return sorted({v for v in values if len(v) >= MIN_SCRUB_LENGTH}, key=len, reverse=True)


def _cut(text: str, values: list[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def scrub_text(text: str, values: Collection[str]) -> str:
    """`text` with every occurrence of each value (of at least MIN_SCRUB_LENGTH characters) masked."""
    return _cut(text, _scrubbable(values))


def _scrub_value(value: Value, values: list[str], depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        new = _cut(value.string_value, values)
        if new != value.string_value:
            value.string_value = new
            return True
        return False
    if kind == "struct_value":
        return any([_scrub_value(v, values, depth + 1) for v in value.struct_value.fields.values()])
    if kind == "list_value":
        return any([_scrub_value(v, values, depth + 1) for v in value.list_value.values])
    return False


class _Scrubber(_Visitor):
    def __init__(self, cut: list[str]) -> None:
        self.cut = cut

    def value(self, value: Value, depth: int) -> bool:
        return _scrub_value(value, self.cut, depth)

    def text(self, owner: ProtoMessage, field: FieldDescriptor, value: Any) -> bool:
        if _is_repeated(field):
            changed = False
            for i, item in enumerate(value):
                new = _cut(item, self.cut)
                if new != item:
                    value[i] = new
                    changed = True
            return changed
        new = _cut(value, self.cut)
        if new != value:
            setattr(owner, field.name, new)
            return True
        return False


def scrub_proto(message: ProtoMessage, values: Collection[str]) -> bool:
    """Cut each literal value out of every string inside `message`, in place. True when one was cut."""
    cut = _scrubbable(values)
    if not cut:
        return False
    return _walk(message, 0, _Scrubber(cut), texts=True)


class _Cleaner(_Scrubber):
    """`mask_proto` then `scrub_proto` at each place, in one walk over the message tree."""

    def struct(self, struct: Struct, depth: int) -> bool:
        masked = _mask_struct(struct, depth)
        return any([_scrub_value(v, self.cut, depth + 1) for v in struct.fields.values()]) or masked

    def value(self, value: Value, depth: int) -> bool:
        masked = _mask_value(value, depth)
        return _scrub_value(value, self.cut, depth) or masked


def clean_proto(message: ProtoMessage, values: Collection[str] = ()) -> bool:
    """`mask_proto(message)` and `scrub_proto(message, values)`, in one walk. True when anything changed.

    Every `secret_fulfillments` value is masked whatever `values` holds (the mask is structural).
    """
    cut = _scrubbable(values)
    if not cut:
        return mask_proto(message)
    return _walk(message, 0, _Cleaner(cut), texts=True)
