"""What `keybroker send` tells the person beside the reply: that a prompt waits for their answer
(the bridge says nothing to a client while it waits), and which declared secret the agent ran without.

Both on stderr, so stdout keeps the agent's reply alone. Both read the running instance's management
API (`/prompts`, the audit log); neither may break a send, so their failures are only logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from keybroker.cli.output import info

if TYPE_CHECKING:
    from keybroker.cli.api_client import ApiClient
    from keybroker.core.admin import Admin
    from keybroker.core.agents.status import AgentStatus

log = logging.getLogger("keybroker.cli")

T = TypeVar("T")

#: Most runs need no prompt: the first look waits this long, then one look a second.
FIRST_LOOK = 0.5
LOOK_EVERY = 1.0


def waiting_line(deadline: float, now: float) -> str:
    """`waiting for your answer in Keybroker (declines in 4:59)…`."""
    if deadline <= 0:
        return "waiting for your answer in Keybroker…"
    left = max(0, int(deadline - now + 0.999))
    return f"waiting for your answer in Keybroker (declines in {left // 60}:{left % 60:02d})…"


async def watch_prompts(api: ApiClient, slug: str) -> None:
    """Say once per prompt of agent `slug` that it waits for the user, until cancelled."""
    seen: set[str] = set()
    await asyncio.sleep(FIRST_LOOK)
    while True:
        try:
            prompts = await asyncio.to_thread(api.prompts, agent=slug)
        except Exception as exc:  # an older instance without /prompts, or one going away
            log.info("send: cannot see the instance's prompts (%s)", type(exc).__name__)
            return
        for prompt in prompts:
            if prompt.get("prompt_id") not in seen:
                seen.add(str(prompt.get("prompt_id")))
                info(waiting_line(float(prompt.get("deadline") or 0), time.time()))
        await asyncio.sleep(LOOK_EVERY)


async def watching(run: Coroutine[Any, Any, T], api: ApiClient | None, slug: str) -> T:
    """`run`, with `watch_prompts` beside it while it lasts (when the instance's API is at hand)."""
    watcher = asyncio.ensure_future(watch_prompts(api, slug)) if api is not None else None
    try:
        return await run
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


def warn_not_given(admin: Admin, agent: AgentStatus, since: float) -> None:
    """A warning per secret the agent's card declares that this run's prompts declined or let time out."""
    from keybroker.core.models import AuditDecision

    declared = {d.key: d.name for d in agent.demands}
    if not declared:
        return
    try:
        events = admin.audit_events(agent=agent.slug, since=since)
    except Exception as exc:
        log.info("send: cannot read the audit log (%s)", type(exc).__name__)
        return
    warned: set[str] = set()
    for event in events:
        key = event.key
        if key is None or key not in declared or key in warned:
            continue
        if event.decision is AuditDecision.TIMED_OUT:
            why = "the prompt was not answered in time"
        elif event.decision is AuditDecision.DENIED:
            why = event.detail or "declined"
        else:
            continue
        warned.add(key)
        name = f" ({declared[key]})" if declared[key] and declared[key] != key else ""
        info(f"warning: {agent.slug} ran without {key}{name}: {why}")
