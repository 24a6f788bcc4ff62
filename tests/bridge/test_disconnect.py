# SPDX-License-Identifier: Apache-2.0
"""`cancel_on_disconnect` both ways (disconnect.py): told by the server's connection (the bridge's own
server puts `DISCONNECT_WATCH` in the scope: no watching task), or watching `receive()` with a task
(any other server). Real sockets: tests/bridge/test_abandoned.py and test_rpc_route.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from starlette.types import Message, Receive, Scope, Send

from keybroker.core.bridge.disconnect import DISCONNECT_WATCH, cancel_on_disconnect

_BODY: Message = {"type": "http.request", "body": b"{}", "more_body": False}


class Connection:
    """A server's side of one request: its `receive`, what was sent, and (told) its watch."""

    def __init__(self) -> None:
        self.lost = asyncio.Event()
        self.sent: list[Message] = []
        self.watchers: set[Callable[[], None]] = set()
        self.unwatched = 0
        self._given = False

    async def receive(self) -> Message:
        if not self._given:
            self._given = True
            return _BODY
        await self.lost.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        self.watchers.add(callback)

        def unwatch() -> None:
            self.unwatched += 1
            self.watchers.discard(callback)

        return unwatch

    def lose(self) -> None:
        self.lost.set()
        for callback in list(self.watchers):
            callback()

    def scope(self, told: bool) -> Scope:
        scope: Scope = {"type": "http", "method": "POST", "path": "/agents/peer"}
        if told:
            scope[DISCONNECT_WATCH] = self.watch
        return scope


def _watch_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "keybroker disconnect watch"]


@pytest.mark.asyncio
@pytest.mark.parametrize("told", [True, False], ids=["told", "watching"])
async def test_a_client_that_goes_away_cancels_the_app_and_the_request_ends_quietly(told: bool) -> None:
    connection = Connection()
    started, ended = asyncio.Event(), asyncio.Event()
    tasks: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert await receive() == _BODY  # the body, as read, then nothing until the end
        tasks.append(len(_watch_tasks()))
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            ended.set()

    request = asyncio.create_task(
        cancel_on_disconnect(app, connection.scope(told), connection.receive, connection.send)
    )
    await started.wait()
    connection.lose()
    async with asyncio.timeout(5):
        await request  # ends, not cancelled: the cancellation was ours
    assert ended.is_set() and not request.cancelled()
    assert tasks == [0 if told else 1]
    assert connection.unwatched == (1 if told else 0) and not connection.watchers
    assert not _watch_tasks()


@pytest.mark.asyncio
@pytest.mark.parametrize("told", [True, False], ids=["told", "watching"])
async def test_a_complete_answer_is_not_cancelled_by_the_close_after_it(told: bool) -> None:
    connection = Connection()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok", "more_body": False})
        connection.lose()  # the client closes as soon as it has the answer
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    async with asyncio.timeout(5):
        await cancel_on_disconnect(app, connection.scope(told), connection.receive, connection.send)
    assert [m["type"] for m in connection.sent] == ["http.response.start", "http.response.body"]
    assert not connection.watchers


@pytest.mark.asyncio
async def test_a_streaming_app_told_of_the_disconnect_reads_it_from_the_servers_receive() -> None:
    connection = Connection()
    heard: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        heard.append((await receive())["type"])  # a streaming response listens for the client

    request = asyncio.create_task(
        cancel_on_disconnect(app, connection.scope(True), connection.receive, connection.send)
    )
    await asyncio.sleep(0.01)
    connection.lost.set()  # what the server's receive says once the connection is lost
    async with asyncio.timeout(5):
        await request
    assert heard == ["http.disconnect"]


@pytest.mark.asyncio
async def test_a_cancellation_not_ours_goes_on_up() -> None:
    connection = Connection()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await asyncio.Event().wait()

    request = asyncio.create_task(
        cancel_on_disconnect(app, connection.scope(True), connection.receive, connection.send)
    )
    await asyncio.sleep(0.01)
    request.cancel()  # a server shutting down
    with pytest.raises(asyncio.CancelledError):
        await request
    assert connection.unwatched == 1


_POST = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"


async def _served_until_the_client_goes(sent: bytes) -> list[tuple[bool, int]]:
    """A real bridge server whose app hangs each request under `cancel_on_disconnect`: `sent` is written,
    the client closes once the first request runs, and the run must end (within 5 s). Per request that
    ran: whether its scope held the watch, and how many watching tasks ran then."""
    from keybroker.core.bridge.server import running_bridge

    seen: list[tuple[bool, int]] = []
    started, ended = asyncio.Event(), asyncio.Event()

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((DISCONNECT_WATCH in scope, len(_watch_tasks())))
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            ended.set()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await cancel_on_disconnect(inner, scope, receive, send)

    async with running_bridge(app, 0) as port:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(sent)
        await writer.drain()
        async with asyncio.timeout(5):
            await started.wait()
            writer.close()
            await ended.wait()
    return seen


@pytest.mark.asyncio
async def test_on_the_bridges_own_server_the_connection_tells_and_no_task_watches() -> None:
    assert await _served_until_the_client_goes(_POST) == [(True, 0)]


@pytest.mark.asyncio
async def test_a_pipelined_request_is_cancelled_when_its_client_goes_too() -> None:
    """Two requests in one write: the server's own `receive` wakes only the latest one on a disconnect,
    so the first, still running, must be told by the connection."""
    await _served_until_the_client_goes(_POST + _POST)
