# SPDX-License-Identifier: Apache-2.0
"""Fetch and parse the cards of real peers: agentstack-sdk 0.7.1 (A2A 0.3) and a2a-sdk 1.x (1.0 + 0.3).

Besides our own expectations, each card is checked against a2a-sdk 1.x's own reading of it
(`parse_agent_card`), and re-parsed in the pure 1.0 and pure 0.3 shapes that the SDK derives from
it: all three must read the same to us.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from a2a.client.card_resolver import parse_agent_card
from a2a.compat.v0_3.conversions import to_compat_agent_card
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]

from keybroker.core.a2a.card import (
    SECRETS_EXTENSION_URI,
    CardInterface,
    ParsedCard,
    card_fingerprint,
    normalise_protocol_version,
    parse_card,
)
from keybroker.core.a2a.card_fetch import fetch_card, fetch_card_sync
from keybroker.core.errors import InvalidCardError
from keybroker.core.models import SecretDemand, SecurityScheme
from tests.interop.conftest import RunningPeer


def _pure_10(data: dict[str, Any]) -> dict[str, Any]:
    """The card as a2a-sdk 1.x reads it, written back as pure 1.0 JSON."""
    result: dict[str, Any] = MessageToDict(parse_agent_card(copy.deepcopy(data)))
    return result


def _pure_03(data: dict[str, Any]) -> dict[str, Any]:
    """The card's legacy view as a2a-sdk 1.x writes it, without the 1.0 members."""
    compat = to_compat_agent_card(parse_agent_card(copy.deepcopy(data)))
    result: dict[str, Any] = compat.model_dump(mode="json", by_alias=True, exclude_none=True)
    return result


def _same_reading(a: ParsedCard, b: ParsedCard) -> None:
    assert a.name == b.name
    assert set(a.interfaces) == set(b.interfaces)
    assert a.demands == b.demands
    assert a.schemes == b.schemes
    assert a.security == b.security
    assert a.streaming == b.streaming


def _check_sdk_agrees(data: dict[str, Any], ours: ParsedCard) -> None:
    """a2a-sdk 1.x's parse of the same JSON has the same interfaces and schemes."""
    sdk = parse_agent_card(copy.deepcopy(data))
    sdk_interfaces = {
        CardInterface(i.url, i.protocol_binding, normalise_protocol_version(i.protocol_version))
        for i in sdk.supported_interfaces
    }
    assert sdk_interfaces == set(ours.interfaces)
    assert set(sdk.security_schemes) == {s.name for s in ours.schemes}
    assert [tuple(r.schemes) for r in sdk.security_requirements] == list(ours.security)
    assert sdk.capabilities.streaming == ours.streaming


# agentstack-sdk 0.7.1 ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_agentstack_card(agentstack_agent: RunningPeer) -> None:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        fetched = await fetch_card(agentstack_agent.base_url + "/", client)
    base = agentstack_agent.base_url
    card = fetched.parsed
    assert fetched.card_url == base + "/.well-known/agent-card.json"
    assert card.name == "keybroker-secret-peer"
    assert card.protocol_versions == ("0.3",)
    assert fetched.data["protocolVersion"] == "0.3.0"
    assert card.streaming is True
    # JSON-RPC lives at /jsonrpc/ (PROTOCOL §1), REST at the root.
    assert card.interfaces_for("JSONRPC", "0.3") == (CardInterface(f"{base}/jsonrpc/", "JSONRPC", "0.3"),)
    assert card.interfaces_for("HTTP+JSON", "0.3") == (CardInterface(base, "HTTP+JSON", "0.3"),)
    assert card.demands == (
        SecretDemand("github", "GitHub token", "PAT with repo scope"),
        SecretDemand("slack", "Slack bot token", "xoxb- token for posting messages"),
    )
    assert SECRETS_EXTENSION_URI in card.extensions
    assert "https://a2a-extensions.agentstack.beeai.dev/ui/agent-detail/v1" in card.extensions
    # self_registration=False: no platform-self-registration extension on the card.
    assert not any("self-registration" in uri for uri in card.extensions)
    assert card.schemes == () and card.security == ()
    assert card.fingerprint == card_fingerprint(fetched.data)
    _check_sdk_agrees(fetched.data, card)
    _same_reading(card, parse_card(_pure_10(fetched.data)))


