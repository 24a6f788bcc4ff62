# SPDX-License-Identifier: Apache-2.0
"""How the fast path for streams (fast_stream.py) writes to its client, over real TCP (a real a2a-sdk
1.x agent behind the real bridge): the events one read of the agent's connection brought go out in
one write, and an event goes out as soon as it came, before the agent sends the next (streams are
never buffered, DESIGN §7). The client's response head goes out once the agent's request is written
on a kept-alive connection, and before anything that could keep the client waiting for it: a
connection to open, a full admission gate (client_head.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from keybroker.core.bridge import fast_stream, rpc_route
from keybroker.core.bridge.fast_hop import FastHop
from keybroker.core.bridge.fast_stream import FastStream
from keybroker.core.bridge.lean_connection import LeanConnection, LeanStream
from keybroker.core.bridge.lean_post import LeanPost
from keybroker.core.bridge.limits import UpstreamLimits
from tests.bridge.joining_client import leaks, texts
from tests.bridge.support import sse_payloads
from tests.bridge.test_fast_path import VALUE
from tests.bridge.test_fast_stream import (
    _fast,
    _fast_path,
    _last_state,
    _request,
    free_port,
    granted_leaky,
)

__all__ = ["_fast_path"]  # the fixture, used here too

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
_DONE = ("completed", "TASK_STATE_COMPLETED")


class _Bunched:
    """The agent's event stream written in one piece at its end: every event in one TCP write."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        held: list[bytes] = []

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] != "http.response.body":
                await send(message)
                return
            held.append(message.get("body", b""))
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"".join(held), "more_body": False})

        await self.app(scope, receive, sending)


class _Gated:
    """The agent's event stream held after its first event until `gate` is set; `more` goes in the
    first event's write (the start of an event too large for the bridge, say)."""

    def __init__(self, app: ASGIApp, more: bytes = b"") -> None:
        self.app = app
        self.more = more
        self.gate = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        sent_one = False

        async def sending(message: dict[str, Any]) -> None:
            nonlocal sent_one
            if message["type"] == "http.response.body" and b"data:" in message.get("body", b""):
                if sent_one:
                    await asyncio.wait_for(self.gate.wait(), 30)
                else:
                    sent_one = True
                    message = {**message, "body": message["body"] + self.more}
            await send(message)

        await self.app(scope, receive, sending)


