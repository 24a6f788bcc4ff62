# SPDX-License-Identifier: Apache-2.0
"""What a card says about one OAuth 2 / OIDC / mutual TLS scheme: its flows, endpoints and scopes.

The catalog keeps a scheme's kind and name (`SecurityScheme`); its flows and URLs are read again from
the card the agent served (`AgentRecord.card_json`), in either shape (PROTOCOL.md §1):
- `oauth2`: `flows.{clientCredentials,authorizationCode,deviceCode}` with `tokenUrl`,
  `authorizationUrl`, `deviceAuthorizationUrl`, `refreshUrl`, and the optional `oauth2MetadataUrl`
  (RFC 8414). 0.3 has no device flow; `implicit` and `password` are not offered (deprecated, and
  `password` would have Keybroker hold the user's password for the server);
- `openIdConnect`: `openIdConnectUrl`, the discovery document (flows come from it);
- the scopes to ask for: those the card's requirements list for the scheme (0.3 `security`, 1.0
  `securityRequirements`), all of them when several requirements name it.
A malformed scheme raises `InvalidCardError` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keybroker.core.a2a.json_field import (
    FieldError,
    as_mapping,
    as_str,
    member,
    opt_list,
    opt_mapping,
    opt_str,
)
from keybroker.core.a2a.scheme import parse_schemes
from keybroker.core.errors import InvalidCardError, UsageError
from keybroker.core.models import AgentRecord

__all__ = ["FLOW_NAMES", "TOKEN_KINDS", "CardFlow", "SchemeInfo", "scheme_info"]

#: Scheme kinds whose credential is an OAuth 2 access token.
TOKEN_KINDS = frozenset({"oauth2", "openIdConnect"})
#: Our flow names <- the card's flow members.
FLOW_NAMES: Mapping[str, str] = {
    "clientCredentials": "client",
    "authorizationCode": "code",
    "deviceCode": "device",
}


@dataclass(frozen=True)
class CardFlow:
    """One flow as the card declares it (URLs may be None for an OIDC scheme: discovery has them)."""

    name: str  # client | code | device
    token_url: str | None = None
    authorization_url: str | None = None
    device_authorization_url: str | None = None
    refresh_url: str | None = None


@dataclass(frozen=True)
class SchemeInfo:
    """One scheme of one agent, as far as signing in needs it."""

    agent: str
    name: str
    kind: str
    flows: tuple[CardFlow, ...]
    metadata_url: str | None  # RFC 8414 (oauth2MetadataUrl) or OIDC discovery (openIdConnectUrl)
    scopes: tuple[str, ...]
    resource: str  # RFC 8707: the agent's URL

    @property
    def oidc(self) -> bool:
        """True for an `openIdConnect` scheme."""
        return self.kind == "openIdConnect"

    def flow(self, name: str) -> CardFlow | None:
        """The card's flow `name`, if declared."""
        return next((f for f in self.flows if f.name == name), None)


def _flows(body: Mapping[str, Any], where: str) -> tuple[CardFlow, ...]:
    flows_where = member(where, "flows")
    found: list[CardFlow] = []
    for card_name, ours in FLOW_NAMES.items():
        raw = opt_mapping(
            opt_mapping(body.get("flows"), flows_where).get(card_name), member(flows_where, card_name)
        )
        if not raw:
            continue
        at = member(flows_where, card_name)
        urls = {
            field: opt_str(raw.get(field), member(at, field))
            for field in ("tokenUrl", "authorizationUrl", "deviceAuthorizationUrl", "refreshUrl")
        }
        needed = {"client": ("tokenUrl",), "code": ("tokenUrl", "authorizationUrl")}.get(
            ours, ("tokenUrl", "deviceAuthorizationUrl")
        )
        for field in needed:
            if not urls[field]:
                raise FieldError(member(at, field), "missing")
        found.append(
            CardFlow(
                ours,
                token_url=urls["tokenUrl"],
                authorization_url=urls["authorizationUrl"],
                device_authorization_url=urls["deviceAuthorizationUrl"],
                refresh_url=urls["refreshUrl"],
            )
        )
    return tuple(found)


def _scopes(card: Mapping[str, Any], scheme: str) -> tuple[str, ...]:
    """The scopes the card's requirements list for `scheme` (both shapes), in first-seen order."""
    found: list[str] = []
    if card.get("securityRequirements") is not None:
        for item in opt_list(card.get("securityRequirements"), "card.securityRequirements"):
            entry = opt_mapping(as_mapping(item, "card.securityRequirements").get("schemes"), "schemes")
            listed = opt_mapping(entry.get(scheme), scheme).get("list") if scheme in entry else None
            found.extend(as_str(s, "scope") for s in opt_list(listed, "list"))
    else:
        for item in opt_list(card.get("security"), "card.security"):
            entry = as_mapping(item, "card.security")
            if scheme in entry:
                found.extend(as_str(s, "scope") for s in opt_list(entry[scheme], scheme))
    return tuple(dict.fromkeys(s for s in found if s))


def scheme_info(agent: AgentRecord, scheme: str) -> SchemeInfo:
    """What `agent`'s card says about `scheme` (module docstring); `UsageError` for an unknown one."""
    try:
        card = json.loads(agent.card_json)
        parsed = parse_schemes(card)
        known = {s.name: s for s in parsed.schemes}
        if scheme not in known:
            names = ", ".join(sorted(known)) or "none"
            raise UsageError(f"agent {agent.slug!r} has no security scheme {scheme!r} (its schemes: {names})")
        kind = known[scheme].kind
        body = parsed.details[scheme]
        where = member("card.securitySchemes", scheme)
        flows: tuple[CardFlow, ...] = ()
        metadata_url = None
        if kind == "oauth2":
            flows = _flows(body, where)
            metadata_url = opt_str(body.get("oauth2MetadataUrl"), member(where, "oauth2MetadataUrl"))
        elif kind == "openIdConnect":
            metadata_url = as_str(body.get("openIdConnectUrl"), member(where, "openIdConnectUrl"))
        scopes = _scopes(card, scheme)
        if kind == "openIdConnect" and "openid" not in scopes:
            scopes = ("openid", *scopes)  # OIDC Core §3.1.2.1: an OpenID request names it
    except FieldError as exc:
        raise InvalidCardError(f"agent {agent.slug!r}: {exc}") from None
    except ValueError:
        raise InvalidCardError(f"agent {agent.slug!r}: its stored card is not JSON") from None
    return SchemeInfo(agent.slug, scheme, kind, flows, metadata_url, scopes, agent.url)
