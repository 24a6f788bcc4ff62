# SPDX-License-Identifier: Apache-2.0
"""held_head.py: a response's head goes out with its body in one write, or alone at the loop's next turn
at the latest; an interim `100 Continue` is never held; closing writes what is held first. On the real
bridge server (running_bridge: uvicorn with the bridge's protocol): a JSON answer is one write, and a
streamed answer's head reaches the client before its first event is even made; with either HTTP parser.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

from keybroker.core.bridge import connections
from keybroker.core.bridge.held_head import HeldHead
from keybroker.core.bridge.server import running_bridge
from tests.bridge.support import http_client
from tests.interop.conftest import free_port

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recorder:
    """A transport that records what is written to it, write by write."""

    def __init__(self, real: Any = None) -> None:
        self.real = real
        self.writes: list[bytes] = []
        self.closing = False
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        if self.real is not None:
            self.real.write(data)

    def writelines(self, lines: Iterable[bytes]) -> None:
        data = b"".join(lines)
        self.writes.append(data)
        if self.real is not None:
            self.real.write(data)

    def is_closing(self) -> bool:
        return self.real.is_closing() if self.real is not None else self.closing

    def close(self) -> None:
        self.closed = True
        if self.real is not None:
            self.real.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.real.get_extra_info(name, default) if self.real is not None else default


def _held(recorder: Recorder) -> HeldHead:
    return HeldHead(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_a_head_and_its_body_go_out_in_one_write() -> None:
    out = Recorder()
    transport = _held(out)
    transport.write(HEAD)
    assert out.writes == []
    transport.write(b"{}")
    assert out.writes == [HEAD + b"{}"]
    await asyncio.sleep(0)
    transport.write(b"more")  # (a chunked body's next write, say)
    assert out.writes == [HEAD + b"{}", b"more"]


@pytest.mark.asyncio
async def test_a_head_alone_goes_out_at_the_next_turn() -> None:
    out = Recorder()
    transport = _held(out)
    transport.write(HEAD)
    await asyncio.sleep(0)
    assert out.writes == [HEAD]
    transport.write(b"{}")
    assert out.writes == [HEAD, b"{}"]


@pytest.mark.asyncio
async def test_an_interim_continue_is_not_held_and_the_head_after_it_is() -> None:
    out = Recorder()
    transport = _held(out)
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert out.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    transport.write(HEAD)
    transport.write(b"{}")
    assert out.writes == [b"HTTP/1.1 100 Continue\r\n\r\n", HEAD + b"{}"]


@pytest.mark.asyncio
async def test_closing_writes_the_held_head_first_and_a_going_connection_drops_it() -> None:
    out = Recorder()
    transport = _held(out)
    transport.write(HEAD)
    transport.close()  # (uvicorn closes after a HEAD answer without keep-alive: no body write)
    assert (out.writes, out.closed) == ([HEAD], True)
    await asyncio.sleep(0)
    assert out.writes == [HEAD]  # not twice

    gone = Recorder()
    transport = _held(gone)
    transport.write(HEAD)
    gone.closing = True  # the client went meanwhile
    await asyncio.sleep(0)
    assert gone.writes == []


@pytest.fixture(params=["httptools", "h11"])
def recorded(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[Recorder]:
    """Every response's writes on the bridge's server, one `Recorder` per request; the server on each
    HTTP parser (h11 is the one Windows gets)."""
    monkeypatch.setenv(connections.HTTP_ENV, request.param)
    seen: list[Recorder] = []

    class Recording(HeldHead):
        def __init__(self, real: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
            recorder = Recorder(real)
            seen.append(recorder)
            super().__init__(recorder, loop)  # type: ignore[arg-type]

    monkeypatch.setattr(connections, "HeldHead", Recording)
    return seen


async def _json_app(scope: Any, receive: Any, send: Any) -> None:
    body = b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.asyncio
async def test_the_bridge_server_writes_a_json_answer_in_one_write(recorded: list[Recorder]) -> None:
    port = free_port()
    async with (
        running_bridge(_json_app, port, shutdown_grace=0.5),
        http_client(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        for _ in range(2):  # a kept-alive connection's second request too
            answer = await client.get("/")
            assert answer.json() == {"ok": True}
    assert len(recorded) == 2
    for recorder in recorded:
        writes = [w for w in recorder.writes if w]  # (h11 ends a sized body with an empty write)
        assert len(writes) == 1, writes
        assert writes[0].startswith(b"HTTP/1.1 200 ") and writes[0].endswith(b'{"ok":true}')


@pytest.mark.asyncio
async def test_a_streamed_answers_head_reaches_the_client_before_its_first_event(
    recorded: list[Recorder],
) -> None:
    go = asyncio.Event()

    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await asyncio.wait_for(go.wait(), 10)  # the first event is not even made yet
        await send({"type": "http.response.body", "body": b"data: one\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    port = free_port()
    async with (
        running_bridge(streaming, port, shutdown_grace=0.5),
        http_client(base_url=f"http://127.0.0.1:{port}") as client,
        client.stream("GET", "/") as answer,
    ):
        assert answer.status_code == 200  # the head came while the app waits
        assert not go.is_set()
        go.set()
        assert (await answer.aread()).decode() == "data: one\n\n"
    (recorder,) = recorded
    assert recorder.writes[0].startswith(b"HTTP/1.1 200 ") and b"data:" not in recorder.writes[0]


@pytest.mark.asyncio
async def test_pipelined_requests_each_get_their_answer_in_one_write(recorded: list[Recorder]) -> None:
    port = free_port()
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    async with running_bridge(_json_app, port, shutdown_grace=0.5):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request * 2)  # the second request arrives while the first is answered
            received = b""
            async with asyncio.timeout(10):
                while received.count(b'{"ok":true}') < 2:
                    received += await reader.read(65536)
        finally:
            writer.close()
    assert received.count(b"HTTP/1.1 200 ") == 2
    assert len(recorded) == 2
    for recorder in recorded:
        assert len([w for w in recorder.writes if w]) == 1, recorder.writes
