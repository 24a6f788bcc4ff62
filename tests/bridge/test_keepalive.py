# SPDX-License-Identifier: Apache-2.0
"""keepalive.py on its own: a quiet event stream is pinged every interval, a busy one never (and starts
no task for it), and nothing is sent once the answer is complete. On a real bridge: test_streaming.py,
test_rpc_route.py."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message, Receive, Scope, Send

from keybroker.core.bridge.keepalive import PING, kept_alive

_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/event-stream")],
}


def _event(n: int) -> Message:
    return {"type": "http.response.body", "body": f"data: {n}\n\n".encode(), "more_body": True}


_END: Message = {"type": "http.response.body", "body": b"", "more_body": False}


async def _receive() -> Message:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def _bodies(sent: list[Message]) -> list[bytes]:
    return [m["body"] for m in sent if m["type"] == "http.response.body"]


def _ping_tasks() -> int:
    return sum(1 for t in asyncio.all_tasks() if t.get_name() == "sse-keepalive")


@pytest.mark.asyncio
async def test_a_quiet_stream_is_pinged_every_interval_until_it_ends_and_not_after() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(_START)
        await asyncio.sleep(0.55)  # five intervals of silence
        await send(_event(1))
        await send(_END)

    await kept_alive(app, {"type": "http"}, _receive, send, 0.1)
    bodies = _bodies(sent)
    assert bodies[-2:] == [b"data: 1\n\n", b""]
    assert 3 <= bodies.count(PING) <= 6 and set(bodies[:-2]) == {PING}
    count = len(sent)
    await asyncio.sleep(0.3)
    assert len(sent) == count  # no ping after the end
    assert _ping_tasks() == 0


@pytest.mark.asyncio
async def test_a_stream_busier_than_the_interval_is_never_pinged_and_starts_no_task_for_it() -> None:
    sent: list[Message] = []
    tasks: list[int] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(_START)
        for n in range(15):
            await asyncio.sleep(0.02)
            tasks.append(_ping_tasks())
            await send(_event(n))
        await send(_END)

    await kept_alive(app, {"type": "http"}, _receive, send, 0.1)
    assert PING not in _bodies(sent)
    assert tasks == [0] * 15


@pytest.mark.asyncio
async def test_a_ping_to_a_client_that_went_away_stops_the_pings() -> None:
    tries: list[bytes] = []

    async def send(message: Message) -> None:
        if message.get("body") == PING:
            tries.append(PING)
            raise OSError("the client went away")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(_START)
        await asyncio.sleep(0.45)

    await kept_alive(app, {"type": "http"}, _receive, send, 0.1)
    assert tries == [PING]  # one try, then no more
