# SPDX-License-Identifier: Apache-2.0
"""bridged_card.py: the agent's card, pointing at the bridge, in both protocol versions."""

from __future__ import annotations

import json

import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.bridge.bridged_card import TOKEN_SCHEME, bridged_base_url, bridged_card, upstream_card
from keybroker.core.errors import InvalidCardError
from tests.bridge.support import SECRETS_URI

BASE = "http://127.0.0.1:7411/agents/secret-peer"

#: The shape agentstack-sdk 0.7.1 serves (PROTOCOL.md §1), trimmed.
AGENTSTACK_CARD = {
    "name": "keybroker-secret-peer",
    "description": "needs secrets",
    "version": "1.0.0",
    "url": "http://127.0.0.1:10000/jsonrpc/",
    "preferredTransport": "JSONRPC",
    "protocolVersion": "0.3.0",
    "additionalInterfaces": [
        {"transport": "HTTP+JSON", "url": "http://127.0.0.1:10000"},
        {"transport": "JSONRPC", "url": "http://127.0.0.1:10000/jsonrpc/"},
    ],
    "capabilities": {
        "streaming": False,
        "pushNotifications": False,
        "extensions": [
            {
                "uri": SECRETS_URI,
                "required": False,
                "params": {"secret_demands": {"github": {"name": "GitHub token", "description": "PAT"}}},
            },
            {
                "uri": "https://a2a-extensions.agentstack.beeai.dev/ui/error/v1",
                "params": {"include_stacktrace": False},
            },
        ],
    },
    "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [{"id": "s1", "name": "Skill one", "description": "does one", "tags": ["a", "b"]}],
    "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
    "security": [{"apiKey": []}],
    "signatures": [{"protected": "eyJhbGciOiJFUzI1NiJ9", "signature": "c2ln"}],
}


def _served(**kwargs: object) -> dict[str, object]:
    card = bridged_card(upstream_card(json.dumps(AGENTSTACK_CARD)), BASE, **kwargs)  # type: ignore[arg-type]
    return agent_card_to_dict(card)


def test_both_versions_both_bindings_at_exactly_the_bridged_url() -> None:
    served = _served()
    interfaces = served["supportedInterfaces"]
    assert {(i["protocolBinding"], i["protocolVersion"], i["url"]) for i in interfaces} == {  # type: ignore[union-attr]
        ("JSONRPC", "1.0", BASE),
        ("HTTP+JSON", "1.0", BASE),
        ("JSONRPC", "0.3", BASE),
        ("HTTP+JSON", "0.3", BASE),
    }
    assert served["url"] == BASE and served["preferredTransport"] == "JSONRPC"
    assert "10000" not in json.dumps(served)


def test_skills_capabilities_and_extensions_are_kept() -> None:
    served = _served()
    assert served["name"] == "keybroker-secret-peer"
    assert served["skills"][0]["name"] == "Skill one"  # type: ignore[index]
    assert served["skills"][0]["tags"] == ["a", "b"]  # type: ignore[index]
    extensions = served["capabilities"]["extensions"]  # type: ignore[index]
    assert [e["uri"] for e in extensions] == [e["uri"] for e in AGENTSTACK_CARD["capabilities"]["extensions"]]  # type: ignore[index]
    assert extensions[0]["params"]["secret_demands"]["github"]["name"] == "GitHub token"
    assert served["capabilities"]["streaming"] is True  # type: ignore[index]  # the bridge streams anyway
    # The bridge sends the API key itself: its scheme leaves the card (test_bridged_card_schemes.py).
    assert "securitySchemes" not in served and "security" not in served
    assert served["defaultInputModes"] == ["text/plain"]


def test_signatures_are_dropped() -> None:
    assert "signatures" not in _served()


def test_require_token_replaces_the_schemes_with_the_bridge_token() -> None:
    served = _served(require_token=True)
    assert list(served["securitySchemes"]) == [TOKEN_SCHEME]  # type: ignore[arg-type]
    assert served["securityRequirements"] == [{"schemes": {TOKEN_SCHEME: {}}}]
    assert served["security"] == [{TOKEN_SCHEME: []}]


def test_bridged_base_url_quotes_the_slug() -> None:
    assert bridged_base_url(7411, "a b/c") == "http://127.0.0.1:7411/agents/a%20b%2Fc"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"name": "x", "supportedInterfaces": "oops"}', "cannot be read"),
        ('{"name": "x", "capabilities": {"streaming": "yes please"}, "url": "http://h"}', "cannot be read"),
        ('{"name": "x"}', "no JSON-RPC or HTTP+JSON interface"),
        (
            '{"name": "x", "supportedInterfaces": [{"url": "grpc://h", "protocolBinding": "GRPC"}]}',
            "no JSON-RPC",
        ),
    ],
)
def test_unreadable_cards_are_invalid_card_errors(text: str, reason: str) -> None:
    with pytest.raises(InvalidCardError) as caught:
        upstream_card(text)
    assert reason in caught.value.message
    assert "Traceback" not in caught.value.message
