# SPDX-License-Identifier: Apache-2.0
"""keybroker.core.a2a.card: both card shapes, schemes, requirements, demands, errors, fingerprint."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

import pytest

from keybroker.core.a2a.card import (
    MAX_CARD_BYTES,
    SECRETS_EXTENSION_URI,
    CardInterface,
    card_fingerprint,
    normalise_protocol_version,
    parse_card,
    parse_secret_demands,
    validate_demand_key,
)
from keybroker.core.errors import InvalidCardError, InvalidDemandError
from keybroker.core.models import SecretDemand, SecurityScheme
from tests.core.a2a.card_samples import (
    A2A1_MERGED_CARD,
    AGENTSTACK_CARD,
    SECRETS_URI,
    card_03,
    card_10,
    with_demands,
)


def test_secrets_uri_is_the_agentstack_one() -> None:
    assert SECRETS_EXTENSION_URI == SECRETS_URI


# Real servers' cards ------------------------------------------------------------------------------


def test_agentstack_card_reads_interfaces_demands_and_versions() -> None:
    card = parse_card(AGENTSTACK_CARD)
    assert card.name == "keybroker-secret-peer"
    assert card.version == "1.0.0"
    assert card.protocol_versions == ("0.3",)
    assert card.streaming is True
    # The top-level url and the repeated JSONRPC additional interface are one interface.
    assert card.interfaces == (
        CardInterface("http://127.0.0.1:18765/jsonrpc/", "JSONRPC", "0.3"),
        CardInterface("http://127.0.0.1:18765", "HTTP+JSON", "0.3"),
    )
    assert card.interfaces_for("JSONRPC", "0.3")[0].url.endswith("/jsonrpc/")
    assert card.demands == (
        SecretDemand("github", "GitHub token", "PAT with repo scope"),
        SecretDemand("slack", "Slack bot token", "xoxb- token for posting messages"),
    )
    assert card.extensions == (
        "https://a2a-extensions.agentstack.beeai.dev/ui/agent-detail/v1",
        "https://a2a-extensions.agentstack.beeai.dev/ui/error/v1",
        SECRETS_URI,
    )
    assert card.required_extensions == ()
    assert card.schemes == ()
    assert card.security == ()


def test_merged_card_of_a2a_sdk_1_3_reads_both_versions_once() -> None:
    card = parse_card(A2A1_MERGED_CARD)
    assert card.protocol_versions == ("0.3", "1.0")
    assert card.interfaces == (
        CardInterface("http://127.0.0.1:18766/", "JSONRPC", "1.0"),
        CardInterface("http://127.0.0.1:18766", "HTTP+JSON", "1.0"),
        CardInterface("http://127.0.0.1:18766/", "JSONRPC", "0.3"),
        CardInterface("http://127.0.0.1:18766", "HTTP+JSON", "0.3"),
    )
    # Declared openai, github; sorted by key (a 1.x server writes protobuf maps in varying order).
    assert [d.key for d in card.demands] == ["github", "openai"]
    assert card.schemes == (
        SecurityScheme(
            name="apiKey",
            kind="apiKey",
            location="header",
            param_name="X-API-Key",
            description="Peer API key",
        ),
        SecurityScheme(name="bearer", kind="http", http_scheme="bearer", bearer_format="JWT"),
    )
    assert card.security == (("bearer",), ("apiKey",))


# Interfaces and versions --------------------------------------------------------------------------


def test_legacy_card_defaults_transport_to_jsonrpc_and_version_to_0_3() -> None:
    data = card_03()
    del data["preferredTransport"], data["protocolVersion"]
    card = parse_card(data)
    assert card.interfaces == (CardInterface("http://127.0.0.1:9000/jsonrpc/", "JSONRPC", "0.3"),)


def test_legacy_additional_interfaces_take_the_card_version() -> None:
    data = card_03(
        protocolVersion="0.3.1",
        additionalInterfaces=[{"transport": "GRPC", "url": "127.0.0.1:9001"}],
    )
    card = parse_card(data)
    assert card.interfaces[1] == CardInterface("127.0.0.1:9001", "GRPC", "0.3")


def test_supported_interface_without_version_is_1_0_and_binding_is_upper_cased() -> None:
    data = card_10(supportedInterfaces=[{"url": "http://h:1/", "protocolBinding": "jsonrpc"}])
    card = parse_card(data)
    assert card.interfaces == (CardInterface("http://h:1/", "JSONRPC", "1.0"),)
    assert card.protocol_versions == ("1.0",)


def test_unknown_binding_is_kept() -> None:
    data = card_10(supportedInterfaces=[{"url": "ws://h:1/", "protocolBinding": "WEBSOCKET"}])
    assert parse_card(data).interfaces[0].binding == "WEBSOCKET"


def test_protocol_versions_are_sorted_numerically_and_unique() -> None:
    data = card_10(
        supportedInterfaces=[
            {"url": "http://h/a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": "http://h/b", "protocolBinding": "JSONRPC", "protocolVersion": "0.10.0"},
            {"url": "http://h/c", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
            {"url": "http://h/d", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0.1"},
        ]
    )
    assert parse_card(data).protocol_versions == ("0.3", "0.10", "1.0")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("0.3.0", "0.3"), ("1.0", "1.0"), ("1", "1.0"), ("v0.2.5", "0.2"), ("1.0.0-rc1", "1.0")],
)
def test_normalise_protocol_version(given: str, expected: str) -> None:
    assert normalise_protocol_version(given) == expected


def test_normalise_protocol_version_rejects_nonsense() -> None:
    with pytest.raises(InvalidCardError, match="not a protocol version"):
        normalise_protocol_version("latest")


def test_missing_description_reads_empty_and_version_none() -> None:
    data = card_10()
    del data["description"], data["version"]
    card = parse_card(data)
    assert (card.description, card.version) == ("", None)


def test_unknown_fields_and_extensions_are_kept_not_fatal() -> None:
    data = card_10(somethingNew={"x": [1, 2]})
    data["capabilities"]["extensions"] = [
        {"uri": "https://example.org/ext/v9", "required": True, "params": {"anything": [1]}},
        # A fork's URI with the same payload is not the secrets extension (PROTOCOL pitfall 14).
        {
            "uri": "https://a2a-extensions.adk.kagenti.dev/auth/secrets/v1",
            "params": {"secret_demands": {"k": {}}},
        },
    ]
    card = parse_card(data)
    assert card.extensions == (
        "https://example.org/ext/v9",
        "https://a2a-extensions.adk.kagenti.dev/auth/secrets/v1",
    )
    assert card.required_extensions == ("https://example.org/ext/v9",)
    assert card.demands == ()
    assert card.raw["somethingNew"] == {"x": [1, 2]}


# Security schemes: PROTOCOL.md §1's table, both shapes -------------------------------------------

SCHEME_CASES: list[tuple[str, dict[str, Any], dict[str, Any], SecurityScheme]] = [
    (
        "apiKey",
        {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        {"apiKeySecurityScheme": {"location": "header", "name": "X-API-Key"}},
        SecurityScheme(name="s", kind="apiKey", location="header", param_name="X-API-Key"),
    ),
    (
        "apiKey-query",
        {"type": "apiKey", "in": "query", "name": "api_key", "description": "key"},
        {"apiKeySecurityScheme": {"location": "query", "name": "api_key", "description": "key"}},
        SecurityScheme(name="s", kind="apiKey", location="query", param_name="api_key", description="key"),
    ),
    (
        "apiKey-cookie",
        {"type": "apiKey", "in": "cookie", "name": "sid"},
        {"apiKeySecurityScheme": {"location": "cookie", "name": "sid"}},
        SecurityScheme(name="s", kind="apiKey", location="cookie", param_name="sid"),
    ),
    (
        "http-bearer",
        {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        {"httpAuthSecurityScheme": {"scheme": "Bearer", "bearerFormat": "JWT"}},
        SecurityScheme(name="s", kind="http", http_scheme="bearer", bearer_format="JWT"),
    ),
    (
        "oauth2",
        {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "https://as/token", "scopes": {"read": "r"}}},
            "oauth2MetadataUrl": "https://as/.well-known/oauth-authorization-server",
        },
        {
            "oauth2SecurityScheme": {
                "flows": {"clientCredentials": {"tokenUrl": "https://as/token", "scopes": {"read": "r"}}},
                "oauth2MetadataUrl": "https://as/.well-known/oauth-authorization-server",
            }
        },
        SecurityScheme(name="s", kind="oauth2"),
    ),
    (
        "openIdConnect",
        {"type": "openIdConnect", "openIdConnectUrl": "https://idp/.well-known/openid-configuration"},
        {"openIdConnectSecurityScheme": {"openIdConnectUrl": "https://idp/.well-known/openid-configuration"}},
        SecurityScheme(name="s", kind="openIdConnect"),
    ),
    (
        "mutualTLS",
        {"type": "mutualTLS"},
        {"mtlsSecurityScheme": {}},
        SecurityScheme(name="s", kind="mutualTLS"),
    ),
]


@pytest.mark.parametrize(
    ("case", "legacy", "current", "expected"), SCHEME_CASES, ids=[c[0] for c in SCHEME_CASES]
)
def test_scheme_reads_the_same_in_both_shapes(
    case: str, legacy: dict[str, Any], current: dict[str, Any], expected: SecurityScheme
) -> None:
    old = parse_card(card_03(securitySchemes={"s": legacy}, security=[{"s": []}]))
    new = parse_card(card_10(securitySchemes={"s": current}, securityRequirements=[{"schemes": {"s": {}}}]))
    assert old.schemes == (expected,)
    assert new.schemes == (expected,)
    assert old.security == new.security == (("s",),)
    # Kind-specific fields travel in scheme_details, without the 0.3 tag.
    assert "type" not in old.scheme_details["s"]
    for member in ("flows", "oauth2MetadataUrl", "openIdConnectUrl"):
        if member in legacy:
            assert old.scheme_details["s"][member] == new.scheme_details["s"][member] == legacy[member]


def test_device_code_flow_survives_in_1_0_details() -> None:
    flows = {
        "deviceCode": {
            "deviceAuthorizationUrl": "https://as/device",
            "tokenUrl": "https://as/t",
            "scopes": {},
        }
    }
    card = parse_card(card_10(securitySchemes={"o": {"oauth2SecurityScheme": {"flows": flows}}}))
    assert card.scheme_details["o"]["flows"] == flows


def test_merged_scheme_prefers_the_1_0_wrapper() -> None:
    # As a 1.3.0 server writes it for a device-code-only scheme: the legacy view lost the flow.
    merged = {
        "oauth2SecurityScheme": {"flows": {"deviceCode": {"tokenUrl": "https://as/t"}}},
        "type": "oauth2",
        "flows": {},
    }
    card = parse_card(card_10(securitySchemes={"o": merged}))
    assert card.schemes[0].kind == "oauth2"
    assert card.scheme_details["o"]["flows"] == {"deviceCode": {"tokenUrl": "https://as/t"}}


@pytest.mark.parametrize(
    ("scheme", "kind"),
    [({"type": "magicLink", "x": 1}, "magicLink"), ({"fidoSecurityScheme": {"rp": "x"}}, "fido")],
)
def test_unknown_scheme_kinds_are_kept(scheme: dict[str, Any], kind: str) -> None:
    card = parse_card(card_10(securitySchemes={"m": scheme}))
    assert card.schemes == (SecurityScheme(name="m", kind=kind),)


# Security requirements ------------------------------------------------------------------------------


def test_requirements_0_3_are_an_or_of_ands() -> None:
    schemes = {"bearer": {"type": "http", "scheme": "bearer"}, "oauth": {"type": "oauth2", "flows": {}}}
    data = card_03(securitySchemes=schemes, security=[{"bearer": []}, {"oauth": ["read"], "bearer": []}, {}])
    assert parse_card(data).security == (("bearer",), ("bearer", "oauth"), ())


def test_requirements_1_0_are_an_or_of_ands() -> None:
    schemes = {
        "bearer": {"httpAuthSecurityScheme": {"scheme": "Bearer"}},
        "oauth": {"oauth2SecurityScheme": {"flows": {}}},
    }
    data = card_10(
        securitySchemes=schemes,
        securityRequirements=[
            {"schemes": {"bearer": {}}},
            {"schemes": {"oauth": {"list": ["read"]}, "bearer": {}}},
        ],
    )
    assert parse_card(data).security == (("bearer",), ("bearer", "oauth"))


def test_requirements_1_0_win_over_0_3_in_a_merged_card() -> None:
    schemes = {"a": {"type": "mutualTLS"}, "b": {"type": "mutualTLS"}}
    data = card_10(
        securitySchemes=schemes, securityRequirements=[{"schemes": {"a": {}}}], security=[{"b": []}]
    )
    assert parse_card(data).security == (("a",),)


# Malformed cards: each rejected with the field named -----------------------------------------------

GH = "card.capabilities.extensions[0].params.secret_demands.github"


def _broken(**overrides: Any) -> dict[str, Any]:
    return card_10(**overrides)


def _demands(demands: object, position: int = 0) -> dict[str, Any]:
    data = card_10()
    data["capabilities"]["extensions"] = [{"uri": f"https://example.org/{i}"} for i in range(position)]
    return with_demands(data, demands, position)


MALFORMED: list[tuple[str, object, str]] = [
    ("not-object", ["a list"], "card: expected an object, got list"),
    ("no-name", {k: v for k, v in card_10().items() if k != "name"}, "card.name: missing"),
    ("name-number", _broken(name=5), "card.name: expected a string, got a number"),
    ("name-blank", _broken(name="  "), "card.name: empty"),
    ("description-list", _broken(description=["x"]), "card.description: expected a string, got a list"),
    ("version-number", _broken(version=1.0), "card.version: expected a string, got a number"),
    (
        "capabilities-string",
        _broken(capabilities="all"),
        "card.capabilities: expected an object, got a string",
    ),
    (
        "streaming-string",
        _broken(capabilities={"streaming": "yes"}),
        "card.capabilities.streaming: expected a boolean",
    ),
    (
        "extensions-object",
        _broken(capabilities={"extensions": {}}),
        "card.capabilities.extensions: expected a list",
    ),
    (
        "extension-no-uri",
        _broken(capabilities={"extensions": [{"required": True}]}),
        "extensions[0].uri: missing",
    ),
    (
        "extension-uri-number",
        _broken(capabilities={"extensions": [{"uri": 7}]}),
        "extensions[0].uri: expected a string",
    ),
    (
        "extension-required-string",
        _broken(capabilities={"extensions": [{"uri": "u", "required": "no"}]}),
        "card.capabilities.extensions[0].required: expected a boolean",
    ),
    (
        "extension-params-list",
        _broken(capabilities={"extensions": [{"uri": "u", "params": []}]}),
        "card.capabilities.extensions[0].params: expected an object",
    ),
    (
        "demand-name-number",
        _demands({"github": {"name": 42}}, position=2),
        "card.capabilities.extensions[2].params.secret_demands.github.name: expected a string, got a number",
    ),
    (
        "demands-list",
        _demands(["github"]),
        "card.capabilities.extensions[0].params.secret_demands: expected an object",
    ),
    ("demand-string", _demands({"github": "GitHub token"}), f"{GH}: expected an object, got a string"),
    (
        "demand-description-number",
        _demands({"github": {"name": "G", "description": 1}}),
        f"{GH}.description: expected",
    ),
    ("demand-key-empty", _demands({"": {"name": "x"}}), "demand key is empty"),
    ("demand-key-control", _demands({"a\x07b": {"name": "x"}}), "contains control character U+0007"),
    ("demand-key-bidi", _demands({"a\u202eb": {"name": "x"}}), "contains control character U+202E"),
    ("demand-key-long", _demands({"k" * 129: {"name": "x"}}), "longer than 128 characters"),
    (
        "demand-name-newline",
        _demands({"github": {"name": "Git\nHub"}}),
        f"{GH}.name: contains control character U+000A",
    ),
    ("demand-name-long", _demands({"github": {"name": "n" * 257}}), f"{GH}.name: longer than 256"),
    (
        "demand-description-bidi",
        _demands({"github": {"name": "G", "description": "ok\u202etxt.exe"}}),
        f"{GH}.description: contains control character U+202E",
    ),
    (
        "too-many-demands",
        _demands({f"k{i}": {"name": "x"} for i in range(101)}),
        "101 demands, more than the 100",
    ),
    (
        "no-interface",
        {k: v for k, v in card_10().items() if k != "supportedInterfaces"},
        "card: no interface",
    ),
    ("interfaces-object", _broken(supportedInterfaces={}), "card.supportedInterfaces: expected a list"),
    (
        "interface-no-url",
        _broken(supportedInterfaces=[{"protocolBinding": "JSONRPC"}]),
        "card.supportedInterfaces[0].url: missing",
    ),
    (
        "interface-binding-number",
        _broken(supportedInterfaces=[{"url": "http://h/", "protocolBinding": 1}]),
        "card.supportedInterfaces[0].protocolBinding: expected a string",
    ),
    (
        "interface-no-binding",
        _broken(supportedInterfaces=[{"url": "http://h/"}]),
        "card.supportedInterfaces[0].protocolBinding: missing",
    ),
    (
        "interface-bad-version",
        _broken(
            supportedInterfaces=[{"url": "http://h/", "protocolBinding": "JSONRPC", "protocolVersion": "new"}]
        ),
        "card.supportedInterfaces[0].protocolVersion: not a protocol version",
    ),
    (
        "interface-jsonrpc-not-http",
        card_03(url="file:///etc/passwd"),
        "card.url: a JSONRPC interface needs an http or https URL",
    ),
    ("legacy-url-number", card_03(url=80), "card.url: expected a string, got a number"),
    (
        "additional-no-transport",
        card_03(additionalInterfaces=[{"url": "http://h/"}]),
        "card.additionalInterfaces[0].transport: missing",
    ),
    ("schemes-list", _broken(securitySchemes=[]), "card.securitySchemes: expected an object"),
    ("scheme-string", _broken(securitySchemes={"s": "bearer"}), "card.securitySchemes.s: expected an object"),
    (
        "scheme-no-type",
        _broken(securitySchemes={"s": {"scheme": "bearer"}}),
        "card.securitySchemes.s: no scheme type",
    ),
    (
        "scheme-two-wrappers",
        _broken(securitySchemes={"s": {"mtlsSecurityScheme": {}, "httpAuthSecurityScheme": {"scheme": "b"}}}),
        "card.securitySchemes.s: more than one scheme type",
    ),
    (
        "apikey-no-name",
        _broken(securitySchemes={"s": {"apiKeySecurityScheme": {"location": "header"}}}),
        "card.securitySchemes.s.apiKeySecurityScheme.name: missing",
    ),
    (
        "apikey-bad-location",
        card_03(securitySchemes={"s": {"type": "apiKey", "in": "body", "name": "k"}}),
        "card.securitySchemes.s.in: expected one of header, query, cookie",
    ),
    (
        "http-no-scheme",
        card_03(securitySchemes={"s": {"type": "http", "bearerFormat": "JWT"}}),
        "card.securitySchemes.s.scheme: missing",
    ),
    (
        "oidc-no-url",
        _broken(securitySchemes={"s": {"openIdConnectSecurityScheme": {}}}),
        "card.securitySchemes.s.openIdConnectSecurityScheme.openIdConnectUrl: missing",
    ),
    (
        "oauth-flows-list",
        card_03(securitySchemes={"s": {"type": "oauth2", "flows": []}}),
        "card.securitySchemes.s.flows: expected an object",
    ),
    (
        "security-undeclared",
        card_03(security=[{"ghost": []}]),
        'card.security[0]: names undeclared security scheme "ghost"',
    ),
    (
        "security-scopes-string",
        card_03(securitySchemes={"s": {"type": "mutualTLS"}}, security=[{"s": "read"}]),
        "card.security[0].s: expected a list, got a string",
    ),
    (
        "requirement-list-string",
        _broken(
            securitySchemes={"s": {"mtlsSecurityScheme": {}}},
            securityRequirements=[{"schemes": {"s": {"list": "read"}}}],
        ),
        "card.securityRequirements[0].schemes.s.list: expected a list",
    ),
    ("nan", _broken(extra=float("nan")), "card: not JSON data"),
    ("odd-key-path", _demands({"a.b c": {"name": 1}}), 'secret_demands["a.b c"].name: expected a string'),
]


@pytest.mark.parametrize(("case", "data", "message"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_card_is_rejected_naming_the_field(case: str, data: object, message: str) -> None:
    with pytest.raises(InvalidCardError) as info:
        parse_card(data)
    assert message in str(info.value)


def test_card_over_one_mebibyte_is_refused() -> None:
    data = card_10(padding="x" * MAX_CARD_BYTES)
    with pytest.raises(InvalidCardError, match="larger than the 1048576 allowed"):
        parse_card(data)


def test_card_just_under_the_limit_parses() -> None:
    data = card_10(padding="")
    room = MAX_CARD_BYTES - len(json.dumps(data, separators=(",", ":")).encode())
    data["padding"] = "x" * room
    assert parse_card(data).name == "demo"


def test_deeply_nested_card_is_refused_not_crashing() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    data = card_10()
    data["extra"] = deep
    with pytest.raises(InvalidCardError, match="nested too deeply"):
        parse_card(data)


def test_duplicate_demand_key_across_two_secrets_extensions_is_refused() -> None:
    data = with_demands(with_demands(card_10(), {"github": {"name": "a"}}), {"github": {"name": "b"}}, 1)
    with pytest.raises(
        InvalidCardError, match=r"card\.capabilities\.extensions\[1\]: demand key 'github' is declared"
    ):
        parse_card(data)


# Demand naming rule and the run-time parser ---------------------------------------------------------


@pytest.mark.parametrize("entry", [{}, {"name": None}, {"name": ""}, {"name": "   "}, {"description": "d"}])
def test_demand_without_a_usable_name_is_labelled_with_its_key(entry: dict[str, Any]) -> None:
    card = parse_card(with_demands(card_10(), {"OPENAI_API_KEY": entry}))
    assert card.demands[0].name == "OPENAI_API_KEY"
    assert card.demands[0].description == entry.get("description")


def test_secrets_extension_without_params_declares_no_demand() -> None:
    data = card_10(capabilities={"extensions": [{"uri": SECRETS_URI}]})
    assert parse_card(data).demands == ()


def test_parse_secret_demands_reads_run_time_metadata() -> None:
    metadata = {"secret_demands": {"github": {"name": "GitHub token", "description": "PAT with repo scope"}}}
    assert parse_secret_demands(metadata, "status.message.metadata") == (
        SecretDemand("github", "GitHub token", "PAT with repo scope"),
    )
    assert parse_secret_demands(None, "x") == ()
    assert parse_secret_demands({"other": 1}, "x") == ()


def test_parse_secret_demands_raises_invalid_demand_with_the_given_path() -> None:
    with pytest.raises(
        InvalidDemandError, match=r"^status\.message\.metadata\.secret_demands\.k\.name: expected"
    ):
        parse_secret_demands({"secret_demands": {"k": {"name": ["x"]}}}, "status.message.metadata")
    with pytest.raises(InvalidDemandError, match=r"^m: expected an object, got a string"):
        parse_secret_demands("secret_demands", "m")


@pytest.mark.parametrize("key", ["github", "SLACK_API_KEY", "k" * 128, "a.b/c d", "clé"])
def test_validate_demand_key_accepts(key: str) -> None:
    assert validate_demand_key(key) == key


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "empty"),
        ("k" * 129, "longer than 128"),
        ("a\nb", "U+000A"),
        ("a\u200bb", "U+200B"),
        ("\x7f", "U+007F"),
    ],
)
def test_validate_demand_key_rejects(key: str, problem: str) -> None:
    with pytest.raises(InvalidDemandError, match=re.escape(problem)):
        validate_demand_key(key)


def test_rejected_key_is_shown_short_and_escaped() -> None:
    with pytest.raises(InvalidDemandError) as info:
        validate_demand_key("\x1b[31m" + "k" * 500)
    message = str(info.value)
    assert "\x1b" not in message
    assert len(message) < 160


# Fingerprint and raw ----------------------------------------------------------------------------------


def _reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


def test_fingerprint_is_sha256_of_the_canonical_json() -> None:
    data = {"name": "Ågent 名前", "b": [1, {"y": None, "x": True}], "a": 1.5}
    canonical = '{"a":1.5,"b":[1,{"x":true,"y":null}],"name":"Ågent 名前"}'
    assert card_fingerprint(data) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_fingerprint_is_stable_under_key_order() -> None:
    shuffled = _reversed_keys(A2A1_MERGED_CARD)
    assert list(shuffled) != list(A2A1_MERGED_CARD)
    assert parse_card(shuffled).fingerprint == parse_card(A2A1_MERGED_CARD).fingerprint
    assert parse_card(A2A1_MERGED_CARD).fingerprint == card_fingerprint(A2A1_MERGED_CARD)


def test_key_order_changes_nothing_in_the_parse() -> None:
    # a2a-sdk 1.x servers write maps in an order that varies by process: the parse must not.
    shuffled = _reversed_keys(A2A1_MERGED_CARD)
    assert parse_card(shuffled) == parse_card(A2A1_MERGED_CARD)
    demands = {"zeta": {"name": "Z"}, "alpha": {"name": "A"}, "mid": {}}
    keys = [d.key for d in parse_card(with_demands(card_10(), demands)).demands]
    assert keys == ["alpha", "mid", "zeta"]
    assert [d.key for d in parse_secret_demands({"secret_demands": demands}, "m")] == keys


def test_interfaces_keep_card_order() -> None:
    interfaces = [
        {"url": f"http://h/{name}", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"} for name in "zay"
    ]
    card = parse_card(card_10(supportedInterfaces=interfaces))
    assert [i.url for i in card.interfaces] == ["http://h/z", "http://h/a", "http://h/y"]


def test_fingerprint_changes_with_a_real_change() -> None:
    changed = copy.deepcopy(AGENTSTACK_CARD)
    changed["capabilities"]["extensions"][2]["params"]["secret_demands"]["github"]["description"] = (
        "any scope"
    )
    assert parse_card(changed).fingerprint != parse_card(AGENTSTACK_CARD).fingerprint
    # A list's order is meaningful (interfaces are in preference order).
    reordered = copy.deepcopy(AGENTSTACK_CARD)
    reordered["additionalInterfaces"].reverse()
    assert card_fingerprint(reordered) != card_fingerprint(AGENTSTACK_CARD)


def test_raw_is_a_read_only_copy() -> None:
    data = card_10()
    card = parse_card(data)
    data["name"] = "changed after parsing"
    assert card.raw["name"] == "demo"
    with pytest.raises(TypeError):
        card.raw["name"] = "x"  # type: ignore[index]


def test_parsed_card_is_equal_for_equal_cards_and_hashable_fields_only_compared() -> None:
    assert parse_card(card_03()) == parse_card(copy.deepcopy(card_03()))
    assert "raw" not in repr(parse_card(card_03()))
