# SPDX-License-Identifier: Apache-2.0
"""What an agent's raw JSON answer shows at the byte level, so json_cut.py walks it only when it must.

`clean_json` (json_cut.py) masks every fulfilment, cuts every released text (in its forms) from every
string and key, cuts raw parts as decoded text, and cuts what spans the text parts a client joins.
`shortcut` masks first (`mask_payload`, which `walk_json` runs first too), then looks at a spelling of
the masked answer with C-level searches. When that spelling proves the walk would change nothing more,
it gives `walk_json`'s result without it; otherwise it says None (maybe) and the walk runs. A maybe
is always safe; each step below says why a "nothing more" is exact:

0. Masking: JSON can spell a character other than itself only as `\\uXXXX` (or `/` as `\\/`): without
   `\\u` in `source`, a fulfilment key stands in it as `"secret_fulfillments"` (or a twin's name);
   when no such name does, `mask_payload` would return `data` itself and is not run.
1. The spelling escapes only the characters JSON forces (`"`, `\\`, U+0000-U+001F), each with an escape
   that starts with a backslash; every other character stands as itself: `source` when masking
   changed nothing and it holds no `\\u` or `\\/`, else orjson's spelling of the masked answer (orjson
   escapes exactly those characters). So a text holding none of them stands in the spelling wherever
   it stands in a string or a key; and no string holds one of them when the spelling has no backslash.
   A cut holding a text with one of them (`Cut.json_escaped`) makes any backslash a maybe.
2. `fold` (forms.py) is one fixed map per character, whatever stands around it, so the folded text of
   every string and key, piece by piece, stands in the folded spelling. No text of the cut in it: none
   in any string or key (MASKs included), so neither of the walk's passes cuts one.
3. No `"raw"` or `"bytes"` in the spelling (a key stands in it as itself, by 1): no raw part or file
   bytes to read as text.
4. A value split across the pieces a client joins (text parts, one after another; no raw ones, by 3)
   starts in a piece whose folded text ends in a proper start of a text of the cut. Every text part is
   the string value of a `"text"` member, which `_TEXT_VALUE` finds in the spelling (by 1; it may find
   more, never fewer: a match starts at a `"text"` key's quote or inside a string and takes the value
   string that follows it whole, so it cannot swallow a member). When no such value's spelling ends in
   such a start, `cut_across` finds nothing in any join: a start without escaped characters (by 1) that
   ends a part's text ends its spelling too.
5. Nesting: every value deeper than MAX_DEPTH is masked (and the walk masks containers that deep); such
   a value sits in more than MAX_DEPTH containers, each opened by a bracket outside any string: when
   `source` never has more of them open at once, none is, and masking (which keeps shapes) adds none.
`source` must be the very bytes `data` was parsed from (by orjson, which takes valid UTF-8 only).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from keybroker.core.bridge.forms import Cut, fold, held_tail
from keybroker.core.bridge.masking import FULFILMENT_KEYS, mask_payload
from keybroker.core.bridge.proto_walk import MAX_DEPTH

__all__ = ["shortcut"]

#: Escapes that spell a character other than one JSON forces (step 0 and 1).
_OTHER_ESCAPES = (b"\\u", b"\\/")
_NAMES = tuple(f'"{name}"'.encode() for name in sorted(FULFILMENT_KEYS))
_RAW_KEYS = (b'"raw"', b'"bytes"')
#: A JSON string, escapes included (valid JSON only: orjson parsed `source` already).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
#: The string value of a `"text"` member (group 1: its spelling).
_TEXT_VALUE = re.compile(rb'"text"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"')
_OPEN = frozenset(b"[{")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
#: Up to this many texts, searching each one in the whole answer (C-level) beats `Cut.occurs_in`'s index.
_SEARCH_EACH = 64
#: The most bytes a character of a string takes in the spelling (UTF-8; an escape takes 2, by step 1).
_CHAR_BYTES = 4


def _too_deep(source: bytes) -> bool:
    """Whether more than MAX_DEPTH containers may be open at once in `source` (step 5)."""
    if source.count(b"{") + source.count(b"[") <= MAX_DEPTH:
        return False  # every bracket, in strings too, counted: no more can be open at once
    depth = 0
    for byte in _STRING.sub(b"", source).translate(None, _NOT_BRACKETS):
        depth += 1 if byte in _OPEN else -1
        if depth > MAX_DEPTH:
            return True
    return False


def _spelling(source: bytes, masked: Any, changed: bool) -> bytes | None:
    """`masked` spelled escaping only what JSON forces (step 1); None when orjson cannot spell it."""
    if not changed and not any(escape in source for escape in _OTHER_ESCAPES):
        return source
    try:
        return orjson.dumps(masked)
    except orjson.JSONEncodeError:
        return None


def _occurs(cut: Cut, folded: str) -> bool:
    if len(cut) <= _SEARCH_EACH:
        return any(text in folded for text in cut)
    return cut.occurs_in(folded)


def _text_may_hold(spelling: bytes, cut: Cut) -> bool:
    """Whether a string, key, raw part or join of the answer may hold a text of `cut` (steps 1-4)."""
    if any(key in spelling for key in _RAW_KEYS):
        return True
    if b"\\" in spelling and cut.json_escaped():
        return True
    if _occurs(cut, fold(spelling.decode("utf-8", "surrogateescape"))):
        return True
    tail = _CHAR_BYTES * len(cut[0])  # cut[0] is the longest text: a proper start is shorter
    for match in _TEXT_VALUE.finditer(spelling):
        spelled = match.group(1)
        if spelled and held_tail(spelled[-tail:].decode("utf-8", "surrogateescape"), cut):
            return True
    return False


def shortcut(source: bytes, data: Any, cut: Cut) -> tuple[Any, bool] | None:
    """`clean_json(data, cut)` when the bytes `data` was parsed from prove what it is (module docstring),
    else None. Masks (`mask_payload`) only when a fulfilment key may be spelled in `source`."""
    if _too_deep(source):
        return None
    masked = data
    if b"\\u" in source or any(name in source for name in _NAMES):
        masked = mask_payload(data)
    changed = masked is not data
    if not cut:
        return masked, changed
    spelling = _spelling(source, masked, changed)
    if spelling is None or _text_may_hold(spelling, cut):
        return None
    return masked, changed
