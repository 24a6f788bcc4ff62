# SPDX-License-Identifier: Apache-2.0
"""Which configured model answers a demand best: its `suggested` LiteLLM identifiers against the models
the providers listed (`GET /models`).

Scores, best first, for each suggested identifier in the agent's order:
1. a provider whose preset answers to the identifier's prefix lists the model (`openai/gpt-4o` ->
   OpenAI's `gpt-4o`), or a provider named like the prefix does;
2. a provider lists the whole identifier as a model id (OpenRouter's `openai/gpt-4o`);
3. any provider lists the model part (`ollama/llama3.1` -> a custom server's `llama3.1`).
Every other model stays offered, after the matches; for an embedding demand, models whose id says
"embed" come first among them. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from keybroker.core.broker.prompts import ModelOption
from keybroker.core.llm.presets import preset
from keybroker.core.llm.records import Provider
from keybroker.core.models import ModelDemand

__all__ = ["ModelOption", "identifier_for", "options_for"]


def identifier_for(provider: Provider, model: str) -> str:
    """The LiteLLM-style identifier an agent is told (`openai/gpt-4o`; `openai/<model>` for custom)."""
    prefixes = preset(provider.preset).prefixes
    return f"{prefixes[0] if prefixes else 'openai'}/{model}"


def _score(suggested: str, provider: Provider, model: str) -> int | None:
    prefix, _, rest = suggested.partition("/")
    if rest and (prefix in preset(provider.preset).prefixes or prefix == provider.name) and model == rest:
        return 0
    if model == suggested:
        return 1
    if rest and model == rest:
        return 2
    return None


def options_for(demand: ModelDemand, providers: Iterable[Provider]) -> tuple[ModelOption, ...]:
    """Every configured model as an option for `demand`, the best match first (module docstring)."""
    ranked: list[tuple[tuple[int, int, int], ModelOption]] = []
    suggestions: Sequence[str] = demand.suggested
    for order, provider in enumerate(sorted(providers, key=lambda p: p.name)):
        for position, model in enumerate(provider.models):
            best: tuple[int, int, int] | None = None
            matched = None
            for rank, suggested in enumerate(suggestions):
                score = _score(suggested, provider, model)
                if score is not None and (best is None or (rank, score, 0) < best):
                    best, matched = (rank, score, 0), suggested
            if best is None:
                looks = demand.kind != "embedding" or "embed" in model.lower()
                best = (len(suggestions) + (0 if looks else 1), 9, order * 10_000 + position)
            option = ModelOption(
                provider.name, model, identifier_for(provider, model), provider.handover, matched
            )
            ranked.append((best, option))
    ranked.sort(key=lambda item: item[0])
    return tuple(option for _, option in ranked)
