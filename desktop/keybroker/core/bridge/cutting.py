# SPDX-License-Identifier: Apache-2.0
"""Literal values the bridge released are cut out of every string going back (a second layer after
masking.py), in case an agent quotes one in text, data, raw bytes, a metadata key or an error message.

handler.py says which values. Each value is cut in the forms an agent echoing it would likely use
(forms.py: JSON-escaped, percent-encoded, base64 after any prefix, hex; in any case), inside raw bytes
(`Part.raw`, which JSON shows in base64), in the keys of metadata and data, and across the pieces a
client joins (pieces.py: the text parts of a message or artifact, data parts between them included;
the messages and artifacts of a task). `clean_proto` masks (masking.py) and cuts in one walk over a
message (the handler's path). Building the forms costs more than cutting them: callers that cut often
pass a `Cut` made once (`forms.cut_list`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor  # type: ignore[import-untyped]
from google.protobuf.message import Message as ProtoMessage  # type: ignore[import-untyped]
from google.protobuf.struct_pb2 import Struct, Value  # type: ignore[import-untyped]

from keybroker.core.bridge.forms import MIN_SCRUB_LENGTH, Cut, cut_list, fold, held_tail
from keybroker.core.bridge.masking import mask_proto, mask_struct, mask_value
from keybroker.core.bridge.pieces import cut_across, cut_joins, part_pieces, task_joins
from keybroker.core.bridge.proto_walk import MAX_DEPTH, Visitor, is_repeated, walk
from keybroker.core.models import MASK

__all__ = ["clean_proto", "scrub_proto", "scrub_quoted", "scrub_text"]


#: A2A's Task and ListTasks answer, by protobuf name (a2a-sdk is not imported here).
_TASK, _TASK_LIST = "lf.a2a.v1.Task", "lf.a2a.v1.ListTasksResponse"


def _scrubbable(values: Collection[str]) -> Cut:
    return values if isinstance(values, Cut) else cut_list(values)


def _cut(text: str, values: Cut) -> str:
    """`text` with every text of `values` (folded forms) masked, matched case-insensitively."""
    folded = fold(text)
    if not values.occurs_in(folded):
        return text
    out: list[str] = []
    pos = 0
    for start, end in values.spans(folded):
        out.append(text[pos:start])
        out.append(MASK)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _cut_bytes(data: bytes, values: Cut) -> bytes:
    """`data` (read as UTF-8, other bytes kept as they are) with every value masked."""
    text = data.decode("utf-8", "surrogateescape")
    new = _cut(text, values)
    return data if new is text else new.encode("utf-8", "surrogateescape")


def _cut_keys(struct: Struct, values: Cut) -> bool:
    """Rename every key of `struct` holding a value (an agent may echo one as a JSON key)."""
    renamed = [(key, _cut(key, values)) for key in struct.fields]
    renamed = [(old, new) for old, new in renamed if new != old]
    for old, new in renamed:
        target, n = new, 1
        while target in struct.fields:  # two keys cut to the same text: keep both
            n += 1
            target = f"{new}#{n}"
        struct.fields[target].CopyFrom(struct.fields[old])
        del struct.fields[old]
    return bool(renamed)


def _cut_parts(parts: Sequence[Any], values: Cut) -> bool:
    """What spans the text (and raw) parts of one message or artifact, data parts between included."""
    return cut_across(part_pieces(parts), values)


def _cut_payload_joins(message: ProtoMessage, values: Cut) -> bool:
    """What spans the messages and artifacts of a task (pieces.task_joins), in a task or a task list."""
    name = message.DESCRIPTOR.full_name
    if name == _TASK:
        tasks = [message]
    elif name == _TASK_LIST:
        tasks = list(message.tasks)
    else:
        return False
    return any([cut_joins(task_joins(task), values) for task in tasks])


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


def _scrub_value(value: Value, values: Cut, depth: int) -> bool:
    if depth > MAX_DEPTH:
        return False
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        new = _cut(value.string_value, values)
        if new != value.string_value:
            value.string_value = new
            return True
        return False
    if kind == "struct_value":
        return _scrub_struct(value.struct_value, values, depth)
    if kind == "list_value":
        return any([_scrub_value(v, values, depth + 1) for v in value.list_value.values])
    return False


def _scrub_struct(struct: Struct, values: Cut, depth: int) -> bool:
    renamed = _cut_keys(struct, values)
    return any([_scrub_value(v, values, depth + 1) for v in struct.fields.values()]) or renamed


class _Scrubber(Visitor):
    def __init__(self, cut: Cut) -> None:
        self.cut = cut

    def parts(self, parts: Sequence[Any]) -> bool:
        return _cut_parts(parts, self.cut)

    def struct(self, struct: Struct, depth: int) -> bool:
        return _scrub_struct(struct, self.cut, depth)

    def value(self, value: Value, depth: int) -> bool:
        return _scrub_value(value, self.cut, depth)

    def raw(self, owner: ProtoMessage, field: FieldDescriptor, value: Any) -> bool:
        if is_repeated(field):
            changed = False
            for i, item in enumerate(value):
                new = _cut_bytes(item, self.cut)
                if new is not item:
                    value[i] = new
                    changed = True
            return changed
        new = _cut_bytes(value, self.cut)
        if new is value:
            return False
        setattr(owner, field.name, new)
        return True

    def text(self, owner: ProtoMessage, field: FieldDescriptor, value: Any) -> bool:
        if is_repeated(field):
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
    changed = walk(message, 0, _Scrubber(cut), texts=True)
    return _cut_payload_joins(message, cut) or changed


class _Cleaner(_Scrubber):
    """`mask_proto` then `scrub_proto` at each place, in one walk over the message tree."""

    def struct(self, struct: Struct, depth: int) -> bool:
        masked = mask_struct(struct, depth)
        return _scrub_struct(struct, self.cut, depth) or masked

    def value(self, value: Value, depth: int) -> bool:
        masked = mask_value(value, depth)
        return _scrub_value(value, self.cut, depth) or masked


def clean_proto(message: ProtoMessage, values: Collection[str] = ()) -> bool:
    """`mask_proto(message)` and `scrub_proto(message, values)`, in one walk. True when anything changed.

    Every `secret_fulfillments` value is masked whatever `values` holds (the mask is structural).
    """
    cut = _scrubbable(values)
    if not cut:
        return mask_proto(message)
    changed = walk(message, 0, _Cleaner(cut), texts=True)
    return _cut_payload_joins(message, cut) or changed