class _ErrorAtTheEnd:
    """The agent's event stream ending in a JSON-RPC error event, all of it in one TCP write."""

    ERROR = b'data: {"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"the agent broke"}}\r\n\r\n'

    def __init__(self, app: ASGIApp) -> None:
        self.app = _Bunched(app)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        streams = False

        async def sending(message: dict[str, Any]) -> None:
            nonlocal streams
            if message["type"] == "http.response.start":
                streams = any(v.startswith(b"text/event-stream") for _, v in message.get("headers", ()))
            elif streams and not message.get("more_body", False):
                message = {**message, "body": message.get("body", b"") + self.ERROR}
            await send(message)

        await self.app(scope, receive, sending)


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_events_one_read_brought_go_out_in_one_write(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pieces: list[bytes] = []
    writes: list[bytes] = []
    chunks, stream = LeanStream.chunks, FastStream._stream

    async def counted_chunks(self: LeanStream) -> AsyncIterator[bytes]:
        async for piece in chunks(self):
            pieces.append(piece)
            yield piece

    async def counted_stream(self: FastStream, *args: Any) -> AsyncIterator[bytes]:
        async for write in stream(self, *args):
            writes.append(write)
            yield write

    monkeypatch.setattr(LeanStream, "chunks", counted_chunks)
    monkeypatch.setattr(FastStream, "_stream", counted_stream)
    async with granted_leaky(_Bunched) as (client, app, _):
        body, headers = _request(version, "drip 2")
        answer = await client.post("/agents/peer", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert _fast(app).served == 1
    events = sse_payloads(answer.text)
    assert _last_state(events) in _DONE, answer.text[-2000:]
    assert leaks(VALUE, events, answer.text) == []
    assert len(events) > len(pieces) >= 1  # the test holds: several events came in one read
    assert 1 <= len(writes) <= len(pieces), (len(writes), len(pieces), len(events))
    assert b"".join(writes).count(b"data: ") == len(events)


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_an_event_reaches_the_client_before_the_agent_sends_the_next(version: str) -> None:
    async with granted_leaky(_Gated) as (client, app, gated):
        body, headers = _request(version, "hello")
        lines: list[str] = []
        async with client.stream("POST", "/agents/peer", json=body, headers=headers) as answer:
            assert answer.status_code == 200
            read = answer.aiter_lines()
            async with asyncio.timeout(10):  # held by the bridge, this would wait for the gate
                async for line in read:
                    lines.append(line)
                    if line.startswith("data:"):
                        break
            assert not gated.gate.is_set()
            gated.gate.set()
            lines += [line async for line in read]
        assert _fast(app).served == 1
    events = sse_payloads("\n".join(lines) + "\n\n")
    assert _last_state(events) in _DONE, lines
    assert 'unknown mode "hello"' in texts(events)


@pytest.mark.asyncio
async def test_the_client_head_follows_the_agents_request_on_a_kept_alive_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The head used to go first, its write and uvicorn's work on it delaying the agent's start."""
    order: list[str] = []
    begin, connect, kept_alive = LeanConnection.begin, LeanPost._connect, rpc_route.kept_alive

    def recorded_begin(self: LeanConnection, request: bytes) -> LeanStream:
        order.append("agent request")
        return begin(self, request)

    async def recorded_connect(self: LeanPost, target: Any) -> LeanConnection:
        order.append("connect")
        return await connect(self, target)

    async def recorded_kept_alive(app: Any, scope: Any, receive: Any, send: Any, interval: float) -> None:
        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                order.append("client head")
            await send(message)

        await kept_alive(app, scope, receive, sending, interval)

    monkeypatch.setattr(LeanConnection, "begin", recorded_begin)
    monkeypatch.setattr(LeanPost, "_connect", recorded_connect)
    monkeypatch.setattr(rpc_route, "kept_alive", recorded_kept_alive)
    async with granted_leaky() as (client, app, _):
        runs: list[list[str]] = []
        for _ in range(2):
            order.clear()
            body, headers = _request("0.3", "hello")
            answer = await client.post("/agents/peer", json=body, headers=headers)
            assert answer.status_code == 200
            assert _last_state(sse_payloads(answer.text)) in _DONE, answer.text
            runs.append(list(order))
        assert _fast(app).served == 2
    # The first stream opens the agent's connection: the client hears first. The second reuses it.
    assert runs == [["client head", "connect", "agent request"], ["agent request", "client head"]]


@pytest.mark.asyncio
async def test_a_stream_waiting_for_the_agents_gate_sends_its_client_head_first() -> None:
    gate = asyncio.Semaphore(1)
    hop = FastHop(gate, UpstreamLimits(connections=1))
    told = asyncio.Event()

    async def sent() -> None:
        told.set()

    async def stream() -> None:
        async with hop.stream(f"http://127.0.0.1:{free_port()}/", b"{}", {}, sent):
            pass

    async with gate:  # another stream holds the agent's one permit
        waiting = asyncio.create_task(stream())
        await asyncio.wait_for(told.wait(), 5)
        assert not waiting.done()
        waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await hop.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_events_read_with_the_agents_error_reach_the_client_before_it(version: str) -> None:
    async with granted_leaky(_ErrorAtTheEnd) as (client, app, _):
        body, headers = _request(version, "hello")
        answer = await client.post("/agents/peer", json=body, headers=headers)
        assert answer.status_code == 200
        assert _fast(app).served == 1
    events = sse_payloads(answer.text)
    assert 'unknown mode "hello"' in texts(events), answer.text  # the agent's events came through
    assert _last_state(events) in _DONE, answer.text
    assert "error" in events[-1] and "the agent broke" in events[-1]["error"]["message"], events[-1]


@pytest.mark.asyncio
async def test_an_event_grown_too_large_ends_the_stream_at_once_though_the_agent_goes_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fast_stream, "MAX_EVENT_BYTES", 2000)
    too_large = b"data: " + b"x" * 5000  # and then the agent goes quiet
    async with granted_leaky(lambda app: _Gated(app, too_large)) as (client, app, agent):
        try:
            body, headers = _request("0.3", "hello")
            async with asyncio.timeout(10):  # without the check, the bridge waits for the agent's next write
                answer = await client.post("/agents/peer", json=body, headers=headers)
            assert answer.status_code == 200
            assert _fast(app).served == 1
            assert not agent.gate.is_set()
        finally:
            agent.gate.set()
    events = sse_payloads(answer.text)
    assert len(events) == 2, answer.text  # the agent's first event, then the bridge's error
    assert "result" in events[0]
    assert "sent a stream event larger than 2000 bytes" in events[-1]["error"]["message"], events[-1]


@pytest.mark.asyncio
async def test_a_stream_that_ended_in_the_read_with_its_last_events_ends_with_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The end of the chunked body used to be a write of its own after the last events."""
    bodies: list[dict[str, Any]] = []
    kept_alive = rpc_route.kept_alive

    async def recorded_kept_alive(app_: Any, scope: Any, receive: Any, send: Any, interval: float) -> None:
        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                bodies.append(message)
            await send(message)

        await kept_alive(app_, scope, receive, sending, interval)

    monkeypatch.setattr(rpc_route, "kept_alive", recorded_kept_alive)
    async with granted_leaky(_Bunched) as (client, app, _):
        body, headers = _request("1.0", "drip 2")
        answer = await client.post("/agents/peer", json=body, headers=headers)
        assert answer.status_code == 200
        assert _fast(app).served == 1
    events = sse_payloads(answer.text)
    assert _last_state(events) in _DONE, answer.text
    assert leaks(VALUE, events, answer.text) == []
    assert [b.get("more_body", False) for b in bodies] == [False], bodies  # one write: events and end
    assert bodies[0]["body"].count(b"data: ") == len(events)
