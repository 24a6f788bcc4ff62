# SPDX-License-Identifier: Apache-2.0
"""The raw pass-through proxy: the floor any Python bridge stands on (DESIGN §7).

`python bench/bridge_proxy.py UPSTREAM_URL [CONNECTIONS [httpx|aiohttp]]` binds a free port on
127.0.0.1, prints `READY <port>` and passes every request on to UPSTREAM_URL (same path, body and
content headers) and the answer back, bytes unchanged: Starlette in front, one pooled client behind
it (httpx by default; aiohttp, the limit DESIGN §7 measured, with TCP_NODELAY as aiohttp sets it),
with an `asyncio.Semaphore` of CONNECTIONS (default 16) held for a whole exchange, stream included.
Nothing is parsed. SSE answers are streamed as they come; the upstream response is closed in a
`finally` inside the generator (Starlette skips background tasks when the client leaves).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator

import aiohttp
import httpx
import uvicorn
from bridge_common import listen_loopback, say_ready
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

#: Request headers passed on (the rest, Host included, are the proxy's business).
_PASS = ("content-type", "accept", "a2a-version", "a2a-extensions", "x-a2a-extensions")


def build_app(upstream: str, connections: int) -> Starlette:
    """The proxy's ASGI app."""
    client = httpx.AsyncClient(
        base_url=upstream,
        trust_env=False,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=httpx.Timeout(30.0, read=None),
    )
    gate = asyncio.Semaphore(connections)

    async def forward(request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k in _PASS}
        outgoing = client.build_request(request.method, request.url.path, content=body, headers=headers)
        await gate.acquire()
        try:
            answer = await client.send(outgoing, stream=True)
        except BaseException:
            gate.release()
            raise
        kind = answer.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            try:
                content = await answer.aread()
            finally:
                await answer.aclose()
                gate.release()
            return Response(content, status_code=answer.status_code, media_type=kind or None)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in answer.aiter_raw():
                    yield chunk
            finally:
                await answer.aclose()
                gate.release()

        return StreamingResponse(chunks(), status_code=answer.status_code, media_type=kind)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])], lifespan=lifespan)


def build_aiohttp_app(upstream: str, connections: int) -> Starlette:
    """The same proxy with one pooled aiohttp session upstream."""
    state: dict[str, aiohttp.ClientSession] = {}
    gate = asyncio.Semaphore(connections)

    async def forward(request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k in _PASS}
        session = state["session"]
        await gate.acquire()
        try:
            answer = await session.request(
                request.method, upstream + request.url.path, data=body, headers=headers, allow_redirects=False
            )
        except BaseException:
            gate.release()
            raise
        kind = answer.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            try:
                content = await answer.read()
            finally:
                answer.release()
                gate.release()
            return Response(content, status_code=answer.status, media_type=kind or None)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in answer.content.iter_any():
                    yield chunk
            finally:
                answer.release()
                gate.release()

        return StreamingResponse(chunks(), status_code=answer.status, media_type=kind)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections, keepalive_timeout=4.0)
        state["session"] = aiohttp.ClientSession(
            connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
        )
        try:
            yield
        finally:
            await state["session"].close()

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])], lifespan=lifespan)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    upstream = sys.argv[1].rstrip("/")
    connections = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    client = sys.argv[3] if len(sys.argv) > 3 else "httpx"
    build = {"httpx": build_app, "aiohttp": build_aiohttp_app}[client]
    sock = listen_loopback()
    config = uvicorn.Config(
        build(upstream, connections),
        log_level="warning",
        access_log=False,
        date_header=False,
        server_header=False,
        lifespan="on",
    )
    say_ready(int(sock.getsockname()[1]))
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
