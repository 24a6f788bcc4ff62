# SPDX-License-Identifier: Apache-2.0
"""Agent Stack's LLM and embedding service extensions: demands on the card, fulfilments in a message.

Card params (agentstack-sdk 0.7.1 `a2a/extensions/services/llm.py` and `embedding.py`):
`{"llm_demands": {"<name>": {"description": str|null, "suggested": ["openai/gpt-4o", ...]}}}` and the
same with `embedding_demands`. A first message fulfils them in `metadata[URI]`:
`{"llm_fulfillments": {"<name>": {"identifier", "api_base", "api_key", "api_model"}}}` (PROTOCOL §2.3,
pitfall 30: the agent replaces a literal `{platform_url}` in `api_base`; any other URL is used as given,
with `Authorization: Bearer <api_key>`).

A demand comes from the agent, which may be hostile: names, descriptions, identifiers and counts are
bounded and text that could disguise itself in a prompt is refused, as for secret demands (demand.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keybroker.core.a2a.demand import MAX_DEMAND_DESCRIPTION, MAX_DEMANDS
from keybroker.core.a2a.json_field import (
    FieldError,
    as_mapping,
    control_character,
    index,
    member,
    opt_list,
    opt_str,
    shown,
)
from keybroker.core.errors import InvalidCardError, InvalidDemandError
from keybroker.core.models import MAX_KEY_LENGTH, ModelDemand

__all__ = [
    "EMBEDDING_EXTENSION_URI",
    "LLM_EXTENSION_URI",
    "MODEL_EXTENSIONS",
    "card_model_demands",
    "fulfilment_payload",
    "kind_of",
    "parse_model_demands",
]

LLM_EXTENSION_URI = "https://a2a-extensions.agentstack.beeai.dev/services/llm/v1"
EMBEDDING_EXTENSION_URI = "https://a2a-extensions.agentstack.beeai.dev/services/embedding/v1"
#: kind -> (extension URI, demands member, fulfilments member)
MODEL_EXTENSIONS: Mapping[str, tuple[str, str, str]] = {
    "llm": (LLM_EXTENSION_URI, "llm_demands", "llm_fulfillments"),
    "embedding": (EMBEDDING_EXTENSION_URI, "embedding_demands", "embedding_fulfillments"),
}
#: Suggested identifiers per demand; more is refused (a hostile card floods the picker).
MAX_SUGGESTED = 32
MAX_IDENTIFIER = 256
_DESCRIPTION_ALLOWED = "\n\t\r"


def kind_of(uri: str) -> str | None:
    """ "llm" or "embedding" for one of the two extension URIs, else None."""
    for kind, (known, _, _) in MODEL_EXTENSIONS.items():
        if uri == known:
            return kind
    return None


def _text(value: object, where: str, limit: int, allow: str = "") -> str | None:
    text = opt_str(value, where)
    if text is None:
        return None
    if len(text) > limit:
        raise FieldError(where, f"longer than {limit} characters")
    bad = control_character(text, allow=allow)
    if bad is not None:
        raise FieldError(where, f"contains control character U+{ord(bad):04X}")
    return text


def _name(key: object, where: str) -> str:
    if not isinstance(key, str) or not key:
        raise FieldError(where, "a demand name must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise FieldError(where, f"demand name {shown(key)} is longer than {MAX_KEY_LENGTH} characters")
    bad = control_character(key)
    if bad is not None:
        raise FieldError(where, f"demand name {shown(key)} contains control character U+{ord(bad):04X}")
    return key


def _demand(kind: str, name: str, value: object, where: str) -> ModelDemand:
    entry = as_mapping(value, where) if value is not None else {}
    description = _text(
        entry.get("description"), member(where, "description"), MAX_DEMAND_DESCRIPTION, _DESCRIPTION_ALLOWED
    )
    listed = opt_list(entry.get("suggested"), member(where, "suggested"))
    if len(listed) > MAX_SUGGESTED:
        raise FieldError(member(where, "suggested"), f"more than {MAX_SUGGESTED} identifiers")
    suggested: list[str] = []
    for i, item in enumerate(listed):
        text = _text(item, index(member(where, "suggested"), i), MAX_IDENTIFIER)
        if text and text not in suggested:
            suggested.append(text)
    return ModelDemand(kind=kind, name=name, description=description, suggested=tuple(suggested))


def _parse(kind: str, params: object, where: str) -> tuple[ModelDemand, ...]:
    if params is None:
        return ()
    _, demands_member, _ = MODEL_EXTENSIONS[kind]
    payload: Mapping[str, Any] = as_mapping(params, where)
    raw = payload.get(demands_member)
    if raw is None:
        return ()
    demands_where = member(where, demands_member)
    demands = as_mapping(raw, demands_where)
    if len(demands) > MAX_DEMANDS:
        raise FieldError(demands_where, f"{len(demands)} demands, more than the {MAX_DEMANDS} allowed")
    return tuple(
        _demand(kind, _name(key, demands_where), value, member(demands_where, str(key)))
        for key, value in sorted(demands.items(), key=lambda item: str(item[0]))
    )


def parse_model_demands(kind: str, params: object, where: str) -> tuple[ModelDemand, ...]:
    """The demands of one model extension's card params (`kind`: "llm" or "embedding"), by name.

    Raises `InvalidDemandError` naming the field at fault.
    """
    try:
        return _parse(kind, params, where)
    except FieldError as exc:
        raise InvalidDemandError(str(exc)) from None


def card_model_demands(capabilities: Mapping[str, Any], where: str) -> tuple[ModelDemand, ...]:
    """The LLM and embedding demands of a card's `capabilities.extensions` (card.py checked its shape).

    One extension entry per kind counts; a second one for the same URI is ignored. Raises
    `InvalidCardError` naming the field at fault.
    """
    found: list[ModelDemand] = []
    for i, item in enumerate(opt_list(capabilities.get("extensions"), member(where, "extensions"))):
        kind = kind_of(str(item.get("uri"))) if isinstance(item, Mapping) else None
        if kind is None or any(d.kind == kind for d in found):
            continue
        try:
            found += parse_model_demands(kind, item.get("params"), f"{where}.extensions[{i}].params")
        except InvalidDemandError as exc:
            raise InvalidCardError(str(exc)) from None
    return tuple(found)


def fulfilment_payload(kind: str, fulfilments: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """`{"llm_fulfillments": {...}}` (or embedding's) for `metadata[URI]`."""
    _, _, member_name = MODEL_EXTENSIONS[kind]
    return {member_name: {name: dict(entry) for name, entry in fulfilments.items()}}
