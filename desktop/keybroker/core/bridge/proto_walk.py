# SPDX-License-Identifier: Apache-2.0
"""One walk over an a2a-sdk protobuf message, for masking.py and cutting.py.

`walk` visits every set field of a message tree (message, status message, history, artifacts, parts) and
hands each `google.protobuf.Struct`/`Value`, and optionally each string and bytes field and each list of
A2A `Part`s, to a `Visitor`; it returns True when the visitor changed anything. How a field is treated
is worked out once per field descriptor. Nesting deeper than `MAX_DEPTH` is not followed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor  # type: ignore[import-untyped]
from google.protobuf.message import Message as ProtoMessage  # type: ignore[import-untyped]
from google.protobuf.struct_pb2 import ListValue, Struct, Value  # type: ignore[import-untyped]

#: The deepest nesting a walk (or masking JSON-like data) follows.
MAX_DEPTH = 64


def is_repeated(field: FieldDescriptor) -> bool:
    """Whether `field` is a repeated one (a list)."""
    return bool(field.is_repeated)


# How `walk` treats a set field, worked out once per field descriptor (descriptors are immutable).
_TEXT, _SKIP, _MAP, _REPEATED, _SINGLE, _PARTS, _BYTES = range(7)
_FIELD_KINDS: dict[FieldDescriptor, int] = {}
_SCALAR_KINDS = {FieldDescriptor.TYPE_STRING: _TEXT, FieldDescriptor.TYPE_BYTES: _BYTES}
#: A2A's `Part`: a value split over the text parts of one message or artifact is cut whole.
_PART_TYPE = "lf.a2a.v1.Part"


def _field_kind(field: FieldDescriptor) -> int:
    kind = _FIELD_KINDS.get(field)
    if kind is None:
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            kind = _SCALAR_KINDS.get(field.type, _SKIP)
        elif field.message_type.GetOptions().map_entry:
            holds_messages = field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE
            kind = _MAP if holds_messages else _SKIP
        elif not is_repeated(field):
            kind = _SINGLE
        else:
            kind = _PARTS if field.message_type.full_name == _PART_TYPE else _REPEATED
        _FIELD_KINDS[field] = kind
    return kind


class Visitor:
    """What a walk does at a Struct, a Value and (optionally) a string field."""

    def struct(self, struct: Struct, depth: int) -> bool:
        return any([self.value(v, depth + 1) for v in struct.fields.values()])

    def value(self, value: Value, depth: int) -> bool:
        raise NotImplementedError

    def text(self, owner: ProtoMessage, field: FieldDescriptor, value: Any) -> bool:
        return False

    def raw(self, owner: ProtoMessage, field: FieldDescriptor, value: Any) -> bool:
        """A bytes field (`Part.raw`), walked with the string fields."""
        return False

    def parts(self, parts: Sequence[Any]) -> bool:
        """After each part was walked: what spans the text parts of the list."""
        return False


def walk(message: ProtoMessage, depth: int, visitor: Visitor, *, texts: bool) -> bool:
    """Visit `message` (at `depth`); `texts`: string and bytes fields and part lists too. True: changed."""
    if depth > MAX_DEPTH:
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
            changed |= walk(value, depth + 1, visitor, texts=texts)
        elif kind in (_REPEATED, _PARTS):
            for item in value:
                changed |= walk(item, depth + 1, visitor, texts=texts)
            if kind == _PARTS and texts and len(value) > 1:
                changed |= visitor.parts(value)
        elif kind == _MAP:
            for item in value.values():
                changed |= walk(item, depth + 1, visitor, texts=texts)
        elif kind == _TEXT and texts:
            changed |= visitor.text(message, field, value)
        elif kind == _BYTES and texts:
            changed |= visitor.raw(message, field, value)
    return changed
