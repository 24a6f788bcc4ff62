# SPDX-License-Identifier: Apache-2.0
"""Upstream exchanges for a run (run.py's `Leg`): a followed stream, a blocking send, one plain send.

Each retries once with fresh card credentials after an HTTP 401 that came before any event (A2X's
client re-sends the original request once, PROTOCOL pitfall 28), and turns any other failure into a
clean A2A error naming the agent (`BridgeRun.failure`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from a2a.types import Message, SendMessageRequest, StreamResponse, Task
from a2a.utils.errors import InvalidAgentResponseError

from keybroker.core.bridge.collector import stream_payload

if TYPE_CHECKING:
    from a2a.server.events.event_queue import Event

    from keybroker.core.bridge.run import BridgeRun, Interrupt, Leg

__all__ = ["replay_then", "send", "send_leg", "stream_leg"]

#: After an answerable `auth-required`, the agent should close its stream; wait this long for it.
DRAIN_SECONDS = 2.0


def replay_then(event: Event, interrupt: Interrupt, follow: Leg) -> Leg:
    """A leg that first yields what the fast path already received (`event`, its `interrupt`), then
    answers the resumes with `follow` (send_leg or stream_leg): the full path takes a run over."""
    used = False

    async def leg(
        run: BridgeRun, request: SendMessageRequest, extensions: set[str]
    ) -> AsyncGenerator[tuple[Event, Interrupt | None], None]:
        nonlocal used
        if not used:
            used = True
            yield event, interrupt
            return
        async with contextlib.aclosing(follow(run, request, extensions)) as answers:
            async for item in answers:
                yield item

    return leg


async def stream_leg(
    run: BridgeRun, request: SendMessageRequest, extensions: set[str]
) -> AsyncGenerator[tuple[Event, Interrupt | None], None]:
    """The agent's stream: events as (event, None); last, (auth-required event, interrupt) when answerable.

    After an answerable demand the agent is given a moment to close its stream by itself (closing it
    first might look like a client that went away); what it sends meanwhile goes nowhere.
    """
    loop = asyncio.get_running_loop()
    pending: tuple[Event, Interrupt] | None = None
    try:
        async with asyncio.timeout(None) as deadline:
            async with contextlib.aclosing(_upstream_events(run, request, extensions)) as events:
                async for event in events:
                    if pending is not None:
                        continue  # draining: nothing more goes out
                    interrupt = run.interrupt(event)
                    if interrupt is not None:
                        pending = (stream_payload(event), interrupt)
                        deadline.reschedule(loop.time() + DRAIN_SECONDS)
                        continue
                    yield stream_payload(event), None
    except TimeoutError:
        if pending is None:
            raise
    if pending is not None:
        yield pending


async def send_leg(
    run: BridgeRun, request: SendMessageRequest, extensions: set[str]
) -> AsyncGenerator[tuple[Event, Interrupt | None], None]:
    """One blocking send upstream (1.x agents answer it at every interrupt): its one Task or Message."""
    answer = await send(run, request, extensions, wait=True)
    event = stream_payload(answer)
    if not isinstance(event, Task | Message):
        raise InvalidAgentResponseError(f"agent {run.link.slug!r} answered a send with a stream event")
    yield event, run.interrupt(answer)


async def send(
    run: BridgeRun, request: SendMessageRequest, extensions: set[str], *, wait: bool
) -> StreamResponse:
    """One plain send upstream, retried once with fresh credentials after an HTTP 401."""
    upstream = run.link.upstream
    while True:
        try:
            return await upstream.send(request, extensions, wait=wait, credentials=run.credentials)
        except Exception as exc:
            if await run.retry_after(exc, request.message.task_id):
                continue
            raise run.failure(exc) from None


async def _upstream_events(
    run: BridgeRun, request: SendMessageRequest, extensions: set[str]
) -> AsyncGenerator[StreamResponse, None]:
    """The agent's events for `request`; an HTTP 401 before the first event is retried once."""
    upstream = run.link.upstream
    while True:
        started = False
        try:
            stream = upstream.stream(request, extensions, credentials=run.credentials)
            async with contextlib.aclosing(stream) as events:
                async for event in events:
                    started = True
                    yield event
            return
        except Exception as exc:
            if not started and await run.retry_after(exc, request.message.task_id):
                continue
            raise run.failure(exc) from None
