# SPDX-License-Identifier: Apache-2.0
"""Requests and tokens per agent, provider, model and day; per-agent request budgets.

The gateway counts every request it forwards (`usage` from the answer, or from the last chunk of a
stream when the agent asked for `stream_options.include_usage`). A budget caps an agent's requests
per (UTC) day: the gateway refuses the next one with an OpenAI-style 429. Today's counts are kept in
memory too, so checking a budget reads no database.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import InvalidInputError
from keybroker.core.llm.records import UsageRow

__all__ = ["MAX_BUDGET", "Tokens", "UsageBook", "day_of"]

MAX_BUDGET = 10_000_000


def day_of(ts: float) -> str:
    """The UTC day of `ts`, `2026-12-07`."""
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


@dataclass(frozen=True, slots=True)
class Tokens:
    """An answer's `usage` (zeros when it had none)."""

    prompt: int = 0
    completion: int = 0
    total: int = 0

    @classmethod
    def of(cls, usage: object) -> Tokens:
        """Read an OpenAI `usage` object; anything malformed counts as none."""
        if not isinstance(usage, Mapping):
            return cls()

        def count(name: str) -> int:
            value = usage.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

        prompt, completion = count("prompt_tokens"), count("completion_tokens")
        return cls(prompt, completion, count("total_tokens") or prompt + completion)


class UsageBook:
    """Counts and budgets (module docstring)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._today: dict[tuple[str, str], int] = {}
        #: `budgets()`, read once (the gateway asks on every request); `set_budget` empties it.
        self._budgets: dict[str, int] | None = None

    def record(self, agent: str, provider: str, model: str, tokens: Tokens, *, error: bool = False) -> None:
        """Count one request."""
        day = day_of(self._catalog.clock.now())
        key = (agent, day)
        self._today[key] = self.requests_today(agent, day) + 1
        with self._catalog.transaction() as conn:
            conn.execute(
                "INSERT INTO model_usage (agent, provider, model, day, requests, errors, prompt_tokens, "
                "completion_tokens, total_tokens) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?) "
                "ON CONFLICT (agent, provider, model, day) DO UPDATE SET requests = requests + 1, "
                "errors = errors + excluded.errors, prompt_tokens = prompt_tokens + excluded.prompt_tokens, "
                "completion_tokens = completion_tokens + excluded.completion_tokens, "
                "total_tokens = total_tokens + excluded.total_tokens",
                (agent, provider, model, day, int(error), tokens.prompt, tokens.completion, tokens.total),
            )

    def requests_today(self, agent: str, day: str | None = None) -> int:
        """The agent's requests on `day` (today by default)."""
        day = day or day_of(self._catalog.clock.now())
        known = self._today.get((agent, day))
        if known is None:
            rows = self._catalog.query(
                "SELECT COALESCE(SUM(requests), 0) FROM model_usage WHERE agent = ? AND day = ?", (agent, day)
            )
            known = int(rows[0][0])
            self._today = {k: v for k, v in self._today.items() if k[1] == day}
            self._today[(agent, day)] = known
        return known

    def rows(self, *, agent: str | None = None, by_day: bool = False) -> list[UsageRow]:
        """Usage per agent, provider and model (and day with `by_day`), summed over days otherwise."""
        day = "day" if by_day else "''"
        where = " WHERE agent = ?" if agent else ""
        rows = self._catalog.query(
            f"SELECT agent, provider, model, SUM(requests), SUM(errors), SUM(prompt_tokens), "
            f"SUM(completion_tokens), SUM(total_tokens), {day} FROM model_usage{where} "
            f"GROUP BY agent, provider, model, {day} ORDER BY agent, provider, model, {day}",
            (agent,) if agent else (),
        )
        return [
            UsageRow(
                str(r[0]),
                str(r[1]),
                str(r[2]),
                int(r[3]),
                int(r[4]),
                int(r[5]),
                int(r[6]),
                int(r[7]),
                str(r[8]),
            )
            for r in rows
        ]

    # budgets -----------------------------------------------------------------------------------

    def budget(self, agent: str) -> int | None:
        """The agent's requests per day, or None for no cap."""
        if self._budgets is None:
            self._budgets = self.budgets()
        return self._budgets.get(agent)

    def budgets(self) -> dict[str, int]:
        """Every agent's cap."""
        return {
            str(r[0]): int(r[1])
            for r in self._catalog.query("SELECT agent, requests_per_day FROM model_budgets")
        }

    def set_budget(self, agent: str, per_day: int | None) -> None:
        """Cap `agent`'s model requests per day (None: no cap)."""
        self._budgets = None
        with self._catalog.transaction() as conn:
            if per_day is None:
                conn.execute("DELETE FROM model_budgets WHERE agent = ?", (agent,))
                return
            if not 0 <= per_day <= MAX_BUDGET:
                raise InvalidInputError(f"a budget is 0-{MAX_BUDGET} requests a day, not {per_day}")
            conn.execute(
                "INSERT OR REPLACE INTO model_budgets (agent, requests_per_day) VALUES (?, ?)",
                (agent, per_day),
            )
