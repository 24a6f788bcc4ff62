# SPDX-License-Identifier: Apache-2.0
"""The fast path's hop on its own HTTP/1.1 pool (lean_post.py): blocking sends through the real
bridge, and streams read as they come.

The agents here are raw asyncio HTTP/1.1 servers, so the test picks how each answer is framed
(Content-Length, chunks, the end of the connection, cut short), when each event of a stream is
written, and sees every byte and connection the bridge sends it; for sends the client is a real
HTTP client on the bridge's port.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.bridge import BridgeApp, running_bridge
from keybroker.core.bridge.fast_path import PATH_ENV, FastPath
from keybroker.core.bridge.hop_answer import HopFailedError
from keybroker.core.bridge.lean_post import LeanPost
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.scripted_agent import scripted_card
from tests.bridge.support import jsonrpc, message_v10, record_from_card

V10 = {"A2A-Version": "1.0", "A2A-Extensions": "urn:x-test:ext"}


@pytest.fixture(autouse=True)
def _fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PATH_ENV, "fast")


def _answer(request_id: object, text: str) -> bytes:
    message = {"role": "ROLE_AGENT", "messageId": "m-1", "parts": [{"text": text}]}
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": {"message": message}}).encode()


async def read_request(reader: asyncio.StreamReader) -> tuple[dict[str, str], bytes] | None:
    """The next request's headers (lower-case names) and body; None once the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers, await reader.readexactly(int(headers.get("content-length", "0")))


@dataclass
class RawAgent:
    """An HTTP/1.1 agent answering every POST in `framing`; it keeps what it received."""

    framing: str = "length"
    connections: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (request := await read_request(reader)) is not None:
                headers, body = request
                self.requests.append((headers, body))
                payload = _answer(json.loads(body).get("id"), "hello from the raw agent")
                if not await self._reply(writer, payload):
                    return
        finally:
            writer.close()

    async def _reply(self, writer: asyncio.StreamWriter, payload: bytes) -> bool:
        """Write one answer; False when the connection ends with it."""
        start = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        if self.framing == "chunked":
            pieces = [payload[:10], payload[10:25], payload[25:]]
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
            writer.write(start + b"transfer-encoding: chunked\r\n\r\n" + chunks)
        elif self.framing == "eof":
            writer.write(start + b"connection: close\r\n\r\n" + payload)
        elif self.framing == "cut":
            writer.write(start + b"content-length: %d\r\n\r\n" % len(payload) + payload[:20])
        else:
            writer.write(start + b"content-length: %d\r\n\r\n" % len(payload) + payload)
        await writer.drain()
        return self.framing in ("length", "chunked")


@asynccontextmanager
async def raw_agent(framing: str = "length") -> AsyncIterator[RawAgent]:
    agent = RawAgent(framing)
    server = await asyncio.start_server(agent.handle, "127.0.0.1", 0)
    agent.port = server.sockets[0].getsockname()[1]
    try:
        yield agent
    finally:
        server.close()


@asynccontextmanager
async def bridge_to(agent: RawAgent) -> AsyncIterator[tuple[httpx.AsyncClient, BridgeApp]]:
    url = f"http://127.0.0.1:{agent.port}"
    record = record_from_card(agent_card_to_dict(scripted_card(url)), "peer", url=url)
    app = BridgeApp({"peer": record}.get, ScriptedSecrets(), caller=None)
    try:
        async with (
            running_bridge(app, 0) as port,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=15) as client,
        ):
            yield client, app
    finally:
        await app.aclose()


def _fast(app: BridgeApp) -> FastPath:
    fast = app._channels[("peer", False)].fast
    assert fast is not None
    return fast


async def _send(client: httpx.AsyncClient, text: str = "hi") -> httpx.Response:
    body = jsonrpc("SendMessage", {"message": message_v10(text)}, request_id=7)
    return await client.post("/agents/peer", json=body, headers=V10)


@pytest.mark.asyncio
@pytest.mark.parametrize("framing", ["length", "chunked", "eof"])
async def test_every_answer_framing_reaches_the_client_whole(framing: str) -> None:
    async with raw_agent(framing) as agent, bridge_to(agent) as (client, app):
        answers = [await _send(client) for _ in range(3)]
        served = _fast(app).served
    assert served == 3
    for answer in answers:
        assert answer.status_code == 200
        assert answer.json() == json.loads(_answer(7, "hello from the raw agent"))
    assert agent.connections == (3 if framing == "eof" else 1)  # kept alive unless the agent closes


