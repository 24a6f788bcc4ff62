# SPDX-License-Identifier: Apache-2.0
"""Typed reads from parsed JSON that name the field at fault (`card.capabilities.streaming: ...`).

The card, demand and scheme parsers walk untrusted JSON. Each read here checks one type and, on a
mismatch, raises `FieldError` whose message is `<path>: <problem>`. The parsers turn it into the
error class of their edge (`InvalidCardError`, `InvalidDemandError`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
#: How much of an untrusted key an error message shows.
_SHOWN_KEY_CHARS = 40
#: Characters that are not control characters in Unicode terms but still steer how text is laid out.
_LAYOUT_CHARS = frozenset("\u2028\u2029")


class FieldError(ValueError):
    """A JSON field has the wrong type or value; `str()` is `<path>: <problem>`."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def shown(text: str) -> str:
    """A short, escaped form of untrusted text for messages (quoted, ASCII, at most ~40 chars)."""
    cut = text if len(text) <= _SHOWN_KEY_CHARS else text[:_SHOWN_KEY_CHARS] + "..."
    return json.dumps(cut, ensure_ascii=True)


def member(where: str, name: str) -> str:
    """The path of member `name` under `where`: `a.b` for identifiers, `a["odd key"]` otherwise."""
    if _IDENTIFIER.fullmatch(name) and len(name) <= _SHOWN_KEY_CHARS:
        return f"{where}.{name}"
    return f"{where}[{shown(name)}]"


def index(where: str, i: int) -> str:
    """The path of item `i` under `where`."""
    return f"{where}[{i}]"


def type_name(value: object) -> str:
    """How a JSON value's type reads in a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def as_mapping(value: object, where: str) -> Mapping[str, Any]:
    """`value` as a JSON object."""
    if not isinstance(value, Mapping):
        raise FieldError(where, f"expected an object, got {type_name(value)}")
    return value


def as_list(value: object, where: str) -> Sequence[Any]:
    """`value` as a JSON list."""
    if not isinstance(value, list | tuple):
        raise FieldError(where, f"expected a list, got {type_name(value)}")
    return value


def as_str(value: object, where: str) -> str:
    """`value` as a string."""
    if not isinstance(value, str):
        raise FieldError(where, f"expected a string, got {type_name(value)}")
    return value


def opt_str(value: object, where: str) -> str | None:
    """`value` as a string, or None when it is null or absent (pass `mapping.get(...)`)."""
    return None if value is None else as_str(value, where)


def opt_bool(value: object, where: str, *, default: bool = False) -> bool:
    """`value` as a boolean, or `default` when it is null or absent."""
    if value is None:
        return default
    if not isinstance(value, bool):
        raise FieldError(where, f"expected a boolean, got {type_name(value)}")
    return value


def opt_mapping(value: object, where: str) -> Mapping[str, Any]:
    """`value` as a JSON object; null or absent reads as an empty one."""
    return {} if value is None else as_mapping(value, where)


def opt_list(value: object, where: str) -> Sequence[Any]:
    """`value` as a JSON list; null or absent reads as an empty one."""
    return () if value is None else as_list(value, where)


def control_character(text: str, *, allow: str = "") -> str | None:
    """The first control character in `text` (Unicode Cc, Cf, Cs, line/paragraph separators), if any.

    Cf covers bidi overrides and zero-width characters, which can make a label read as something
    else in a prompt; `allow` lists characters to let through (e.g. newlines in a description).
    """
    for ch in text:
        if ch in allow:
            continue
        if ch in _LAYOUT_CHARS or unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            return ch
    return None
