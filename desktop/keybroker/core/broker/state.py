"""The broker's memory between calls: cached values, declines per run, and prompt cooldowns.

All of it lives in memory only and is small and bounded; nothing here does I/O or reads a clock
(callers pass `now`), so each piece is tested on its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from keybroker.core.models import SecretValue


class ValueCache:
    """Granted values by `secret_id`, so a run-time demand on a live grant costs no vault trip.

    The cache never decides anything: the broker only reads it after the policy allowed a release. Each
    secret has a generation that `forget` bumps, so a vault read that started before the value changed
    is not cached after it (`put` with a stale generation is ignored).
    """

    def __init__(self) -> None:
        self._values: dict[str, SecretValue] = {}
        self._generations: dict[str, int] = {}

    def get(self, secret_id: str) -> SecretValue | None:
        """The cached value, or None."""
        return self._values.get(secret_id)

    def generation(self, secret_id: str) -> int:
        """Take this before reading the vault; give it back to `put`."""
        return self._generations.get(secret_id, 0)

    def put(self, secret_id: str, value: SecretValue, generation: int) -> bool:
        """Cache `value` unless `forget(secret_id)` ran since `generation` was taken."""
        if self._generations.get(secret_id, 0) != generation:
            return False
        self._values[secret_id] = value
        return True

    def forget(self, secret_id: str) -> None:
        """Drop a value (updated, removed, or its grant ended); in-flight reads are not cached."""
        self._values.pop(secret_id, None)
        self._generations[secret_id] = self._generations.get(secret_id, 0) + 1

    def retain(self, secret_ids: Iterable[str]) -> list[str]:
        """Keep only these secrets' values; returns the ids dropped."""
        keep = set(secret_ids)
        dropped = [sid for sid in self._values if sid not in keep]
        for sid in dropped:
            self.forget(sid)
        return dropped

    def clear(self) -> None:
        """Drop every value (lock)."""
        for sid in list(self._values):
            self.forget(sid)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, secret_id: object) -> bool:
        return secret_id in self._values

    def __repr__(self) -> str:
        return f"ValueCache({len(self._values)} value(s))"


class RunMemory:
    """Keys declined in a run, so a later demand of the same key in that run is declined without asking.

    Bounded: the least recently touched runs are forgotten beyond `max_runs`.
    """

    def __init__(self, max_runs: int = 1024) -> None:
        if max_runs < 1:
            raise ValueError("max_runs must be at least 1")
        self._max_runs = max_runs
        self._declined: OrderedDict[str, set[str]] = OrderedDict()

    def declined(self, run: str | None, key: str) -> bool:
        """Whether `key` was declined earlier in `run` (None: no run to remember)."""
        if run is None:
            return False
        keys = self._declined.get(run)
        if keys is None:
            return False
        self._declined.move_to_end(run)
        return key in keys

    def decline(self, run: str | None, keys: Iterable[str]) -> None:
        """Remember that `keys` were declined in `run`."""
        keys = set(keys)
        if run is None or not keys:
            return
        self._declined.setdefault(run, set()).update(keys)
        self._declined.move_to_end(run)
        while len(self._declined) > self._max_runs:
            self._declined.popitem(last=False)

    def forget_run(self, run: str) -> None:
        """Forget one run (it ended)."""
        self._declined.pop(run, None)

    def __len__(self) -> int:
        return len(self._declined)


@dataclass(slots=True)
class _AgentQuiet:
    unanswered: int = 0
    until: float | None = None


class Cooldown:
    """After `limit` unanswered prompts in a row from one agent, its prompts are declined unasked until
    `seconds` have passed (DESIGN §4: a hostile agent's repeated demands go quiet instead of flooding the
    desktop). An answered prompt, of any kind, resets the count."""

    def __init__(self, *, limit: int = 2, seconds: float = 300.0) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.seconds = seconds
        self._agents: dict[str, _AgentQuiet] = {}

    def active(self, agent: str, now: float) -> bool:
        """Whether `agent` is cooling down at `now` (an ended cooldown is cleared here)."""
        state = self._agents.get(agent)
        if state is None or state.until is None:
            return False
        if now < state.until:
            return True
        del self._agents[agent]
        return False

    def until(self, agent: str) -> float | None:
        """When the agent's cooldown ends, if one was started."""
        state = self._agents.get(agent)
        return None if state is None else state.until

    def unanswered(self, agent: str, now: float) -> bool:
        """Count one unanswered prompt; True when this one starts a cooldown."""
        state = self._agents.setdefault(agent, _AgentQuiet())
        if state.until is not None and now < state.until:
            return False
        state.unanswered += 1
        if state.unanswered < self.limit:
            return False
        state.unanswered = 0
        state.until = now + self.seconds
        return True

    def answered(self, agent: str) -> None:
        """The user answered a prompt from `agent`: start counting again."""
        self._agents.pop(agent, None)

    def reset(self, agent: str | None = None) -> None:
        """End one agent's cooldown, or every one."""
        if agent is None:
            self._agents.clear()
        else:
            self._agents.pop(agent, None)