@pytest.mark.asyncio
async def test_an_answer_cut_short_is_the_agent_dropped_error() -> None:
    async with raw_agent("cut") as agent, bridge_to(agent) as (client, _):
        answer = await _send(client)
    error = answer.json()["error"]
    assert error["message"] == "agent 'peer' closed the connection mid-response (did it stop?)"


@pytest.mark.asyncio
async def test_a_dead_agent_is_unreachable_and_nothing_was_sent() -> None:
    async with raw_agent() as agent:
        pass  # stopped: its port refuses
    async with bridge_to(agent) as (client, _):
        answer = await _send(client)
    assert answer.json()["error"]["message"] == "agent 'peer' is not reachable (is it running?)"


@pytest.mark.asyncio
async def test_the_agent_gets_the_version_and_extension_headers_and_the_body_as_sent() -> None:
    async with raw_agent() as agent, bridge_to(agent) as (client, _):
        answer = await _send(client, "exactly this")
    assert answer.status_code == 200
    headers, body = agent.requests[0]
    assert headers["a2a-version"] == "1.0"
    assert headers["a2a-extensions"] == headers["x-a2a-extensions"] == "urn:x-test:ext"
    assert headers["content-type"] == "application/json"
    assert headers["host"] == f"127.0.0.1:{agent.port}"
    assert "accept-encoding" not in headers and "user-agent" not in headers
    assert json.loads(body)["params"]["message"]["parts"] == [{"text": "exactly this"}]


@pytest.mark.asyncio
async def test_pooled_connections_have_nagle_off_and_expire_when_idle() -> None:
    async with raw_agent() as agent:
        lean = LeanPost(max_idle=4, keepalive=0.3, connect_timeout=5, tls=None)
        url = f"http://127.0.0.1:{agent.port}/"
        body = json.dumps(jsonrpc("SendMessage", {"message": message_v10("x")})).encode()
        try:
            await lean.post(url, body, {"Content-Type": "application/json"})
            idle = [c for pool in lean._idle.values() for c in pool]
            assert len(idle) == 1 and idle[0].transport is not None
            sock = idle[0].transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            await lean.post(url, body, {"Content-Type": "application/json"})
            assert agent.connections == 1
            await asyncio.sleep(0.5)  # past `keepalive`: the idle connection is not used again
            await lean.post(url, body, {"Content-Type": "application/json"})
            assert agent.connections == 2
        finally:
            lean.close()


@pytest.mark.asyncio
async def test_header_values_with_line_breaks_are_refused_before_anything_is_sent() -> None:
    async with raw_agent() as agent:
        lean = LeanPost(max_idle=4, keepalive=4, connect_timeout=5, tls=None)
        try:
            with pytest.raises(ValueError, match="CR or LF"):
                await lean.post(f"http://127.0.0.1:{agent.port}/", b"{}", {"A2A-Version": "1.0\r\nX-Evil: 1"})
        finally:
            lean.close()
    assert agent.connections == 0 and agent.requests == []


@pytest.mark.asyncio
async def test_a_refused_connect_says_nothing_was_sent() -> None:
    async with raw_agent() as agent:
        pass
    lean = LeanPost(max_idle=4, keepalive=4, connect_timeout=5, tls=None)
    with pytest.raises(HopFailedError) as caught:
        await lean.post(f"http://127.0.0.1:{agent.port}/", b"{}", {})
    assert caught.value.sent is False


def test_posts_work_on_uvloop_the_loop_the_app_runs_on() -> None:
    """The app serves on uvloop (core/bridge/server.py), whose transports are not asyncio.Transport
    subclasses: the hop must take them (an isinstance check there failed every fast send of `serve`)."""
    import uvloop

    async def main() -> None:
        async with raw_agent() as agent:
            lean = LeanPost(max_idle=4, keepalive=4, connect_timeout=5, tls=None)
            url = f"http://127.0.0.1:{agent.port}/"
            body = json.dumps(jsonrpc("SendMessage", {"message": message_v10("x")}, request_id=3)).encode()
            try:
                answers = [await lean.post(url, body, {"Content-Type": "application/json"}) for _ in range(2)]
                idle = [c for pool in lean._idle.values() for c in pool]
                assert len(idle) == 1 and idle[0].transport is not None
                sock = idle[0].transport.get_extra_info("socket")
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            finally:
                lean.close()
        assert [(a.status, a.body) for a in answers] == [(200, _answer(3, "hello from the raw agent"))] * 2
        assert agent.connections == 1

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


