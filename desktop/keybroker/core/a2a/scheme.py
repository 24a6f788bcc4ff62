# SPDX-License-Identifier: Apache-2.0
"""Card security schemes and requirements, normalised across A2A 0.3 and 1.0 (PROTOCOL.md §1).

0.3 writes OpenAPI-style objects tagged by `type` (`{"type": "apiKey", "in": "header", ...}`);
1.0 (protobuf JSON) wraps them in a member naming the kind (`{"apiKeySecurityScheme": {...}}`).
A 1.3.0 server that also serves 0.3 merges both shapes into one object; the 1.0 member wins then,
since it is the lossless one (0.3 has no device-code flow). `SecurityScheme.kind` uses 0.3 names.

What a client needs to apply a scheme is required (an apiKey's location and name, an http scheme's
auth scheme, an OIDC discovery URL); anything else unknown is kept, including unknown scheme kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keybroker.core.a2a.json_field import (
    FieldError,
    as_mapping,
    as_str,
    index,
    member,
    opt_list,
    opt_mapping,
    opt_str,
    shown,
)
from keybroker.core.agents.schemes import API_KEY_LOCATIONS
from keybroker.core.models import SecurityScheme

#: 1.0 wrapper member -> 0.3 `type`.
KIND_BY_WRAPPER: Mapping[str, str] = {
    "apiKeySecurityScheme": "apiKey",
    "httpAuthSecurityScheme": "http",
    "oauth2SecurityScheme": "oauth2",
    "openIdConnectSecurityScheme": "openIdConnect",
    "mtlsSecurityScheme": "mutualTLS",
}
_WRAPPER_SUFFIX = "SecurityScheme"
#: More schemes than this on one card is refused.
MAX_SCHEMES = 64


@dataclass(frozen=True)
class ParsedSchemes:
    """A card's schemes, their kind-specific fields and its requirements."""

    schemes: tuple[SecurityScheme, ...]
    #: scheme name -> the scheme's own object without its tag (1.0 wrapper content or 0.3 object
    #: minus `type`): OAuth `flows`/`oauth2MetadataUrl`, `openIdConnectUrl`, ...
    details: Mapping[str, Mapping[str, Any]]
    #: OR (card order) of ANDs (sorted) of scheme names.
    security: tuple[tuple[str, ...], ...]


def _kind_and_body(value: Mapping[str, Any], where: str) -> tuple[str, Mapping[str, Any], str]:
    """(kind, body, body path) of one scheme object in either shape."""
    wrappers = [k for k in value if isinstance(k, str) and k.endswith(_WRAPPER_SUFFIX)]
    if len(wrappers) > 1:
        raise FieldError(where, f"more than one scheme type: {', '.join(sorted(wrappers))}")
    if wrappers:
        wrapper = wrappers[0]
        kind = KIND_BY_WRAPPER.get(wrapper, wrapper[: -len(_WRAPPER_SUFFIX)])
        body_where = member(where, wrapper)
        return kind, opt_mapping(value[wrapper], body_where), body_where
    if "type" not in value:
        raise FieldError(
            where, "no scheme type: expected `type` (0.3) or an `...SecurityScheme` member (1.0)"
        )
    kind = as_str(value["type"], member(where, "type"))
    if not kind:
        raise FieldError(member(where, "type"), "empty scheme type")
    return kind, {k: v for k, v in value.items() if k != "type"}, where


def _required_str(body: Mapping[str, Any], field: str, where: str) -> str:
    value = body.get(field)
    if value is None:
        raise FieldError(member(where, field), "missing")
    text = as_str(value, member(where, field))
    if not text:
        raise FieldError(member(where, field), "empty")
    return text


