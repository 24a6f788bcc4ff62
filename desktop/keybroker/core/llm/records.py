# SPDX-License-Identifier: Apache-2.0
"""Model access records: providers, model grants, usage rows. No value is ever held here.

A provider's key lives in the vault under `key_account`; a gateway token only in memory (tokens.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keybroker.core.catalog.rows import BOOL, Rows, enum_codec, json_tuple
from keybroker.core.models import GrantScope, from_json

__all__ = [
    "GRANT_ROWS",
    "PROVIDER_ROWS",
    "ModelGrant",
    "Provider",
    "UsageRow",
]


@dataclass(frozen=True, slots=True)
class Provider:
    """An OpenAI-compatible API the user added: `base_url` ends before `/chat/completions`."""

    name: str
    base_url: str
    preset: str = ""
    #: The vault account holding the key; None for a server that needs none (Ollama, LM Studio).
    key_account: str | None = None
    #: The user allows handing the real key to an agent (else only the gateway serves this provider).
    handover: bool = False
    models: tuple[str, ...] = ()
    models_checked: float | None = None
    #: Why the provider failed last, e.g. "refuses its key (HTTP 401)"; None while it works.
    status: str | None = None
    created: float = 0.0
    updated: float = 0.0

    @property
    def has_key(self) -> bool:
        """True when a key is stored for it."""
        return self.key_account is not None

    def to_json(self) -> dict[str, Any]:
        """The `models list --json` shape (never the key, nor where it is kept)."""
        return {
            "name": self.name,
            "base_url": self.base_url,
            "preset": self.preset,
            "has_key": self.has_key,
            "handover": self.handover,
            "models": list(self.models),
            "models_checked": self.models_checked,
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Provider:
        """The provider `to_json` described (an API answer); `key_account` is a marker only."""
        provider: Provider = from_json(cls, data, models=tuple)
        return _with_key_marker(provider, bool(data.get("has_key")))


def _with_key_marker(provider: Provider, has_key: bool) -> Provider:
    from dataclasses import replace

    return replace(provider, key_account="(in the instance's vault)" if has_key else None)


@dataclass(frozen=True, slots=True)
class ModelGrant:
    """Agent `agent`'s demand `demand` (`llm:default`) answered with `provider`'s `model`, for a scope.

    `handover`: the agent gets the provider's real key; else (the default) the gateway and a token.
    """

    grant_id: str
    agent: str
    demand: str
    provider: str
    model: str
    handover: bool
    scope: GrantScope
    created: float
    expires: float | None = None
    task_id: str | None = None
    context_id: str | None = None
    card_fingerprint: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "grant_id": self.grant_id,
            "agent": self.agent,
            "demand": self.demand,
            "provider": self.provider,
            "model": self.model,
            "handover": self.handover,
            "scope": self.scope.value,
            "created": self.created,
            "expires": self.expires,
            "task_id": self.task_id,
            "context_id": self.context_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelGrant:
        """The grant `to_json` described."""
        return from_json(cls, data, scope=GrantScope)


@dataclass(frozen=True, slots=True)
class UsageRow:
    """What one agent did with one provider's model (one day, or summed over days)."""

    agent: str
    provider: str
    model: str
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    day: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "agent": self.agent,
            "provider": self.provider,
            "model": self.model,
            "day": self.day or None,
            "requests": self.requests,
            "errors": self.errors,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UsageRow:
        """The row `to_json` described."""
        row: UsageRow = from_json(cls, {**data, "day": data.get("day") or ""})
        return row


PROVIDER_ROWS: Rows[Provider] = Rows(Provider, {"handover": BOOL, "models": json_tuple(lambda m: m, str)})
GRANT_ROWS: Rows[ModelGrant] = Rows(ModelGrant, {"handover": BOOL, "scope": enum_codec(GrantScope)})