# Streams (`LeanPost.stream`): the answer read as it comes -------------------------------------------


@dataclass
class StreamingAgent:
    """An HTTP/1.1 agent answering each POST with `events` as SSE in `framing`, one write per event;
    before each event after the first it waits for `go` (the test's leave to go on)."""

    framing: str = "chunked"
    events: list[bytes] = field(default_factory=lambda: [b"one", b"two", b"three"])
    go: asyncio.Event = field(default_factory=asyncio.Event)
    connections: int = 0
    closed_by_peer: list[bool] = field(default_factory=list)
    port: int = 0

    def _body(self) -> list[bytes]:
        return [b"data: " + event + b"\r\n\r\n" for event in self.events]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await read_request(reader) is not None:
                if not await self._answer(reader, writer):
                    return
            self.closed_by_peer.append(True)
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        pieces = self._body()
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
        if self.framing == "continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self.framing in ("chunked", "continue", "cut"):
            writer.write(head + b"transfer-encoding: chunked\r\n\r\n")
            framed = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces]
        elif self.framing == "length":
            writer.write(head + b"content-length: %d\r\n\r\n" % sum(len(p) for p in pieces))
            framed = pieces
        else:  # "eof"
            writer.write(head + b"connection: close\r\n\r\n")
            framed = pieces
        for n, piece in enumerate(framed):
            if n:
                if await self._left(reader):
                    return False
                self.go.clear()
            if self.framing == "cut" and n == len(framed) - 1:
                writer.write(piece[:7])  # the last chunk cut short, then the connection closes
                await writer.drain()
                return False
            writer.write(piece)
            await writer.drain()
        if self.framing in ("chunked", "continue"):
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        return self.framing != "eof"

    async def _left(self, reader: asyncio.StreamReader) -> bool:
        """Wait for `go`; True when the client closed the connection first."""
        go = asyncio.ensure_future(self.go.wait())
        eof = asyncio.ensure_future(reader.read(1))
        await asyncio.wait([go, eof], return_when=asyncio.FIRST_COMPLETED)
        go.cancel()
        if eof.done() and eof.result() == b"":
            self.closed_by_peer.append(True)
            return True
        eof.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await eof  # (the reader is free again only once the read has ended)
        return False


@asynccontextmanager
async def streaming_agent(framing: str = "chunked") -> AsyncIterator[StreamingAgent]:
    agent = StreamingAgent(framing)
    server = await asyncio.start_server(agent.handle, "127.0.0.1", 0)
    agent.port = server.sockets[0].getsockname()[1]
    try:
        yield agent
    finally:
        server.close()


def _lean() -> LeanPost:
    return LeanPost(max_idle=4, keepalive=4, connect_timeout=5, tls=None)


async def _read_stream(lean: LeanPost, agent: StreamingAgent) -> bytes:
    """One stream read whole, letting the agent go on after each piece the bridge received."""
    got = b""
    async with lean.stream(f"http://127.0.0.1:{agent.port}/", b"{}", {}) as answer:
        assert (answer.status, answer.content_type) == (200, "text/event-stream; charset=utf-8")
        async for data in answer.chunks():
            got += data
            agent.go.set()
        assert answer.at_eof
    return got


@pytest.mark.asyncio
@pytest.mark.parametrize("framing", ["chunked", "length", "eof", "continue"])
async def test_a_stream_arrives_whole_in_every_framing_and_a_kept_alive_connection_is_reused(
    framing: str,
) -> None:
    async with streaming_agent(framing) as agent:
        lean = _lean()
        try:
            bodies = [await _read_stream(lean, agent) for _ in range(2)]
        finally:
            lean.close()
    assert bodies == [b"data: one\r\n\r\ndata: two\r\n\r\ndata: three\r\n\r\n"] * 2
    assert agent.connections == (2 if framing == "eof" else 1)


async def _first_event_before_the_rest() -> None:
    async with streaming_agent() as agent:
        lean = _lean()
        try:
            async with lean.stream(f"http://127.0.0.1:{agent.port}/", b"{}", {}) as answer:
                chunks = answer.chunks()
                # The agent sends "two" only once told to: the first event is read while it waits.
                assert await asyncio.wait_for(anext(chunks), 5) == b"data: one\r\n\r\n"
                agent.go.set()
                assert await asyncio.wait_for(anext(chunks), 5) == b"data: two\r\n\r\n"
                agent.go.set()
                assert [data async for data in chunks] == [b"data: three\r\n\r\n"]
        finally:
            lean.close()


