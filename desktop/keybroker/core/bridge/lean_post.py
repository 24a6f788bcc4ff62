# SPDX-License-Identifier: Apache-2.0
"""The fast path's hop without a client library: one POST on a pooled HTTP/1.1 connection, the answer
parsed by httptools (llhttp, the C parser uvicorn uses) (issue 16): read whole for a blocking send
(`LeanPost.post`), or as it comes for a stream (`LeanPost.stream`).

aiohttp spent ~100 Python calls per POST building a request object, its headers, a payload, a
response object and its stream (~1 ms profiled per request, a sixth of the bridge's fast path); the
fast path needs none of that: the request is bytes (a head and the body, written at once), the
answer is a status, a content type and bytes. What aiohttp gave and the hop must keep, kept here:
- a pool of keep-alive connections per agent, idle ones reused newest first and dropped after
  `keepalive` seconds idle (below uvicorn's 5 s, so the agent rarely closes one under us), checked
  when taken: no timer runs (an idle app wakes for nothing);
- TCP_NODELAY: asyncio sets it on every TCP connection it opens (PROTOCOL pitfall 22);
- no proxy, no redirect followed (a 3xx is an answer like any other), no cookies;
- TLS with the agent's context (a client certificate for mutual TLS) for an `https` agent;
- header values with CR or LF refused before anything is written (no request splitting);
- errors: `HopFailedError(sent=False)` when the agent cannot be reached (refused, connect timeout),
  `sent=True` when it went away before its answer ended (or answered what is not HTTP);
- a cancelled call (its client went away, disconnect.py) closes its connection, so the agent sees
  its client go, as it did with aiohttp.
The answer's body is whatever the agent sent, delimited by `Content-Length`, chunks or the end of
the connection; no `Accept-Encoding` is sent, so an agent has no reason to compress.

A stream (`LeanStream`) is handed over once the answer's head is in; its body comes as llhttp
gives it (chunk framing removed), and reading from the agent pauses while more than
`STREAM_HIGH_WATER` bytes wait for the bridge (a slow client does not make the bridge buffer a
fast agent's whole stream). A stream read to its end goes back to the pool like a blocking answer;
one left early closes its connection (the agent sees its client go).

httptools is a dependency except on Windows; there fast_hop.py keeps posting through aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools

from keybroker.core.bridge.hop_answer import HopAnswer, HopFailedError

__all__ = ["STREAM_HIGH_WATER", "LeanPost", "LeanStream"]

#: Above this many unread bytes of a stream, the agent's connection stops being read until they are.
STREAM_HIGH_WATER = 256 * 1024

_HTTPS_PORT = 443
_HTTP_PORT = 80


class _Target:
    """Where a URL's POST goes: the pool key, the connect arguments, the request line and Host."""

    __slots__ = ("head", "host", "key", "port", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the agent's URL is not http(s)")
        secure = parts.scheme == "https"
        self.tls = secure
        self.host = parts.hostname
        self.port = parts.port or (_HTTPS_PORT if secure else _HTTP_PORT)
        self.key = (parts.scheme, self.host, self.port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        netloc = parts.netloc.rpartition("@")[2]
        self.head = f"POST {target} HTTP/1.1\r\nHost: {netloc}\r\n".encode("latin-1")


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

    def __init__(self, connection: _Connection) -> None:
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


class _Connection(asyncio.Protocol):
    """One keep-alive connection to an agent, reading one answer at a time."""

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
            self._close()  # bytes nobody asked for: the connection cannot be trusted with another
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
            self._close()

    def _close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once (nothing more is written or read)."""
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()

    async def exchange(self, request: bytes) -> HopAnswer:
        """Write `request` and wait for its answer; the connection is closed unless it may be reused."""
        assert self.transport is not None
        self.reusable = False
        self._begun = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self.waiter
        finally:
            self.waiter = None
            if not self.reusable:
                self._close()

    async def begin(self, request: bytes) -> LeanStream:
        """Write `request` and wait for its answer's head; the body is then read as it comes."""
        assert self.transport is not None
        self.reusable = False
        self._begun = False
        self.sink = LeanStream(self)
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            await self.waiter
            return self.sink
        finally:
            self.waiter = None


class LeanPost:
    """POSTs to one agent on pooled HTTP/1.1 connections (module docstring). Not thread-safe: one
    loop. Admission (the agent's FIFO gate) is the caller's (fast_hop.py)."""

    def __init__(
        self, *, max_idle: int, keepalive: float, connect_timeout: float, tls: ssl.SSLContext | None
    ) -> None:
        self._max_idle = max_idle
        self._keepalive = keepalive
        self._connect_timeout = connect_timeout
        self._tls = tls
        self._targets: dict[str, _Target] = {}
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._closed = False

    def _request(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[_Target, bytes]:
        target = self._targets.get(url)
        if target is None:
            target = self._targets[url] = _Target(url)
        lines = [target.head]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError("a header for the agent holds CR or LF")
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
        lines.append(body)
        return target, b"".join(lines)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HopAnswer:
        """POST `body` to `url` with `headers` (Content-Length is added) and read the whole answer.
        Raises `HopFailedError`; `ValueError` for a header value holding CR or LF."""
        target, request = self._request(url, body, headers)
        connection = self._take(target) or await self._connect(target)
        try:
            answer = await connection.exchange(request)
        except BaseException:  # cancelled (its client went away) or failed: the agent sees us go
            connection.abort()
            raise
        if connection.reusable and not self._closed:
            self._give_back(target, connection)
        return answer

    @contextlib.asynccontextmanager
    async def stream(self, url: str, body: bytes, headers: Mapping[str, str]) -> AsyncIterator[LeanStream]:
        """POST as `post` does and hold the answer open, read as it comes. Leaving before the answer
        ended closes the connection; a stream read to its end goes back to the pool. Raises
        `HopFailedError` (`sent=False`: the agent could not be reached)."""
        target, request = self._request(url, body, headers)
        connection = self._take(target) or await self._connect(target)
        try:
            answer = await connection.begin(request)
        except BaseException:
            connection.sink = None
            connection.abort()
            raise
        try:
            yield answer
        finally:
            connection.sink = None
            if answer.at_eof and connection.reusable and not self._closed:
                self._give_back(target, connection)
            else:
                connection.abort()  # unread, failed or left early: never back to the pool

    def _take(self, target: _Target) -> _Connection | None:
        idle = self._idle.get(target.key)
        if not idle:
            return None
        oldest_kept = asyncio.get_running_loop().time() - self._keepalive
        while idle:
            connection = idle.pop()  # newest first: the likeliest to be open still
            if connection.lost or connection.transport is None or connection.transport.is_closing():
                continue
            if connection.idle_since < oldest_kept:
                connection._close()
                continue
            return connection
        return None

    def _give_back(self, target: _Target, connection: _Connection) -> None:
        idle = self._idle.setdefault(target.key, [])
        connection.idle_since = asyncio.get_running_loop().time()
        idle.append(connection)
        while len(idle) > self._max_idle:
            idle.pop(0)._close()

    async def _connect(self, target: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | bool | None = None
        if target.tls:
            tls = self._tls if self._tls is not None else True
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(_Connection, target.host, target.port, ssl=tls)
        except (OSError, TimeoutError) as exc:
            raise HopFailedError(f"cannot connect ({type(exc).__name__})", sent=False) from None
        return connection

    def close(self) -> None:
        """Close every idle connection; posts still under way end without pooling theirs."""
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection._close()
        self._idle.clear()
