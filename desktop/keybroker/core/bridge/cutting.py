# SPDX-License-Identifier: Apache-2.0
"""Literal values the bridge released are cut out of every string going back (a second layer after
masking.py), in case an agent quotes one in text, data or an error message.

handler.py says which values. Each value is cut in the forms an agent echoing it would likely use
(forms.py: JSON-escaped, percent-encoded, base64, hex), and across the boundary of consecutive text parts
of one message or artifact (a value split over two parts reads whole to a client joining them).
`clean_proto` masks (masking.py) and cuts in one walk over a message (the handler's path). Building the
forms costs more than cutting them: callers that cut often pass a `Cut` made once (`forms.cut_list`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor  # type: ignore[import-untyped]
from google.protobuf.message import Message as ProtoMessage  # type: ignore[import-untyped]
from google.protobuf.struct_pb2 import Struct, Value  # type: ignore[import-untyped]

from keybroker.core.bridge.forms import MIN_SCRUB_LENGTH, Cut, cut_list, held_tail
from keybroker.core.bridge.masking import mask_proto, mask_struct, mask_value
from keybroker.core.bridge.proto_walk import MAX_DEPTH, Visitor, is_repeated, walk
from keybroker.core.models import MASK

__all__ = ["clean_proto", "scrub_proto", "scrub_quoted", "scrub_text"]


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
        return any([_scrub_value(v, values, depth + 1) for v in value.struct_value.fields.values()])
    if kind == "list_value":
        return any([_scrub_value(v, values, depth + 1) for v in value.list_value.values])
    return False


class _Scrubber(Visitor):
    def __init__(self, cut: Sequence[str]) -> None:
        self.cut = cut

    def parts(self, parts: Sequence[Any]) -> bool:
        return _cut_parts(parts, self.cut)

    def value(self, value: Value, depth: int) -> bool:
        return _scrub_value(value, self.cut, depth)

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
    return walk(message, 0, _Scrubber(cut), texts=True)


class _Cleaner(_Scrubber):
    """`mask_proto` then `scrub_proto` at each place, in one walk over the message tree."""

    def struct(self, struct: Struct, depth: int) -> bool:
        masked = mask_struct(struct, depth)
        return any([_scrub_value(v, self.cut, depth + 1) for v in struct.fields.values()]) or masked

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
    return walk(message, 0, _Cleaner(cut), texts=True)