def test_agentstack_card_sync_and_stable(agentstack_agent: RunningPeer) -> None:
    first = fetch_card_sync(agentstack_agent.card_url)
    second = fetch_card_sync(agentstack_agent.base_url)
    assert first.parsed.fingerprint == second.parsed.fingerprint
    assert first.base_url == agentstack_agent.base_url


def test_agentstack_has_no_legacy_card_path(agentstack_agent: RunningPeer) -> None:
    with pytest.raises(InvalidCardError, match="HTTP 404"):
        fetch_card_sync(agentstack_agent.base_url + "/.well-known/agent.json")


# a2a-sdk 1.x ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a2a1_merged_card(a2a1_agent: RunningPeer) -> None:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        fetched = await fetch_card(a2a1_agent.base_url, client)
    base = a2a1_agent.base_url
    card = fetched.parsed
    data = fetched.data
    # The SDK serves both shapes in one card (PROTOCOL §1, agent_card_to_dict).
    assert "supportedInterfaces" in data and data["url"] == base + "/"
    assert data["securitySchemes"]["apiKey"]["type"] == "apiKey"
    assert "apiKeySecurityScheme" in data["securitySchemes"]["apiKey"]
    assert card.protocol_versions == ("0.3", "1.0")
    assert set(card.interfaces) == {
        CardInterface(base + "/", "JSONRPC", "1.0"),
        CardInterface(base, "HTTP+JSON", "1.0"),
        CardInterface(base + "/", "JSONRPC", "0.3"),
        CardInterface(base, "HTTP+JSON", "0.3"),
    }
    assert len(card.interfaces) == 4
    assert card.demands == (
        SecretDemand("github", "GitHub token", "PAT with repo scope"),
        SecretDemand("openai", "OpenAI API key", "sk- key for the completions API"),
    )
    assert {s.name: s for s in card.schemes} == {
        "apiKey": SecurityScheme(
            name="apiKey",
            kind="apiKey",
            location="header",
            param_name="X-API-Key",
            description="Peer API key",
        ),
        "bearer": SecurityScheme(name="bearer", kind="http", http_scheme="bearer", bearer_format="JWT"),
    }
    assert card.security == (("bearer",), ("apiKey",))
    assert card.fingerprint == card_fingerprint(data)


def test_a2a1_card_reads_the_same_in_each_shape(a2a1_agent: RunningPeer) -> None:
    fetched = fetch_card_sync(a2a1_agent.base_url)
    merged = fetched.parsed
    pure_10 = parse_card(_pure_10(fetched.data))
    assert "url" not in _pure_10(fetched.data)
    _same_reading(merged, pure_10)
    # The legacy view keeps only the 0.3 interfaces, but the same demands, schemes and requirements.
    legacy = _pure_03(fetched.data)
    assert "supportedInterfaces" not in legacy
    pure_03 = parse_card(legacy)
    assert pure_03.protocol_versions == ("0.3",)
    assert set(pure_03.interfaces) == set(
        merged.interfaces_for("JSONRPC", "0.3") + merged.interfaces_for("HTTP+JSON", "0.3")
    )
    assert (pure_03.demands, pure_03.schemes, pure_03.security) == (
        merged.demands,
        merged.schemes,
        merged.security,
    )


def test_a2a1_pure_10_card_agrees_with_the_sdk(a2a1_agent: RunningPeer) -> None:
    fetched = fetch_card_sync(a2a1_agent.base_url)
    pure = _pure_10(fetched.data)
    _check_sdk_agrees(pure, parse_card(pure))
