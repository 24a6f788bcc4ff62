# SPDX-License-Identifier: Apache-2.0
"""Builders and waits shared by the UI tests: agents, prompt items and requests, and `until`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from PySide6.QtCore import QTimer

from keybroker.core.broker.prompts import SCOPE_ORDER, Phase, PromptItem, PromptRequest
from keybroker.core.models import AgentRecord, GrantScope, SecretRecord

_ids = iter(range(1, 1_000_000))


def agent(slug: str = "research", name: str = "Research Assistant") -> AgentRecord:
    """An agent record as the catalog would hold it."""
    return AgentRecord(
        slug=slug,
        url="http://127.0.0.1:9999",
        card_url="http://127.0.0.1:9999/.well-known/agent-card.json",
        name=name,
        description="a test agent",
        protocol_versions=("0.3",),
        fingerprint="f" * 64,
    )


def record(key: str, owner: str | None, secret_id: str | None = None) -> SecretRecord:
    """A stored secret's record (no value: values never leave the vault in these tests)."""
    return SecretRecord(secret_id=secret_id or f"sec_{next(_ids)}", key=key, owner=owner, name=key)


def item(
    key: str = "GITHUB_TOKEN",
    *,
    stored: SecretRecord | None = None,
    offers: tuple[SecretRecord, ...] = (),
    name: str | None = None,
    description: str | None = "PAT with repo scope",
) -> PromptItem:
    """One demanded secret."""
    return PromptItem(
        key=key,
        name=name or key.replace("_", " ").title(),
        description=description,
        reason="no grant for this agent yet",
        stored=stored,
        offers=offers,
    )


def request(
    *items: PromptItem,
    who: AgentRecord | None = None,
    scopes: tuple[GrantScope, ...] = SCOPE_ORDER,
    default: GrantScope = GrantScope.ONCE,
    phase: Phase = "runtime",
    first_contact: bool = False,
    card_changed: bool = False,
    deadline: float = 0.0,
    created: float = 0.0,
    task_id: str | None = "task-1",
    context_id: str | None = "ctx-1",
    caller: str | None = "pid 4242 (python3)",
) -> PromptRequest:
    """A prompt request; one plain item when none is given."""
    return PromptRequest(
        prompt_id=f"pr_{next(_ids)}",
        agent=who or agent(),
        items=items or (item(),),
        phase=phase,
        task_id=task_id,
        context_id=context_id,
        caller=caller,
        first_contact=first_contact,
        card_changed=card_changed,
        scopes=scopes,
        default_scope=default,
        created=created,
        deadline=deadline,
        timeout=max(0.0, deadline - created),
    )


async def until(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """Let the loop (and Qt) run until `condition()` is true; AssertionError after `timeout` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.01)


class ManualTimer(QTimer):
    """A single-shot QTimer that never fires by itself: `fire()` stands for the time passing, so a test
    of a delay needs no sleep. The code under test only calls `start()`, `stop()` and `isActive()`."""

    def __init__(self) -> None:
        super().__init__()
        self.setSingleShot(True)
        self.starts = 0
        self._running = False

    def start(self, msec: int | None = None) -> None:  # type: ignore[override]
        self.starts += 1
        self._running = True

    def stop(self) -> None:
        self._running = False

    def isActive(self) -> bool:
        return self._running

    def fire(self) -> None:
        """The interval has passed."""
        assert self._running, "the timer was not started"
        self._running = False
        self.timeout.emit()
