# SPDX-License-Identifier: Apache-2.0
"""Agent Stack secret demands: `{"secret_demands": {"<key>": {"name": ..., "description": ...}}}`.

The same payload appears on the card (`capabilities.extensions[].params`) and at run time (the
`auth-required` status message's `metadata[SECRETS_EXTENSION_URI]`), so one parser serves both
(PROTOCOL.md §2.1). A demand comes from the agent, which may be hostile: keys, labels and counts are
bounded, and text that could disguise itself in a prompt (control, bidi and zero-width characters)
is refused.

Naming rule: agentstack's own model requires `name`, but other producers may leave it out. A demand
whose `name` is absent, null or blank is labelled with its key (the prompt always shows the key
anyway, so nothing is hidden). A `name` of any other type is an error, never coerced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keybroker.core.a2a.json_field import (
    FieldError,
    as_mapping,
    as_str,
    control_character,
    member,
    opt_str,
    shown,
    type_name,
)
from keybroker.core.errors import InvalidDemandError
from keybroker.core.models import MAX_KEY_LENGTH, SecretDemand

SECRETS_EXTENSION_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"

#: More demands than this in one payload is refused: no real agent needs them, a hostile one floods.
MAX_DEMANDS = 100
MAX_DEMAND_NAME = 256
MAX_DEMAND_DESCRIPTION = 4096
_DESCRIPTION_ALLOWED = "\n\t\r"


def _key_problem(key: object) -> str | None:
    """Why `key` is not a valid demand key (INTERFACES.md: 1-128 characters, no control ones)."""
    if not isinstance(key, str):
        return f"expected a string, got {type_name(key)}"
    if not key:
        return "demand key is empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"demand key {shown(key)} is longer than {MAX_KEY_LENGTH} characters"
    bad = control_character(key)
    if bad is not None:
        return f"demand key {shown(key)} contains control character U+{ord(bad):04X}"
    return None


def validate_demand_key(key: str) -> str:
    """Return `key` unchanged when it is 1-128 characters without control characters, else raise."""
    problem = _key_problem(key)
    if problem is not None:
        raise InvalidDemandError(problem)
    return key


def _label(value: object, where: str, *, limit: int, allow: str = "") -> str | None:
    text = opt_str(value, where)
    if text is None:
        return None
    if len(text) > limit:
        raise FieldError(where, f"longer than {limit} characters")
    bad = control_character(text, allow=allow)
    if bad is not None:
        raise FieldError(where, f"contains control character U+{ord(bad):04X}")
    return text


def _demand(key: str, value: object, where: str) -> SecretDemand:
    entry = as_mapping(value, where)
    name = _label(entry.get("name"), member(where, "name"), limit=MAX_DEMAND_NAME)
    description = _label(
        entry.get("description"),
        member(where, "description"),
        limit=MAX_DEMAND_DESCRIPTION,
        allow=_DESCRIPTION_ALLOWED,
    )
    if name is None or not name.strip():
        name = key
    return SecretDemand(key=key, name=name, description=description)


def _parse(params: object, where: str) -> tuple[SecretDemand, ...]:
    if params is None:
        return ()
    payload: Mapping[str, Any] = as_mapping(params, where)
    demands_where = member(where, "secret_demands")
    raw = payload.get("secret_demands")
    if raw is None:
        return ()
    demands = as_mapping(raw, demands_where)
    if len(demands) > MAX_DEMANDS:
        raise FieldError(demands_where, f"{len(demands)} demands, more than the {MAX_DEMANDS} allowed")
    parsed = []
    for key, value in sorted(demands.items(), key=lambda item: str(item[0])):
        problem = _key_problem(key)
        if problem is not None:
            raise FieldError(demands_where, problem)
        parsed.append(_demand(as_str(key, demands_where), value, member(demands_where, key)))
    return tuple(parsed)


def parse_secret_demands(params: object, where: str) -> tuple[SecretDemand, ...]:
    """The demands in a secrets-extension payload (card `params` or run-time metadata).

    `where` is the payload's path for messages, e.g. `card.capabilities.extensions[0].params` or
    `status.message.metadata[...]`. Null or a payload without `secret_demands` means no demand.
    Demands come sorted by key (JSON objects have no order; see card.py).
    Raises `InvalidDemandError` naming the field at fault.
    """
    try:
        return _parse(params, where)
    except FieldError as exc:
        raise InvalidDemandError(str(exc)) from None
