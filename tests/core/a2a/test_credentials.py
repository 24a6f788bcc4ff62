# SPDX-License-Identifier: Apache-2.0
"""credentials.py: which requirement the bridge can meet, and how a value goes on the wire."""

from __future__ import annotations

import base64
from dataclasses import replace

import httpx
import pytest

from keybroker.core.a2a.credentials import (
    MARKER,
    CredentialRegistry,
    Credentials,
    CredentialTransport,
    alternatives,
    build_credentials,
    scheme_demand,
)
from keybroker.core.agents.schemes import scheme_supported
from keybroker.core.models import AgentRecord, SecretValue, SecurityScheme

HEADER = SecurityScheme("hdr", "apiKey", location="header", param_name="X-API-Key")
QUERY = SecurityScheme("qry", "apiKey", location="query", param_name="api_key")
COOKIE = SecurityScheme("jar", "apiKey", location="cookie", param_name="session")
BEARER = SecurityScheme("tok", "http", http_scheme="bearer", bearer_format="JWT")
BASIC = SecurityScheme("basic", "http", http_scheme="basic")
OAUTH = SecurityScheme("oauth", "oauth2")
AGENT = AgentRecord(
    slug="a",
    url="http://127.0.0.1:9",
    card_url="http://127.0.0.1:9/.well-known/agent-card.json",
    name="A",
    description="",
    protocol_versions=("1.0",),
    fingerprint="f",
    schemes=(BASIC, BEARER, COOKIE, HEADER, OAUTH, QUERY),
)


def creds(*pairs: tuple[SecurityScheme, str]) -> Credentials:
    found = build_credentials([s for s, _ in pairs], {s.name: SecretValue(v) for s, v in pairs})
    assert found is not None
    return found


def test_requirements_the_bridge_can_meet_in_card_order() -> None:
    agent = replace(
        AGENT,
        security=(
            ("oauth",),
            ("hdr", "qry"),
            ("basic",),
            ("tok",),
            ("hdr", "qry"),
            ("oauth", "tok"),
            ("gone",),
        ),
    )
    assert alternatives(agent) == ((HEADER, QUERY), (BASIC,), (BEARER,))
    assert alternatives(replace(agent, security=())) == ((BASIC,), (BEARER,), (COOKIE,), (HEADER,), (QUERY,))
    assert alternatives(replace(agent, security=(("oauth",),))) == ()
    # With a sign-in at hand (the bridge's TokenSource), OAuth requirements are met too.
    assert alternatives(agent, scheme_supported) == (
        (OAUTH,),
        (HEADER, QUERY),
        (BASIC,),
        (BEARER,),
        (OAUTH, BEARER),
    )


def test_basic_tokens_and_certificates_are_sent_their_own_way() -> None:
    mtls = SecurityScheme("cert", "mutualTLS")
    found = build_credentials(
        [BASIC, OAUTH, mtls], {"basic": SecretValue("alice:pa ss:é"), "oauth": SecretValue("at-1")}
    )
    assert found is not None and found.presented == (mtls,) and found.schemes == (BASIC, OAUTH, mtls)
    sent = found.apply(httpx.Request("GET", "https://agent.test/"))
    # The token comes after basic in this alternative, so it is the one in Authorization.
    assert sent.headers["authorization"] == "Bearer at-1"
    alone = build_credentials([BASIC], {"basic": SecretValue("alice:pa ss:é")})
    assert alone is not None
    header = alone.apply(httpx.Request("GET", "https://agent.test/")).headers["authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == "alice:pa ss:é"
    assert found.value_of("oauth") == SecretValue("at-1") and found.value_of("cert") is None
    for bad in ("no-colon", "a:b\nc"):
        assert build_credentials([BASIC], {"basic": SecretValue(bad)}) is None


def test_scheme_demands_say_what_they_are() -> None:
    assert scheme_demand(HEADER).key == "hdr" and scheme_demand(HEADER).scheme == "hdr"
    assert scheme_demand(HEADER).name == "API key (header X-API-Key)"
    assert scheme_demand(BEARER).name == "Bearer token (JWT)"


def test_each_location_and_the_original_request_is_left_alone() -> None:
    original = httpx.Request(
        "POST", "http://127.0.0.1:9/rpc?x=1", headers={"Cookie": "theme=dark"}, content=b"{}"
    )
    sent = creds((HEADER, "h-v"), (QUERY, "q v&="), (COOKIE, "c-v"), (BEARER, "t-v")).apply(original)
    assert sent.headers["x-api-key"] == "h-v"
    assert sent.headers["authorization"] == "Bearer t-v"
    assert sent.headers["cookie"] == "theme=dark; session=c-v"
    assert sent.url.params["api_key"] == "q v&=" and sent.url.params["x"] == "1"
    assert sent.method == "POST" and sent.read() == b"{}"
    # What httpx logs or puts in an error is the original: no credential there.
    assert "api_key" not in str(original.url)
    assert "x-api-key" not in original.headers and original.headers["cookie"] == "theme=dark"


def test_values_that_cannot_travel_that_way_are_not_sent_and_never_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for scheme, value in ((HEADER, "two\nlines"), (BEARER, " padded "), (COOKIE, "a;b"), (HEADER, "é")):
        assert build_credentials([scheme], {scheme.name: SecretValue(value)}) is None
        assert value not in caplog.text
    assert build_credentials([QUERY], {"qry": SecretValue("any thing é;")}) is not None
    assert build_credentials([HEADER, QUERY], {"hdr": SecretValue("v")}) is None  # AND: both or none
    assert "v" not in repr(creds((HEADER, "v-secret"))).replace("SecretValue", "")


class Recorder(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={})


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("url", "applied"),
    [
        ("http://127.0.0.1:9/", True),
        ("http://localhost:9/", True),
        ("http://[::1]:9/", True),
        ("https://agent.example/", True),
        ("http://agent.example/", False),  # never in clear to a host that is not loopback
        ("http://10.0.0.2:9/", False),
    ],
)
async def test_the_transport_applies_marked_credentials_only_where_safe(url: str, applied: bool) -> None:
    registry = CredentialRegistry()
    inner = Recorder()
    async with httpx.AsyncClient(transport=CredentialTransport(inner, registry)) as client:
        with registry.registered(creds((HEADER, "k-v"))) as marker:
            await client.get(url, headers=marker)
        await client.get(url, headers={MARKER: "stale-marker"})
        await client.get(url)
    first, stale, plain = inner.requests
    assert (first.headers.get("x-api-key") == "k-v") is applied
    for request in (first, stale, plain):
        assert MARKER not in request.headers  # the marker never leaves
    assert "x-api-key" not in stale.headers and "x-api-key" not in plain.headers
    assert registry.get(next(iter(marker.values()))) is None  # gone after the block
