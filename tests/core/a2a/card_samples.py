# SPDX-License-Identifier: Apache-2.0
"""Agent cards as real servers wrote them (captured from the interop peers), for offline tests.

`AGENTSTACK_CARD`: agentstack-sdk 0.7.1 (A2A 0.3), tests/interop/agents/agentstack_secret_agent.py.
`A2A1_MERGED_CARD`: a2a-sdk 1.3.0 serving 1.0 and 0.3 (the merged card), tests/interop/agents/a2a1_agent.py.
tests/interop/test_cards_live.py checks the live peers still serve these shapes.
"""

from __future__ import annotations

import copy
from typing import Any

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"

AGENTSTACK_CARD: dict[str, Any] = {
    "additionalInterfaces": [
        {"transport": "HTTP+JSON", "url": "http://127.0.0.1:18765"},
        {"transport": "JSONRPC", "url": "http://127.0.0.1:18765/jsonrpc/"},
    ],
    "capabilities": {
        "extensions": [
            {
                "params": {
                    "interaction_mode": "multi-turn",
                    "user_greeting": "Test peer",
                    "tools": None,
                    "programming_language": "Python",
                    "variables": None,
                },
                "required": False,
                "uri": "https://a2a-extensions.agentstack.beeai.dev/ui/agent-detail/v1",
            },
            {
                "params": {"include_stacktrace": False},
                "required": False,
                "uri": "https://a2a-extensions.agentstack.beeai.dev/ui/error/v1",
            },
            {
                "params": {
                    "secret_demands": {
                        "github": {"name": "GitHub token", "description": "PAT with repo scope"},
                        "slack": {
                            "name": "Slack bot token",
                            "description": "xoxb- token for posting messages",
                        },
                    }
                },
                "required": False,
                "uri": SECRETS_URI,
            },
        ],
        "streaming": True,
    },
    "defaultInputModes": ["text"],
    "defaultOutputModes": ["text"],
    "description": "Test peer: needs a GitHub and a Slack token; replies with proofs, never the values.",
    "name": "keybroker-secret-peer",
    "preferredTransport": "JSONRPC",
    "protocolVersion": "0.3.0",
    "skills": [],
    "url": "http://127.0.0.1:18765/jsonrpc/",
    "version": "1.0.0",
}

A2A1_MERGED_CARD: dict[str, Any] = {
    "name": "keybroker-a2a1-peer",
    "description": "Test peer (a2a-sdk 1.x)",
    "supportedInterfaces": [
        {"url": "http://127.0.0.1:18766/", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
        {"url": "http://127.0.0.1:18766", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
        {"url": "http://127.0.0.1:18766/", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
        {"url": "http://127.0.0.1:18766", "protocolBinding": "HTTP+JSON", "protocolVersion": "0.3"},
    ],
    "version": "1.0.0",
    "capabilities": {
        "streaming": True,
        "extensions": [
            {
                "uri": SECRETS_URI,
                "params": {
                    "secret_demands": {
                        "openai": {
                            "name": "OpenAI API key",
                            "description": "sk- key for the completions API",
                        },
                        "github": {"name": "GitHub token", "description": "PAT with repo scope"},
                    }
                },
                "required": False,
            }
        ],
    },
    "securitySchemes": {
        "bearer": {
            "httpAuthSecurityScheme": {"scheme": "Bearer", "bearerFormat": "JWT"},
            "bearerFormat": "JWT",
            "scheme": "Bearer",
            "type": "http",
        },
        "apiKey": {
            "apiKeySecurityScheme": {
                "description": "Peer API key",
                "location": "header",
                "name": "X-API-Key",
            },
            "description": "Peer API key",
            "in": "header",
            "name": "X-API-Key",
            "type": "apiKey",
        },
    },
    "securityRequirements": [{"schemes": {"bearer": {}}}, {"schemes": {"apiKey": {}}}],
    "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [{"id": "proof", "name": "Prove secrets", "description": "Proofs.", "tags": ["secrets"]}],
    "additionalInterfaces": [{"transport": "HTTP+JSON", "url": "http://127.0.0.1:18766"}],
    "preferredTransport": "JSONRPC",
    "protocolVersion": "0.3",
    "security": [{"bearer": []}, {"apiKey": []}],
    "url": "http://127.0.0.1:18766/",
}


def card_03(**overrides: Any) -> dict[str, Any]:
    """A minimal valid 0.3 card, with top-level members replaced by `overrides`."""
    card: dict[str, Any] = {
        "name": "demo",
        "description": "a demo agent",
        "url": "http://127.0.0.1:9000/jsonrpc/",
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3.0",
        "version": "0.1",
        "capabilities": {"streaming": False, "extensions": []},
        "defaultInputModes": ["text"],
        "defaultOutputModes": ["text"],
        "skills": [],
    }
    card.update(copy.deepcopy(overrides))
    return card


def card_10(**overrides: Any) -> dict[str, Any]:
    """A minimal valid 1.0 card, with top-level members replaced by `overrides`."""
    card: dict[str, Any] = {
        "name": "demo",
        "description": "a demo agent",
        "supportedInterfaces": [
            {"url": "http://127.0.0.1:9000/", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        ],
        "version": "0.1",
        "capabilities": {"streaming": True},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [],
    }
    card.update(copy.deepcopy(overrides))
    return card


def with_demands(card: dict[str, Any], demands: object, position: int = 0) -> dict[str, Any]:
    """`card` with the secrets extension (params `{"secret_demands": demands}`) at `position`."""
    extensions = card.setdefault("capabilities", {}).setdefault("extensions", [])
    extensions.insert(position, {"uri": SECRETS_URI, "params": {"secret_demands": demands}})
    return card
