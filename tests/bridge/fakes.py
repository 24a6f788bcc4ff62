# SPDX-License-Identifier: Apache-2.0
"""A scripted broker for the bridge tests: the `SecretSource` seam without policy, vault or Qt.

`ScriptedSecrets(values)` grants each key it has a value for and declines the rest. Like the real
broker it "prompts" once per (agent, key): concurrent demands for a key wait on the same prompt, and
a granted key is remembered (an *always* grant), so later runs are served without a prompt
(`releasable` names those); a key passed as `stale` is asked for again. It records every call and
counts prompts, so tests can check how often the user would have been asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from keybroker.core.bridge.ports import Phase
from keybroker.core.models import AgentRecord, SecretDemand, SecretValue


@dataclass(frozen=True)
class FakeFulfilment:
    """What `fulfil` returns (structurally the broker's `Fulfilment`)."""

    values: Mapping[str, SecretValue]
    declined: frozenset[str]
    timed_out: bool = False


@dataclass(frozen=True)
class FulfilCall:
    """One recorded `fulfil` call (keys only: values never leave the fake)."""

    agent: str
    keys: tuple[str, ...]
    phase: Phase
    task_id: str | None
    context_id: str | None
    run_id: str | None
    caller: str | None
    stale: tuple[str, ...] = ()


@dataclass
class ScriptedSecrets:
    """Grants the keys in `values`, declines the rest; `timeout=True` makes every prompt time out."""

    values: dict[str, str] = field(default_factory=dict)
    timeout: bool = False
    prompt_delay: float = 0.0
    remember: bool = True
    calls: list[FulfilCall] = field(default_factory=list)
    prompts: list[tuple[str, str]] = field(default_factory=list)
    _granted: dict[tuple[str, str], SecretValue] = field(default_factory=dict)
    _pending: dict[tuple[str, str], asyncio.Future[SecretValue | None]] = field(default_factory=dict)

    def calls_for(self, phase: Phase) -> list[FulfilCall]:
        """The recorded calls of one phase."""
        return [c for c in self.calls if c.phase == phase]

    async def _prompt(self, agent: str, key: str) -> SecretValue | None:
        self.prompts.append((agent, key))
        if self.prompt_delay:
            await asyncio.sleep(self.prompt_delay)
        if self.timeout or key not in self.values:
            return None
        return SecretValue(self.values[key])

    async def _one(self, agent: str, key: str) -> SecretValue | None:
        known = self._granted.get((agent, key))
        if known is not None:
            return known
        pending = self._pending.get((agent, key))
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._pending[(agent, key)] = pending
            try:
                value = await self._prompt(agent, key)
            except BaseException as exc:
                pending.set_exception(exc)
                raise
            finally:
                self._pending.pop((agent, key), None)
            if value is not None and self.remember:
                self._granted[(agent, key)] = value
            pending.set_result(value)
            return value
        return await asyncio.shield(pending)

    async def fulfil(
        self,
        agent: AgentRecord,
        demands: Sequence[SecretDemand],
        *,
        phase: Phase,
        task_id: str | None,
        context_id: str | None,
        run_id: str | None = None,
        caller: str | None = None,
        stale: Collection[str] = (),
    ) -> FakeFulfilment:
        keys = tuple(d.key for d in demands)
        refused = tuple(k for k in keys if k in stale)
        self.calls.append(FulfilCall(agent.slug, keys, phase, task_id, context_id, run_id, caller, refused))
        for key in refused:  # asked again, whatever was granted before
            self._granted.pop((agent.slug, key), None)
        answers = await asyncio.gather(*(self._one(agent.slug, k) for k in keys))
        values = {k: v for k, v in zip(keys, answers, strict=True) if v is not None}
        return FakeFulfilment(values=values, declined=frozenset(keys) - values.keys(), timed_out=self.timeout)

    def releasable(self, agent: AgentRecord, demands: Sequence[SecretDemand]) -> frozenset[str]:
        """Keys granted before (remembered): what `fulfil` returns without "prompting"."""
        return frozenset(d.key for d in demands if (agent.slug, d.key) in self._granted)

    async def fulfil_if_granted(
        self,
        agent: AgentRecord,
        demands: Sequence[SecretDemand],
        *,
        phase: Phase,
        task_id: str | None,
        context_id: str | None,
        run_id: str | None = None,
        caller: str | None = None,
    ) -> FakeFulfilment | None:
        """`fulfil` when every key was granted before (recorded as a call), else None (no call)."""
        if self.releasable(agent, demands) != {d.key for d in demands}:
            return None
        return await self.fulfil(
            agent, demands, phase=phase, task_id=task_id, context_id=context_id, run_id=run_id, caller=caller
        )


def keys_of(calls: Iterable[FulfilCall]) -> list[tuple[str, ...]]:
    """The key tuples of some calls, for compact assertions."""
    return [c.keys for c in calls]
