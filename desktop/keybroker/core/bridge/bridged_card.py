# SPDX-License-Identifier: Apache-2.0
"""The card the bridge serves for an agent: the agent's own, pointing at the bridge (DESIGN §1.3).

Skills, capabilities, extensions (secret demands included, so a client may still fulfil by itself),
modes and provider stay as the agent wrote them. What changes:
- the interfaces: JSON-RPC and HTTP+JSON, each in A2A 1.0 and 0.3, all at exactly
  `http://127.0.0.1:<port>/agents/<slug>`; a2a-sdk's card route then writes the merged 1.0 + 0.3
  card (legacy `url`, `preferredTransport`, `protocolVersion` next to `supportedInterfaces`);
- streaming is on: the bridge streams to its clients whatever the agent does; push notifications
  are off: they would go from the agent to the client around the bridge's secret masking;
- signatures are dropped (they signed the agent's URLs, not ours);
- an agent added with `--require-token` declares the bridge's own bearer scheme instead of its own
  (the caller's `Authorization` header is then the Keybroker API token, not the agent's credential).
"""

from __future__ import annotations

import json
from urllib.parse import quote

from a2a.client.card_resolver import parse_agent_card
from a2a.types import (
    AgentCard,
    AgentInterface,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)

from keybroker.core.errors import InvalidCardError

__all__ = ["TOKEN_SCHEME", "bridged_base_url", "bridged_card", "upstream_card"]

TOKEN_SCHEME = "keybroker_token"  # noqa: S105 - a scheme name, not a secret
_BINDINGS = ("JSONRPC", "HTTP+JSON")
_VERSIONS = ("1.0", "0.3")


def bridged_base_url(port: int, slug: str) -> str:
    """`http://127.0.0.1:<port>/agents/<slug>`: the one URL clients use for this agent."""
    return f"http://127.0.0.1:{port}/agents/{quote(slug, safe='')}"


def upstream_card(card_json: str) -> AgentCard:
    """The agent's card (0.3, 1.0 or merged JSON text) as an a2a-sdk 1.x `AgentCard`.

    Raises `InvalidCardError` with a short reason; never a parser traceback.
    """
    try:
        data = json.loads(card_json)
    except (ValueError, RecursionError):
        raise InvalidCardError("the stored agent card is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidCardError("the stored agent card is not a JSON object")
    try:
        card = parse_agent_card(data)
    except Exception as exc:  # json_format.ParseError, TypeError... from a hostile card
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InvalidCardError(f"the agent card cannot be read: {reason}") from None
    if not any(i.protocol_binding in _BINDINGS and i.url for i in card.supported_interfaces):
        raise InvalidCardError("the agent card offers no JSON-RPC or HTTP+JSON interface")
    return card


def bridged_card(upstream: AgentCard, base_url: str, *, require_token: bool = False) -> AgentCard:
    """A copy of `upstream` that sends every client to `base_url`, in both protocol versions."""
    card = AgentCard()
    card.CopyFrom(upstream)
    del card.supported_interfaces[:]
    for version in _VERSIONS:
        for binding in _BINDINGS:
            card.supported_interfaces.append(
                AgentInterface(url=base_url, protocol_binding=binding, protocol_version=version)
            )
    card.capabilities.streaming = True
    card.capabilities.push_notifications = False  # they would bypass the masking (handler.py)
    del card.signatures[:]
    if require_token:
        card.security_schemes.clear()
        del card.security_requirements[:]
        card.security_schemes[TOKEN_SCHEME].CopyFrom(
            SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="Bearer", description="The Keybroker API token (`keybroker token`)"
                )
            )
        )
        card.security_requirements.append(SecurityRequirement(schemes={TOKEN_SCHEME: StringList()}))
        for skill in card.skills:
            del skill.security_requirements[:]
    return card
