# SPDX-License-Identifier: Apache-2.0
"""One keep-alive HTTP/1.1 connection to an agent for the fast path's hop (lean_post.py, its pool), and
how it reads an answer with httptools (llhttp, the C parser uvicorn uses): whole for a blocking send
(`LeanConnection.exchange`), or as it comes for a stream (`LeanConnection.begin` writes the request,
`head` waits for the answer's head, a `LeanStream` reads its body).

An answer's body is whatever the agent sent, delimited by `Content-Length`, chunks (framing removed)
or the end of the connection; interim 1xx answers are skipped. Bytes nobody asked for, or what is not
HTTP, close the connection. The connection may be reused only when its answer ended by its own
framing and the agent keeps it alive. A stream's reader may fall behind: while more than
`STREAM_HIGH_WATER` bytes wait unread, the agent's connection is not read (a slow client does not
make the bridge buffer a fast agent's whole stream). Errors are `HopFailedError(sent=True)`: the
agent went away before its answer ended, or answered what is not HTTP.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import cast

import httptools

from keybroker.core.bridge.hop_answer import HopAnswer, HopFailedError

__all__ = ["STREAM_HIGH_WATER", "LeanConnection", "LeanStream"]

#: Above this many unread bytes of a stream, the agent's connection stops being read until they are.
STREAM_HIGH_WATER = 256 * 1024


class LeanStream:
    """An answer read as it comes: its status and content type, then its body's bytes (`chunks`)."""

    __slots__ = (
        "_chunks",
        "_connection",
        "_done",
        "_error",
        "_paused",
        "_size",
        "_waiter",
        "content_type",
        "status",
    )

    def __init__(self, connection: LeanConnection) -> None:
        self._connection = connection
        self.status = 0
        self.content_type = ""
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._done = False
        self._error: HopFailedError | None = None
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    @property
    def at_eof(self) -> bool:
        """Whether the whole answer was read (and nothing failed)."""
        return self._done and self._error is None and not self._chunks

    # fed by the connection

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size > STREAM_HIGH_WATER and not self._paused:
            self._paused = self._connection.pause_reading()
        self._wake()

    def _end(self) -> None:
        self._done = True
        self._wake()

    def _fail(self, reason: str) -> None:
        if not self._done:
            self._done = True
            self._error = HopFailedError(reason, sent=True)
        self._wake()

    # read by the bridge

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive (what is waiting, joined). Raises `HopFailedError`
        (`sent=True`) when the agent went away before the answer ended."""
        while True:
            if self._chunks:
                data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
                self._chunks.clear()
                self._size = 0
                if self._paused:
                    self._paused = False
                    self._connection.resume_reading()
                yield data
                continue
            if self._error is not None:
                raise self._error
            if self._done:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def read(self) -> bytes:
        """The rest of the body, whole."""
        return b"".join([data async for data in self.chunks()])


class LeanConnection(asyncio.Protocol):
    """One keep-alive connection to an agent, reading one answer at a time (module docstring)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[HopAnswer] | None = None
        self.sink: LeanStream | None = None  # the answer being read as it comes (`begin`)
        self.lost = False
        self.reusable = False
        self.idle_since = 0.0
        self._content_type = b""
        self._chunks: list[bytes] = []
        self._begun = False
        self._until_eof = True

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # No isinstance check: uvloop's transports (the app's loop) are not asyncio.Transport subclasses.
        self.transport = cast(asyncio.Transport, transport)

    def _reading(self) -> bool:
        """Whether an answer is awaited: its head (`waiter`), or a stream's body."""
        if self.waiter is not None and not self.waiter.done():
            return True
        return self.sink is not None and not self.sink._done

    def data_received(self, data: bytes) -> None:
        if not self._reading():
            self.close()  # bytes nobody asked for: the connection cannot be trusted with another
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"the agent answered what is not HTTP ({type(exc).__name__})")

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self._reading():
            return
        if self._begun and self._until_eof and self._status() >= 200:
            self._complete()  # a body delimited by the end of the connection
            return
        self._fail("the exchange failed (the connection closed)", close=False)

    def pause_reading(self) -> bool:
        """Stop reading (a stream's reader is behind); whether it was stopped."""
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.pause_reading()
        return True

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self.waiter is None or self.waiter.done():
            self.reusable = False  # a second answer to one request: not a connection to reuse
        self._begun = True
        self._content_type = b""
        self._chunks = []
        self._until_eof = True

    def on_headers_complete(self) -> None:
        sink, waiter = self.sink, self.waiter
        if sink is None or waiter is None or waiter.done() or self._status() < 200:
            return  # a blocking answer is handed over whole; an interim one is not the answer
        sink.status = self._status()
        sink.content_type = self._content_type.decode("latin-1")
        waiter.set_result(HopAnswer(sink.status, sink.content_type, b""))

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower == b"content-type":
            self._content_type = value
        elif lower in (b"content-length", b"transfer-encoding"):
            self._until_eof = False

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            if self.sink.status:  # (an interim answer's body, if any, is not the answer's)
                self.sink._feed(body)
            return
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._status() < 200:  # an interim answer (100 Continue...): the real one follows
            self._begun = False
            return
        self._complete()

    # ---------------------------------------------------------------------------------------------

    def _status(self) -> int:
        try:
            return int(self.parser.get_status_code())
        except httptools.HttpParserError:
            return 0

    def _complete(self) -> None:
        sink = self.sink
        if sink is not None:
            waiter = self.waiter
            if waiter is not None and not waiter.done():  # gone before its head was whole
                waiter.set_exception(HopFailedError("the answer ended before its head", sent=True))
            elif not sink._done:
                self.reusable = self._may_reuse()
                sink._end()
            return
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        self.reusable = self._may_reuse()
        body = b"".join(self._chunks)
        self._chunks = []
        waiter.set_result(HopAnswer(self._status(), self._content_type.decode("latin-1"), body))

    def _may_reuse(self) -> bool:
        return not self.lost and not self._until_eof and bool(self.parser.should_keep_alive())

    def _fail(self, reason: str, *, close: bool = True) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(HopFailedError(reason, sent=True))
        elif self.sink is not None:
            self.sink._fail(reason)
        if close:
            self.close()

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once (nothing more is written or read)."""
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()

    def _send(self, request: bytes) -> asyncio.Future[HopAnswer]:
        """Write `request`; the future its answer's head (and, for a blocking send, body) will settle."""
        assert self.transport is not None
        self.reusable = False
        self._begun = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    async def exchange(self, request: bytes) -> HopAnswer:
        """Write `request` and wait for its answer; the connection is closed unless it may be reused."""
        waiter = self._send(request)
        try:
            return await waiter
        finally:
            self.waiter = None
            if not self.reusable:
                self.close()

    def begin(self, request: bytes) -> LeanStream:
        """Write `request`; its answer, read as it comes once `head` returned."""
        sink = self.sink = LeanStream(self)
        self._send(request)
        return sink

    async def head(self) -> None:
        """Wait for the head of the answer `begin` asked for (its status and content type)."""
        waiter = self.waiter
        assert waiter is not None
        try:
            await waiter
        finally:
            self.waiter = None
