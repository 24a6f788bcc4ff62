# SPDX-License-Identifier: Apache-2.0
"""Gateway tokens: what an agent gets instead of a provider's key, in memory only.

A token is minted per fulfilment (one task's first message) for one agent and one model grant. It is
found by a keyed hash, never by its plain text, and dies at once when its grant is revoked, when
Keybroker locks, when its task ends (the bridge reports task ends), at its grant's end (MINUTES), and
a day after it was minted at the latest. A restart forgets every token: the next task gets a new one.
"""

from __future__ import annotations

import hashlib
import secrets as _random
import threading
from dataclasses import dataclass, field

from keybroker.core.models import SecretValue

__all__ = ["TOKEN_CEILING", "TOKEN_PREFIX", "GatewayTokens", "TokenGrant"]

TOKEN_PREFIX = "kb-gw-"  # noqa: S105 - a prefix, not a secret
#: A token outlives its task by no more than this when the task's end is never seen.
TOKEN_CEILING = 24 * 60 * 60.0
_KEY = _random.token_bytes(32)


def _digest(plain: str) -> bytes:
    return hashlib.blake2b(plain.encode("utf-8", "surrogatepass"), key=_KEY, digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a token lets an agent do: one model of one provider, as granted."""

    agent: str
    grant_id: str
    demand: str
    provider: str
    model: str
    expires: float
    run_id: str | None = None
    task_id: str | None = field(default=None, compare=False)


class GatewayTokens:
    """The live tokens (module docstring). Thread-safe: a lock may come from another thread."""

    def __init__(self) -> None:
        self._tokens: dict[bytes, TokenGrant] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"GatewayTokens({len(self._tokens)} live)"

    def __len__(self) -> int:
        return len(self._tokens)

    def mint(self, grant: TokenGrant) -> SecretValue:
        """A new token for `grant`."""
        plain = TOKEN_PREFIX + _random.token_urlsafe(32)
        with self._guard:
            self._tokens[_digest(plain)] = grant
        return SecretValue(plain)

    def find(self, plain: str, now: float) -> TokenGrant | None:
        """The grant behind a live token, or None (an expired one is dropped)."""
        digest = _digest(plain)
        grant = self._tokens.get(digest)
        if grant is not None and now >= grant.expires:
            with self._guard:
                self._tokens.pop(digest, None)
            return None
        return grant

    def bind(self, run_id: str, task_id: str) -> None:
        """The run `run_id` now knows its task: its tokens end with that task."""
        with self._guard:
            for digest, grant in list(self._tokens.items()):
                if grant.run_id == run_id and grant.task_id is None:
                    self._tokens[digest] = _with_task(grant, task_id)

    def drop(
        self, *, grant_id: str | None = None, task_id: str | None = None, provider: str | None = None
    ) -> int:
        """End the tokens of a grant, of a task, or of a provider; how many ended."""
        with self._guard:
            doomed = [
                d
                for d, g in self._tokens.items()
                if (grant_id is not None and g.grant_id == grant_id)
                or (task_id is not None and g.task_id == task_id)
                or (provider is not None and g.provider == provider)
            ]
            for digest in doomed:
                del self._tokens[digest]
        return len(doomed)

    def drop_agent(self, agent: str) -> int:
        """End every token of `agent`."""
        with self._guard:
            doomed = [d for d, g in self._tokens.items() if g.agent == agent]
            for digest in doomed:
                del self._tokens[digest]
        return len(doomed)

    def clear(self) -> None:
        """End every token (Keybroker locked)."""
        with self._guard:
            self._tokens = {}


def _with_task(grant: TokenGrant, task_id: str) -> TokenGrant:
    return TokenGrant(
        grant.agent,
        grant.grant_id,
        grant.demand,
        grant.provider,
        grant.model,
        grant.expires,
        grant.run_id,
        task_id,
    )
