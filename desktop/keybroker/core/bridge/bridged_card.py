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
- the security schemes the bridge fulfils itself (API keys, bearer tokens, HTTP basic, OAuth 2 and
  OpenID Connect sign-ins, client certificates: `scheme_supported`, the rule credentials.py and
  core/auth send by) are dropped, so a plain client does not think it must send a credential.
  Others (an HTTP scheme such as digest) stay, and so do the requirements, minus the dropped names:
  an AND that mixed both keeps its other schemes; one that named only dropped schemes is met by the
  bridge, so the client needs nothing and the card (or skill) keeps no requirement at all;
- an agent added with `--require-token` declares the bridge's own bearer scheme instead of its own
  (the caller's `Authorization` header is then the Keybroker API token, not the agent's credential).
"""

from __future__ import annotations

import json
from collections.abc import Collection, MutableSequence
from urllib.parse import quote

from a2a.client.card_resolver import parse_agent_card
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.types import (
    AgentCard,
    AgentInterface,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)

from keybroker.core.agents.schemes import scheme_supported
from keybroker.core.errors import InvalidCardError
from keybroker.core.models import SecurityScheme as SchemeRecord

__all__ = ["TOKEN_SCHEME", "bridged_base_url", "bridged_card", "fulfilled_by_bridge", "upstream_card"]

TOKEN_SCHEME = "keybroker_token"  # noqa: S105 - a scheme name, not a secret
_BINDINGS = ("JSONRPC", "HTTP+JSON")
_VERSIONS = ("1.0", "0.3")
#: Where the trial bridged card points (never served).
_TRIAL_URL = "http://127.0.0.1:1/agents/trial"


def bridged_base_url(port: int, slug: str) -> str:
    """`http://127.0.0.1:<port>/agents/<slug>`: the one URL clients use for this agent."""
    return f"http://127.0.0.1:{port}/agents/{quote(slug, safe='')}"


def upstream_card(card_json: str) -> AgentCard:
    """The agent's card (0.3, 1.0 or merged JSON text) as an a2a-sdk 1.x `AgentCard`.

    Raises `InvalidCardError` with a short reason, never a parser traceback, also for a card whose
    bridged form cannot be written in both protocol versions (the card route would fail on it).
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
    try:
        # The card route writes the bridged card in both shapes; some 1.0 content has no 0.3 form
        # (a scheme without a type, an API key location that is not header/query/cookie...).
        agent_card_to_dict(bridged_card(card, _TRIAL_URL))
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InvalidCardError(f"the agent card cannot be served in both A2A versions: {reason}") from None
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
    _drop_fulfilled_schemes(card)
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


#: 1.0 scheme members whose credential the bridge gets by a sign-in or a client certificate (issue 13).
_SIGN_IN_KINDS = {
    "oauth2_security_scheme": "oauth2",
    "open_id_connect_security_scheme": "openIdConnect",
    "mtls_security_scheme": "mutualTLS",
}


def fulfilled_by_bridge(name: str, scheme: SecurityScheme) -> bool:
    """True for a scheme the bridge sends itself: an API key (header, query, cookie), a bearer token,
    HTTP basic, an OAuth 2 / OIDC token, a client certificate."""
    kind = scheme.WhichOneof("scheme")
    if kind == "api_key_security_scheme":
        api_key = scheme.api_key_security_scheme
        record = SchemeRecord(name, "apiKey", location=api_key.location.lower(), param_name=api_key.name)
    elif kind == "http_auth_security_scheme":
        record = SchemeRecord(name, "http", http_scheme=scheme.http_auth_security_scheme.scheme.lower())
    elif kind in _SIGN_IN_KINDS:
        record = SchemeRecord(name, _SIGN_IN_KINDS[kind])
    else:
        return False
    return scheme_supported(record)


def _drop_fulfilled_schemes(card: AgentCard) -> None:
    """Remove the schemes the bridge fulfils, and their names from every requirement (module docstring)."""
    dropped = {name for name, scheme in card.security_schemes.items() if fulfilled_by_bridge(name, scheme)}
    if not dropped:
        return
    for name in dropped:
        del card.security_schemes[name]
    _strip_requirements(card.security_requirements, dropped)
    for skill in card.skills:
        _strip_requirements(skill.security_requirements, dropped)


def _strip_requirements(requirements: MutableSequence[SecurityRequirement], dropped: Collection[str]) -> None:
    """Drop `dropped` names from an OR of ANDs; an AND left empty was met by the bridge: clear them all."""
    kept: list[SecurityRequirement] = []
    for requirement in requirements:
        names = set(requirement.schemes)
        remaining = SecurityRequirement()
        for name in sorted(names - set(dropped)):
            remaining.schemes[name].CopyFrom(requirement.schemes[name])
        if names and not remaining.schemes:
            kept = []  # one alternative needs nothing more from the client: nothing is required
            break
        kept.append(remaining)
    del requirements[:]
    requirements.extend(kept)
