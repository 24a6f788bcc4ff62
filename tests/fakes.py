"""Fakes shared by tests: named for their behaviour (STYLE.md)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from keybroker.core.broker.prompts import PromptAnswer, PromptRequest


class FakeClock:
    """A clock that only moves when told."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class _Never:
    """Sentinel: this prompt is never answered (the broker's deadline must end it)."""

    def __repr__(self) -> str:
        return "NEVER"


NEVER = _Never()
Scripted = PromptAnswer | Callable[[PromptRequest], PromptAnswer] | _Never


class ScriptedPrompter:
    """Replays queued answers (or `NEVER`), records every request, and can delay or hold its answers.

    An entry may be a `PromptAnswer`, a function of the request returning one, or `NEVER`. With the queue
    empty, `default` answers; without a default an unexpected prompt fails the test. `gate`, when given,
    holds every answer until the test sets it. `cancelled` lists the prompt ids whose `ask` was cancelled.
    """

    def __init__(
        self,
        *answers: Scripted,
        default: Scripted | None = None,
        delay: float = 0.0,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.answers: deque[Scripted] = deque(answers)
        self.default = default
        self.delay = delay
        self.gate = gate
        self.requests: list[PromptRequest] = []
        self.cancelled: list[str] = []
        self._seen: asyncio.Condition | None = None

    def queue(self, *answers: Scripted) -> None:
        self.answers.extend(answers)

    async def ask(self, request: PromptRequest) -> PromptAnswer:
        self.requests.append(request)
        async with self._condition():
            self._condition().notify_all()
        entry = self.answers.popleft() if self.answers else self.default
        if entry is None:
            raise AssertionError(f"unexpected prompt {request.prompt_id} for {request.keys}")
        try:
            if isinstance(entry, _Never):
                await asyncio.Event().wait()
            if self.gate is not None:
                await self.gate.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled.append(request.prompt_id)
            raise
        assert not isinstance(entry, _Never)
        return entry(request) if callable(entry) else entry

    async def wait_for_requests(self, count: int = 1, timeout: float = 5.0) -> list[PromptRequest]:
        """Until `count` prompts have been asked in all; returns them."""
        async with asyncio.timeout(timeout), self._condition():
            await self._condition().wait_for(lambda: len(self.requests) >= count)
        return self.requests

    def _condition(self) -> asyncio.Condition:
        if self._seen is None:
            self._seen = asyncio.Condition()
        return self._seen


class RecordingNotifier:
    """A `Notifier` that keeps what it was told."""

    def __init__(self) -> None:
        self.notices: list[tuple[str, str]] = []

    def notify(self, title: str, body: str) -> None:
        self.notices.append((title, body))