@pytest.mark.asyncio
async def test_each_event_is_read_as_it_comes_not_when_the_answer_ends() -> None:
    await _first_event_before_the_rest()


def test_streams_are_read_as_they_come_on_uvloop() -> None:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_first_event_before_the_rest())


@pytest.mark.asyncio
async def test_a_stream_cut_short_gives_what_came_then_the_dropped_error_and_is_not_pooled() -> None:
    async with streaming_agent("cut") as agent:
        lean = _lean()
        got = b""
        try:
            async with lean.stream(f"http://127.0.0.1:{agent.port}/", b"{}", {}) as answer:
                with pytest.raises(HopFailedError) as caught:
                    async for data in answer.chunks():
                        got += data
                        agent.go.set()
                assert not answer.at_eof
            assert lean._idle.get(("http", "127.0.0.1", agent.port), []) == []
        finally:
            lean.close()
    assert caught.value.sent is True
    assert got.startswith(b"data: one\r\n\r\ndata: two\r\n\r\n")


@pytest.mark.asyncio
async def test_a_stream_left_early_closes_its_connection_and_the_agent_sees_it() -> None:
    async with streaming_agent() as agent:
        lean = _lean()
        try:
            async with lean.stream(f"http://127.0.0.1:{agent.port}/", b"{}", {}) as answer:
                assert await anext(answer.chunks()) == b"data: one\r\n\r\n"
            assert lean._idle.get(("http", "127.0.0.1", agent.port), []) == []
            agent.go.set()
            async with asyncio.timeout(5):
                while not agent.closed_by_peer:
                    await asyncio.sleep(0.01)
        finally:
            lean.close()


@pytest.mark.asyncio
async def test_a_fast_agent_and_a_slow_reader_do_not_buffer_the_whole_stream() -> None:
    from keybroker.core.bridge.lean_connection import STREAM_HIGH_WATER

    async with streaming_agent("length") as agent:
        agent.events = [b"x" * (64 * 1024)] * 64  # 4 MiB, written without waiting once let go
        lean = _lean()
        try:
            async with lean.stream(f"http://127.0.0.1:{agent.port}/", b"{}", {}) as answer:
                chunks = answer.chunks()
                total = len(await anext(chunks))
                agent.go.set()
                for _ in range(63):  # the agent writes on, unread
                    await asyncio.sleep(0.01)
                    agent.go.set()
                await asyncio.sleep(0.2)
                waiting = answer._size
                assert answer._paused
                assert waiting < STREAM_HIGH_WATER + 1024 * 1024  # high water, and one read
                async for data in chunks:
                    total += len(data)
                    agent.go.set()
                assert answer.at_eof
        finally:
            lean.close()
    assert total == sum(len(b"data: " + e + b"\r\n\r\n") for e in agent.events)


@pytest.mark.asyncio
async def test_a_stream_whose_sent_callback_fails_closes_its_connection_and_leaves_no_unread_error() -> None:
    """`sent` raising between the request's write and its head (the client's head could not be sent):
    the connection is dropped, and the head's waiter with it, so its failure is nobody's (asyncio would
    log "Future exception was never retrieved" when it is collected)."""
    loop = asyncio.get_running_loop()
    unread: list[str] = []  # what the loop was told of
    loop.set_exception_handler(lambda _, context: unread.append(str(context.get("message"))))

    async def sent() -> None:
        raise RuntimeError("the client's head could not go")

    try:
        async with streaming_agent() as agent:
            lean = _lean()
            try:
                agent.go.set()
                await _read_stream(lean, agent)  # a kept-alive connection: `sent` comes after the write
                with pytest.raises(RuntimeError):
                    async with lean.stream(f"http://127.0.0.1:{agent.port}/", b"{}", {}, sent):
                        pytest.fail("the stream went on")
                for _ in range(5):
                    await asyncio.sleep(0.01)  # the abort's connection_lost runs
                assert await _read_stream(lean, agent)  # and the next stream is fine
            finally:
                lean.close()
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    # (The test agent's own handler may complain of the reset: not the bridge's concern.)
    assert [m for m in unread if "never retrieved" in m] == [], unread
