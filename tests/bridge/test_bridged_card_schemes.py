# SPDX-License-Identifier: Apache-2.0
"""bridged_card.py: the schemes the bridge fulfils itself (API keys, bearer tokens, basic, OAuth 2 /
OIDC sign-ins, client certificates) leave the card; others (HTTP digest) stay.

Every card is read in the 0.3 shape and the 1.0 shape, and the served (merged) card is checked in
both: 1.0 `securitySchemes` wrappers and `securityRequirements`, 0.3 `type` and `security`. The served
card must stay self-consistent: Keybroker's own card parser reads it back without error.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.a2a.scheme import parse_schemes
from keybroker.core.bridge.bridged_card import TOKEN_SCHEME, bridged_card, upstream_card
from keybroker.core.errors import InvalidCardError

BASE = "http://127.0.0.1:7411/agents/peer"
AGENT = "http://127.0.0.1:10000/"

#: 0.3 scheme objects and their 1.0 wrappers, by name.
SCHEMES_03: dict[str, dict[str, Any]] = {
    "header_key": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "query_key": {"type": "apiKey", "in": "query", "name": "api_key"},
    "cookie_key": {"type": "apiKey", "in": "cookie", "name": "session"},
    "bearer": {"type": "http", "scheme": "Bearer", "bearerFormat": "JWT"},
    "basic": {"type": "http", "scheme": "basic"},
    "oauth": {
        "type": "oauth2",
        "flows": {"clientCredentials": {"tokenUrl": "https://auth.example/t", "scopes": {"read": "r"}}},
    },
    "oidc": {"type": "openIdConnect", "openIdConnectUrl": "https://auth.example/.well-known/openid"},
    "mtls": {"type": "mutualTLS"},
    "digest": {"type": "http", "scheme": "digest"},
}
FULFILLED = set(SCHEMES_03) - {"digest"}


def _scheme_10(value: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in value.items() if k != "type"}
    if value["type"] == "apiKey":
        body = {"location": body.pop("in"), "name": body["name"]}
        return {"apiKeySecurityScheme": body}
    wrapper = {
        "http": "httpAuthSecurityScheme",
        "oauth2": "oauth2SecurityScheme",
        "openIdConnect": "openIdConnectSecurityScheme",
        "mutualTLS": "mtlsSecurityScheme",
    }[value["type"]]
    return {wrapper: body}


def card(
    shape: str,
    schemes: list[str],
    security: list[dict[str, list[str]]],
    skill_security: list[dict[str, list[str]]] | None = None,
) -> str:
    """An agent card in `shape` (0.3 or 1.0) declaring `schemes` and requiring `security` (OR of ANDs)."""
    skill: dict[str, Any] = {"id": "s1", "name": "Skill", "description": "does", "tags": ["t"]}
    common = {
        "name": "peer",
        "description": "a peer",
        "version": "1.0.0",
        "capabilities": {},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
    }
    if shape == "0.3":
        if skill_security is not None:
            skill["security"] = skill_security
        return json.dumps(
            {
                **common,
                "url": AGENT,
                "preferredTransport": "JSONRPC",
                "protocolVersion": "0.3.0",
                "skills": [skill],
                "securitySchemes": {n: SCHEMES_03[n] for n in schemes},
                "security": security,
            }
        )

    def requirements(items: list[dict[str, list[str]]]) -> list[dict[str, Any]]:
        return [{"schemes": {n: {"list": scopes} for n, scopes in item.items()}} for item in items]

    if skill_security is not None:
        skill["securityRequirements"] = requirements(skill_security)
    return json.dumps(
        {
            **common,
            "supportedInterfaces": [{"url": AGENT, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "skills": [skill],
            "securitySchemes": {n: _scheme_10(SCHEMES_03[n]) for n in schemes},
            "securityRequirements": requirements(security),
        }
    )


def served(text: str, **options: Any) -> dict[str, Any]:
    return agent_card_to_dict(bridged_card(upstream_card(text), BASE, **options))


def requirements_10(requirements: list[dict[str, Any]]) -> list[dict[str, list[str]]]:
    """1.0 requirements as 0.3-like dicts, for comparing with `security`."""
    return [{n: v.get("list", []) for n, v in r["schemes"].items()} for r in requirements]


def check_consistent(out: dict[str, Any]) -> None:
    """Both shapes say the same, and every requirement names a declared scheme."""
    assert requirements_10(out.get("securityRequirements", [])) == out.get("security", [])
    parsed = parse_schemes(out)  # raises when a requirement names an undeclared scheme
    assert {s.name for s in parsed.schemes} == set(out.get("securitySchemes", {}))


SHAPES = pytest.mark.parametrize("shape", ["0.3", "1.0"])


@SHAPES
@pytest.mark.parametrize("name", sorted(FULFILLED))
def test_a_scheme_the_bridge_sends_itself_leaves_the_card(shape: str, name: str) -> None:
    out = served(card(shape, [name], [{name: []}]))
    assert "securitySchemes" not in out
    assert "securityRequirements" not in out and "security" not in out
    check_consistent(out)


@SHAPES
def test_schemes_the_bridge_does_not_fulfil_are_kept_with_their_requirements(shape: str) -> None:
    out = served(
        card(shape, ["basic", "oauth", "digest"], [{"digest": ["read"]}, {"basic": [], "digest": []}])
    )
    assert set(out["securitySchemes"]) == {"digest"}
    assert out["securitySchemes"]["digest"]["type"] == "http"  # 0.3 shape
    assert out["securitySchemes"]["digest"]["httpAuthSecurityScheme"]["scheme"] == "digest"  # 1.0 shape
    assert out["security"] == [{"digest": ["read"]}, {"digest": []}]
    check_consistent(out)


@SHAPES
def test_an_and_mixing_a_fulfilled_and_a_kept_scheme_keeps_the_kept_one(shape: str) -> None:
    out = served(card(shape, ["header_key", "digest"], [{"header_key": [], "digest": ["read"]}]))
    assert set(out["securitySchemes"]) == {"digest"}
    assert out["security"] == [{"digest": ["read"]}]
    assert out["securityRequirements"] == [{"schemes": {"digest": {"list": ["read"]}}}]
    check_consistent(out)


@SHAPES
def test_an_alternative_the_bridge_meets_alone_leaves_nothing_required(shape: str) -> None:
    # digest OR bearer: the bridge sends the bearer token, so the client needs nothing at all.
    out = served(card(shape, ["bearer", "digest"], [{"digest": ["read"]}, {"bearer": []}]))
    assert set(out["securitySchemes"]) == {"digest"}  # still declared, no longer required
    assert "security" not in out and "securityRequirements" not in out
    check_consistent(out)


@SHAPES
def test_every_fulfilled_kind_in_one_card(shape: str) -> None:
    names = sorted(SCHEMES_03)
    security = [
        {"header_key": [], "mtls": [], "digest": []},
        {"query_key": [], "oidc": []},
        {"cookie_key": [], "basic": [], "oauth": ["read"]},
    ]
    out = served(card(shape, names, security))
    assert set(out["securitySchemes"]) == set(SCHEMES_03) - FULFILLED == {"digest"}
    # The second alternative is met by the bridge alone, so the client needs nothing at all.
    assert "security" not in out and "securityRequirements" not in out
    check_consistent(out)


@SHAPES
def test_skill_requirements_lose_the_fulfilled_schemes_too(shape: str) -> None:
    text = card(
        shape,
        ["header_key", "digest", "mtls"],
        [{"mtls": []}],
        skill_security=[{"header_key": [], "digest": ["read"]}],
    )
    out = served(text)
    skill = out["skills"][0]
    assert skill["securityRequirements"] == [{"schemes": {"digest": {"list": ["read"]}}}]
    assert skill["security"] == [{"digest": ["read"]}]
    alone = served(card(shape, ["header_key", "digest"], [], skill_security=[{"header_key": []}]))
    assert "securityRequirements" not in alone["skills"][0] and "security" not in alone["skills"][0]


@SHAPES
def test_a_card_with_schemes_but_no_requirement(shape: str) -> None:
    out = served(card(shape, ["header_key", "digest"], []))
    assert set(out["securitySchemes"]) == {"digest"}
    assert "security" not in out
    check_consistent(out)


@SHAPES
def test_require_token_still_declares_only_the_bridge_token(shape: str) -> None:
    out = served(card(shape, ["header_key", "oauth"], [{"header_key": [], "oauth": []}]), require_token=True)
    assert list(out["securitySchemes"]) == [TOKEN_SCHEME]
    assert out["security"] == [{TOKEN_SCHEME: []}]
    check_consistent(out)


def test_the_upstream_card_object_is_left_as_it_was() -> None:
    upstream = upstream_card(card("1.0", ["header_key"], [{"header_key": []}]))
    bridged_card(upstream, BASE)
    assert set(upstream.security_schemes) == {"header_key"}
    assert len(upstream.security_requirements) == 1


@pytest.mark.parametrize(
    "scheme",
    [{}, {"apiKeySecurityScheme": {}}, {"apiKeySecurityScheme": {"location": "body", "name": "k"}}],
    ids=["no-type", "api-key-without-location", "api-key-in-body"],
)
def test_a_scheme_with_no_0_3_form_is_a_clear_card_error(scheme: dict[str, Any]) -> None:
    # Found by the fuzzer (test_bridge_fuzz.py): the card route failed on these with a 500.
    data = json.loads(card("1.0", [], []))
    data["securitySchemes"] = {"odd": scheme}
    with pytest.raises(InvalidCardError) as caught:
        upstream_card(json.dumps(data))
    assert "cannot be served in both A2A versions" in caught.value.message
