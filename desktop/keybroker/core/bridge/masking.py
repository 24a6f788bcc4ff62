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

`scrub_proto` / `scrub_text` are a second layer: literal values the bridge released (handler.py
says which) are cut out of every string going back, in case an agent quotes one in text, data or an
error message. Each value is cut in the forms an agent echoing it would likely use (forms.py:
JSON-escaped, percent-encoded, base64, hex), and across the boundary of consecutive text parts of
one message or artifact (a value split over two parts reads whole to a client joining them).
`clean_proto` does both in one walk over a message (the handler's path). Building the forms costs
more than cutting them: callers that cut often pass a `Cut` made once (`cut_list`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor  # type: ignore[import-untyped]
from google.protobuf.message import Message as ProtoMessage  # type: ignore[import-untyped]
from google.protobuf.struct_pb2 import ListValue, Struct, Value  # type: ignore[import-untyped]

from keybroker.core.bridge.forms import MIN_SCRUB_LENGTH, Cut, cut_list, held_tail, merge_cuts, scrub_forms
from keybroker.core.models import MASK

__all__ = [
    "FULFILMENT_KEYS",
    "MASK",
    "MIN_SCRUB_LENGTH",
    "Cut",
    "clean_proto",
    "cut_list",
    "mask_payload",
    "mask_proto",
    "merge_cuts",
    "scrub_forms",
    "scrub_proto",
    "scrub_quoted",
    "scrub_text",
]

#: The member holding fulfilled values (Agent Stack's snake_case; the camelCase twin just in case a
#: converter renamed it).
FULFILMENT_KEYS = frozenset({"secret_fulfillments", "secretFulfillments"})
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
_TEXT, _SKIP, _MAP, _REPEATED, _SINGLE, _PARTS = range(6)
_FIELD_KINDS: dict[FieldDescriptor, int] = {}
#: A2A's `Part`: a value split over consecutive text parts of one message or artifact is cut whole.
_PART_TYPE = "lf.a2a.v1.Part"


def _field_kind(field: FieldDescriptor) -> int:
    kind = _FIELD_KINDS.get(field)
    if kind is None:
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            kind = _TEXT if field.type == FieldDescriptor.TYPE_STRING else _SKIP
        elif field.message_type.GetOptions().map_entry:
            holds_messages = field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE
            kind = _MAP if holds_messages else _SKIP
        elif not _is_repeated(field):
            kind = _SINGLE
        else:
            kind = _PARTS if field.message_type.full_name == _PART_TYPE else _REPEATED
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

    def parts(self, parts: Sequence[Any]) -> bool:
        """After each part was walked: what spans consecutive text parts."""
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
        elif kind in (_REPEATED, _PARTS):
            for item in value:
                changed |= _walk(item, depth + 1, visitor, texts=texts)
            if kind == _PARTS and texts and len(value) > 1:
                changed |= visitor.parts(value)
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


def _scrubbable(values: Collection[str]) -> Cut:
    return values if isinstance(values, Cut) else cut_list(values)


def _cut(text: str, values: Sequence[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def _spans(text: str, values: Sequence[str]) -> list[tuple[int, int]]:
    """Where `values` occur in `text`, longest first, without overlaps; sorted."""
    found: list[tuple[int, int]] = []
    for value in values:
        start = text.find(value)
        while start != -1:
            end = start + len(value)
            if all(end <= s or start >= e for s, e in found):
                found.append((start, end))
            start = text.find(value, start + 1)
    return sorted(found)


def _cut_across(texts: list[str], values: Sequence[str]) -> list[str] | None:
    """`texts` (consecutive parts, each cut already) with what spans their boundaries cut; None: nothing.

    The part where a value starts gets the MASK, the parts it runs on into lose their share of it, so
    the parts keep their number and order and their joined text reads as if it was cut whole.
    """
    joined = "".join(texts)
    if not any(value in joined for value in values):
        return None
    spans = _spans(joined, values)
    result: list[str] = []
    start = 0
    for text in texts:
        end = start + len(text)
        pieces: list[str] = []
        pos = start
        for s, e in spans:
            if e <= pos or s >= end:
                continue
            if s > pos:
                pieces.append(joined[pos:s])
            if s >= start:
                pieces.append(MASK)
            pos = min(e, end)
        if pos < end:
            pieces.append(joined[pos:end])
        result.append("".join(pieces))
        start = end
    return result


def _cut_parts(parts: Sequence[Any], values: Sequence[str]) -> bool:
    changed = False
    run: list[Any] = []
    for part in [*parts, None]:
        if part is not None and part.WhichOneof("content") == "text":
            run.append(part)
            continue
        if len(run) > 1:
            new = _cut_across([p.text for p in run], values)
            if new is not None:
                for item, text in zip(run, new, strict=True):
                    if item.text != text:
                        item.text = text
                        changed = True
        run = []
    return changed


def scrub_text(text: str, values: Collection[str]) -> str:
    """`text` with every occurrence of each value (of at least MIN_SCRUB_LENGTH characters), in each
    of its forms (`scrub_forms`), masked. `values` may be a `Cut` (forms made already)."""
    return _cut(text, _scrubbable(values))


#: A JSON string literal, as error messages quote untrusted text (json_field.shown).
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
#: How `json_field.shown` marks text it cut short.
_TRUNCATED = "..."


def _scrub_literal(match: re.Match[str], cut: Cut) -> str:
    try:
        text = json.loads(match.group())
    except ValueError:
        return match.group()
    if not isinstance(text, str):
        return match.group()
    truncated = text.endswith(_TRUNCATED)
    body = _cut(text[: -len(_TRUNCATED)] if truncated else text, cut)
    if truncated:
        start = held_tail(body, cut)  # the quote ends where it was cut short: maybe inside a value
        if start >= MIN_SCRUB_LENGTH:
            body = body[:-start] + MASK
        body += _TRUNCATED
    return match.group() if body == text else json.dumps(body)


def scrub_quoted(text: str, values: Collection[str]) -> str:
    """`scrub_text`, and in each JSON string quoted in `text`, a value's start where the quote was
    cut short ("<40 characters>..."): an error quoting an agent's bad key can hold most of a value."""
    cut = _scrubbable(values)
    return _QUOTED.sub(lambda m: _scrub_literal(m, cut), _cut(text, cut))


def _scrub_value(value: Value, values: Sequence[str], depth: int) -> bool:
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
    def __init__(self, cut: Sequence[str]) -> None:
        self.cut = cut

    def parts(self, parts: Sequence[Any]) -> bool:
        return _cut_parts(parts, self.cut)

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
    """Cut each literal value (in each form) out of every string inside `message`, in place, also
    where it spans consecutive text parts. True when one was cut. `values` may be a `Cut`."""
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
