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

A stream (lean_connection.py's `LeanStream`) is handed over once the answer's head is in and read as
it comes. A stream read to its end goes back to the pool like a blocking answer; one left early
closes its connection (the agent sees its client go). This module is the pool and the requests;
lean_connection.py is one connection and how it reads an answer.

httptools is a dependency except on Windows; there fast_hop.py keeps posting through aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

from keybroker.core.bridge.hop_answer import HopAnswer, HopFailedError, Sent
from keybroker.core.bridge.lean_connection import LeanConnection, LeanStream

__all__ = ["LeanPost", "LeanStream"]

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
        self._idle: dict[tuple[str, str, int], list[LeanConnection]] = {}
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
    async def stream(
        self, url: str, body: bytes, headers: Mapping[str, str], sent: Sent | None = None
    ) -> AsyncIterator[LeanStream]:
        """POST as `post` does and hold the answer open, read as it comes. Leaving before the answer
        ended closes the connection; a stream read to its end goes back to the pool. Raises
        `HopFailedError` (`sent=False`: the agent could not be reached).

        `sent` is awaited once before the answer's head is awaited: as soon as the request is written
        when a kept-alive connection was at hand, or before a connection is opened (which may take
        up to the connect timeout) when none was (fast_stream.py sends its client's head then)."""
        target, request = self._request(url, body, headers)
        connection = self._take(target)
        if connection is None:
            if sent is not None:
                await sent()
                sent = None
            connection = await self._connect(target)
        try:
            answer = connection.begin(request)
            if sent is not None:
                await sent()
            await connection.head()
        except BaseException:
            connection.sink = None
            connection.waiter = None  # unawaited now: its failure, when the abort comes, is nobody's
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

    def _take(self, target: _Target) -> LeanConnection | None:
        idle = self._idle.get(target.key)
        if not idle:
            return None
        oldest_kept = asyncio.get_running_loop().time() - self._keepalive
        while idle:
            connection = idle.pop()  # newest first: the likeliest to be open still
            if connection.lost or connection.transport is None or connection.transport.is_closing():
                continue
            if connection.idle_since < oldest_kept:
                connection.close()
                continue
            return connection
        return None

    def _give_back(self, target: _Target, connection: LeanConnection) -> None:
        idle = self._idle.setdefault(target.key, [])
        connection.idle_since = asyncio.get_running_loop().time()
        idle.append(connection)
        while len(idle) > self._max_idle:
            idle.pop(0).close()

    async def _connect(self, target: _Target) -> LeanConnection:
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | bool | None = None
        if target.tls:
            tls = self._tls if self._tls is not None else True
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    LeanConnection, target.host, target.port, ssl=tls
                )
        except (OSError, TimeoutError) as exc:
            raise HopFailedError(f"cannot connect ({type(exc).__name__})", sent=False) from None
        return connection

    def close(self) -> None:
        """Close every idle connection; posts still under way end without pooling theirs."""
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
