# SPDX-License-Identifier: Apache-2.0
"""The fast path's upstream hop: one aiohttp session per agent, bytes in and bytes out.

DESIGN §7 measured the client as most of a pass-through proxy's cost: aiohttp was about 8x cheaper
in CPU per request than httpx and matched a direct client at concurrency 1. The session follows the
same rules as upstream.py's httpx pool: no proxy from the environment (`trust_env=False`), no
redirects followed, no cookie jar (one session serves every caller of an agent), a pool of
`UpstreamLimits.connections` connections kept alive `KEEPALIVE_EXPIRY` seconds (below uvicorn's 5 s),
and admission through the agent's one FIFO semaphore (`Upstream.gate`, shared with the full path),
held for the whole exchange so a burst queues in order instead of timing out in the pool. aiohttp
sets TCP_NODELAY on every connection it opens (`BaseProtocol.connection_made`; PROTOCOL pitfall 22).
The session is made on first use, on the running loop, and closed with the agent's channel.

Where httptools is installed (everywhere but Windows) both blocking sends (`post`) and streams
(`stream`) skip aiohttp: the request is written as bytes on a pool of its own and the answer parsed
in C (lean_post.py: the same rules, a fraction of the calls). On Windows aiohttp serves both, a
stream through `_AiohttpStream`, which reads as `LeanStream` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import aiohttp

from keybroker.core.bridge.hop_answer import HopAnswer, HopFailedError, Sent
from keybroker.core.bridge.limits import UpstreamLimits
from keybroker.core.bridge.upstream import EXTENSION_HEADERS

try:
    from keybroker.core.bridge.lean_post import LeanPost
except ImportError:  # no httptools (Windows): blocking sends go through aiohttp too
    LeanPost = None  # type: ignore[assignment,misc]

__all__ = ["FastHop", "HopAnswer", "HopFailedError", "HopStream", "Sent", "hop_headers"]

#: As upstream.KEEPALIVE_EXPIRY (not imported: that module pulls in a2a-sdk's client).
KEEPALIVE_SECONDS = 4.0


def hop_headers(accept: str, version: str | None, extensions: set[str]) -> dict[str, str]:
    """The headers of a forwarded JSON-RPC body: the client's `A2A-Version`, and the run's extensions
    under both versions' header names (PROTOCOL pitfall 6)."""
    headers = {"Content-Type": "application/json", "Accept": accept}
    if version:
        headers["A2A-Version"] = version
    if extensions:
        joined = ",".join(sorted(extensions))
        headers.update({name: joined for name in EXTENSION_HEADERS})
    return headers


class HopStream(Protocol):
    """An answer read as it comes (lean_post.LeanStream, or aiohttp's through `_AiohttpStream`)."""

    @property
    def status(self) -> int: ...

    @property
    def content_type(self) -> str: ...

    @property
    def at_eof(self) -> bool: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def read(self) -> bytes: ...


class _AiohttpStream:
    """aiohttp's answer, read as `HopStream` says (errors while reading are aiohttp's own)."""

    __slots__ = ("_answer",)

    def __init__(self, answer: aiohttp.ClientResponse) -> None:
        self._answer = answer

    @property
    def status(self) -> int:
        return self._answer.status

    @property
    def content_type(self) -> str:
        return self._answer.headers.get("Content-Type", "")

    @property
    def at_eof(self) -> bool:
        return self._answer.content.at_eof()

    def chunks(self) -> AsyncIterator[bytes]:
        return self._answer.content.iter_any()

    async def read(self) -> bytes:
        return await self._answer.read()


class FastHop:
    """POSTs to one agent through a pooled aiohttp session behind `gate`."""

    def __init__(
        self, gate: asyncio.Semaphore, limits: UpstreamLimits, tls: ssl.SSLContext | None = None
    ) -> None:
        self._gate = gate
        self._limits = limits
        self._tls = tls
        self._session: aiohttp.ClientSession | None = None
        self._lean = (
            LeanPost(
                max_idle=limits.connections,
                keepalive=KEEPALIVE_SECONDS,
                connect_timeout=limits.connect_timeout,
                tls=tls,
            )
            if LeanPost is not None
            else None
        )

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            n = self._limits.connections
            connector = aiohttp.TCPConnector(
                limit=n,
                limit_per_host=n,
                keepalive_timeout=KEEPALIVE_SECONDS,
                ssl=self._tls if self._tls is not None else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=True,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._limits.connect_timeout),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HopAnswer:
        """POST `body` to `url` and read the whole answer. Raises `HopFailedError`."""
        if self._lean is not None:
            async with self._gate:
                return await self._lean.post(url, body, headers)
        session = self._open()
        async with self._gate:
            try:
                async with session.post(url, data=body, headers=headers, allow_redirects=False) as answer:
                    data = await answer.read()
                    return HopAnswer(answer.status, answer.headers.get("Content-Type", ""), data)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
                # The agent took the request and went away before its answer ended.
                raise HopFailedError(f"the exchange failed ({type(exc).__name__})", sent=True) from None
            except (aiohttp.ClientError, OSError) as exc:
                # Refused, reset while connecting or writing: the agent is not there to answer.
                raise HopFailedError(f"cannot connect ({type(exc).__name__})", sent=False) from None

    @contextlib.asynccontextmanager
    async def stream(
        self, url: str, body: bytes, headers: Mapping[str, str], sent: Sent | None = None
    ) -> AsyncIterator[HopStream]:
        """POST `body` to `url` and hold the answer open for reading (fast_stream.py), the gate held
        until it closes. Leaving early closes the connection (the agent sees its client go). Raises
        `HopFailedError` when the agent cannot be reached; errors while reading are the caller's.

        `sent` is awaited once before the answer's head is awaited: once the request is written
        (lean_post.py), or before anything that may keep it waiting (a full gate, a connection to
        open, aiohttp's whole exchange)."""
        if sent is not None and (self._lean is None or self._gate.locked()):
            await sent()
            sent = None
        if self._lean is not None:
            async with self._gate, self._lean.stream(url, body, headers, sent) as lean:
                yield lean
            return
        session = self._open()
        async with self._gate:
            try:
                answer = await session.post(url, data=body, headers=headers, allow_redirects=False)
            except aiohttp.ServerDisconnectedError:
                raise HopFailedError("the exchange failed (ServerDisconnectedError)", sent=True) from None
            except (aiohttp.ClientError, OSError) as exc:
                raise HopFailedError(f"cannot connect ({type(exc).__name__})", sent=False) from None
            try:
                yield _AiohttpStream(answer)
            finally:
                if answer.content.at_eof():
                    answer.release()
                else:
                    answer.close()  # unread: the connection goes, never back to the pool

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._lean is not None:
            self._lean.close()
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
