# SPDX-License-Identifier: Apache-2.0
"""The field types of the API's request bodies and parameters, each with the rule it states.

Every rule is also in the schema (`/openapi.json`), so a client, or a fuzzer, knows what is valid
before asking. Strings that reach the catalog must be valid Unicode (JSON allows a lone surrogate;
neither SQLite nor a vault stores one), so every text goes through `Text`. Failures state the rule,
never the input: a value pasted into the wrong field must not come back in the error. Where the core
has its own check for a field (an agent's URL), the field runs it first and fails in its words.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr
from pydantic_core import PydanticCustomError

from keybroker.core.agents.registry import SLUG_RE
from keybroker.core.agents.url import EXAMPLE, normalise_agent_url
from keybroker.core.errors import InvalidInputError
from keybroker.core.models import MAX_KEY_LENGTH, MAX_VALUE_BYTES

__all__ = [
    "MAX_URL_LENGTH",
    "NO_CONTROL_CHARACTERS",
    "RULE_ERROR",
    "URL_PATTERN",
    "AgentUrl",
    "Description",
    "Key",
    "Name",
    "SchemeName",
    "Slug",
    "Text",
    "Value",
    "anchored",
]

MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 4096
MAX_URL_LENGTH = 2048


def unicode_text(text: str) -> str:
    """Refuse lone surrogates (JSON allows `"\\ud800"`; neither SQLite nor a vault stores it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return text


Text = Annotated[str, AfterValidator(unicode_text)]


#: INTERFACES.md: keys are 1-128 characters without control characters (C0, DEL, C1).
CONTROL_CHARACTER = r"[\x00-\x1f\x7f-\x9f]"
#: A path parameter without them, as a pattern the schema states: a `{name:path}` route would
#: otherwise take "key\n" as "key" (its `$` matches before a final newline) or as "" (422).
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]+$"

_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: What `normalise_agent_url` accepts, as a pattern the schema can state: http(s), a host name or
#: address (or [::1]), a port, a path; no user, query or fragment. No `\s` in it: ECMA regexes
#: (what schema tools use) and the Rust engine pydantic uses disagree on it (U+0085), so the path
#: refuses the C0 and C1 controls, space and DEL explicitly.
URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:{_LABEL}(?:\.{_LABEL})*|\[::1\])(?::{_PORT})?(?:/[^?#\x00-\x20\x7f-\x9f]*)?$"


def anchored(pattern: str) -> dict[str, Any]:
    """Schema for an anchored pattern, also refusing a newline: a Python-regex generator lets `$`
    match before a final newline (ECMA and the Rust engine pydantic uses do not)."""
    return {"pattern": pattern, "not": {"pattern": "\n"}}


#: The error type of a field whose rule has its own sentence (and hint) for people: errors.py answers
#: with that sentence as the message, as the CLI says it without a running app.
RULE_ERROR = "rule"
_URL_SHAPE = re.compile(URL_PATTERN)


def rule_error(message: str, hint: str | None) -> PydanticCustomError:
    """A validation error carrying the sentence and the hint core's own check gives."""
    return PydanticCustomError(RULE_ERROR, "{message}", {"message": message, "hint": hint or ""})


def _agent_url(value: object) -> object:
    """The agent URL rules of `normalise_agent_url`, in its words, before the schema's pattern."""
    if not isinstance(value, str):
        return value  # the type check says so
    if value != value.strip():
        raise rule_error("agent URL has spaces or line breaks around it", "send it without them")
    try:
        normalise_agent_url(value)
    except InvalidInputError as exc:
        raise rule_error(exc.message, exc.hint) from None
    if not _URL_SHAPE.fullmatch(value):
        raise rule_error(
            "agent URL must be http(s)://host[:port][/path] with a host name, an IPv4 address or [::1]",
            EXAMPLE,
        )
    return value


def _no_control_characters(text: str) -> str:
    if re.search(CONTROL_CHARACTER, text):
        raise ValueError("must not contain control characters")
    return text


def _checked_value(value: SecretStr) -> SecretStr:
    try:
        size = len(value.get_secret_value().encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    if size > MAX_VALUE_BYTES:
        raise ValueError(f"is {size} bytes; the limit is {MAX_VALUE_BYTES} bytes (64 KiB)")
    return value


Key = Annotated[
    Text,
    AfterValidator(_no_control_characters),
    Field(
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description="The demand key: 1-128 characters, no control characters.",
        json_schema_extra={"not": {"pattern": CONTROL_CHARACTER}},
    ),
]
Slug = Annotated[
    Text,
    Field(
        pattern=SLUG_RE.pattern,
        max_length=64,
        description="An agent's slug: lower-case letters, digits and inner hyphens.",
        json_schema_extra=anchored(SLUG_RE.pattern),
    ),
]
AgentUrl = Annotated[
    Text,
    Field(max_length=MAX_URL_LENGTH, pattern=URL_PATTERN, json_schema_extra=anchored(URL_PATTERN)),
    BeforeValidator(_agent_url),
]
Name = Annotated[Text, Field(max_length=MAX_NAME_LENGTH)]
Description = Annotated[Text, Field(max_length=MAX_DESCRIPTION_LENGTH)]
SchemeName = Annotated[Text, Field(min_length=1, max_length=128)]
Value = Annotated[
    SecretStr,
    AfterValidator(_checked_value),
    Field(
        max_length=MAX_VALUE_BYTES,
        description="The secret's value: write-only, never returned or logged; at most 64 KiB of UTF-8.",
    ),
]