def parse_security_scheme(name: str, value: object, where: str) -> tuple[SecurityScheme, Mapping[str, Any]]:
    """One `securitySchemes.<name>` entry in either shape: the scheme and its own fields."""
    kind, body, body_where = _kind_and_body(as_mapping(value, where), where)
    description = opt_str(body.get("description"), member(body_where, "description"))
    location = param_name = http_scheme = bearer_format = None
    if kind == "apiKey":
        # 1.0 says `location`, 0.3 says `in`.
        field = "location" if "location" in body else "in"
        location = _required_str(body, field, body_where).lower()
        if location not in API_KEY_LOCATIONS:
            raise FieldError(member(body_where, field), f"expected one of {', '.join(API_KEY_LOCATIONS)}")
        param_name = _required_str(body, "name", body_where)
    elif kind == "http":
        # RFC 9110 §11.1: auth scheme names are case-insensitive; 1.0 examples write "Bearer".
        http_scheme = _required_str(body, "scheme", body_where).lower()
        bearer_format = opt_str(body.get("bearerFormat"), member(body_where, "bearerFormat"))
    elif kind == "oauth2":
        opt_mapping(body.get("flows"), member(body_where, "flows"))
        opt_str(body.get("oauth2MetadataUrl"), member(body_where, "oauth2MetadataUrl"))
    elif kind == "openIdConnect":
        _required_str(body, "openIdConnectUrl", body_where)
    scheme = SecurityScheme(
        name=name,
        kind=kind,
        location=location,
        param_name=param_name,
        http_scheme=http_scheme,
        bearer_format=bearer_format,
        description=description,
    )
    return scheme, dict(body)


def _requirement_10(value: object, where: str) -> tuple[str, ...]:
    """`{"schemes": {"<name>": {"list": [scopes]} | {}}}` -> names, sorted."""
    entry = as_mapping(value, where)
    schemes = opt_mapping(entry.get("schemes"), member(where, "schemes"))
    for scheme_name, scopes in schemes.items():
        scopes_where = member(member(where, "schemes"), scheme_name)
        list_where = member(scopes_where, "list")
        for j, scope in enumerate(opt_list(opt_mapping(scopes, scopes_where).get("list"), list_where)):
            as_str(scope, index(list_where, j))
    return tuple(sorted(schemes))


def _requirement_03(value: object, where: str) -> tuple[str, ...]:
    """`{"<name>": [scopes]}` -> names, sorted."""
    entry = as_mapping(value, where)
    for scheme_name, scopes in entry.items():
        scopes_where = member(where, scheme_name)
        for j, scope in enumerate(opt_list(scopes, scopes_where)):
            as_str(scope, index(scopes_where, j))
    return tuple(sorted(entry))


def parse_security_requirements(
    card: Mapping[str, Any], known: Mapping[str, object], where: str = "card"
) -> tuple[tuple[str, ...], ...]:
    """The card's OR-of-ANDs requirements; 1.0 `securityRequirements` wins over 0.3 `security`.

    A requirement naming a scheme the card does not declare is an error: it could never be met.
    """
    if card.get("securityRequirements") is not None:
        field, parse_one = "securityRequirements", _requirement_10
    else:
        field, parse_one = "security", _requirement_03
    list_where = member(where, field)
    items = card.get(field)
    requirements = []
    for i, item in enumerate(opt_list(items, list_where)):
        names = parse_one(item, index(list_where, i))
        for scheme_name in names:
            if scheme_name not in known:
                raise FieldError(
                    index(list_where, i), f"names undeclared security scheme {shown(scheme_name)}"
                )
        requirements.append(names)
    return tuple(requirements)


def parse_schemes(card: Mapping[str, Any], where: str = "card") -> ParsedSchemes:
    """`securitySchemes` (sorted by name) and the requirements that use them, from either shape."""
    schemes_where = member(where, "securitySchemes")
    raw = opt_mapping(card.get("securitySchemes"), schemes_where)
    if len(raw) > MAX_SCHEMES:
        raise FieldError(schemes_where, f"{len(raw)} schemes, more than the {MAX_SCHEMES} allowed")
    schemes = []
    details: dict[str, Mapping[str, Any]] = {}
    for scheme_name, value in raw.items():
        if not scheme_name:
            raise FieldError(schemes_where, "a scheme has an empty name")
        scheme, body = parse_security_scheme(scheme_name, value, member(schemes_where, scheme_name))
        schemes.append(scheme)
        details[scheme_name] = body
    security = parse_security_requirements(card, details, where)
    return ParsedSchemes(
        schemes=tuple(sorted(schemes, key=lambda s: s.name)), details=details, security=security
    )
