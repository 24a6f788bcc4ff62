# SPDX-License-Identifier: Apache-2.0
"""Connection floods (issue 12, item 9): a real bridge on a real port, raw sockets as the flood.

- a connection that never completes its request headers (slow loris), or never sends anything, is
  closed after the header timeout;
- past the connection cap, the connection that has waited longest for its request makes room for the
  new one, so a real client still gets in;
- agent requests in flight are capped (503 beyond), so the management API stays reachable while
  every agent request hangs;
- a request body that dribbles in is cut off with a 408.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from keybroker.core.bridge import BridgeApp, running_bridge
from keybroker.core.bridge.connections import ConnectionLimits
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.live_agent import Agent, scripted_agent
from tests.bridge.support import jsonrpc, message_v03


async def api(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for the management API (the bridge's fallback app)."""
    await JSONResponse({"running": True})(scope, receive, send)


@asynccontextmanager
async def flood_bridge(
    limits: ConnectionLimits, agent: Agent | None = None, **options: Any
) -> AsyncIterator[tuple[str, BridgeApp]]:
    records = {"peer": agent.record} if agent is not None else {}
    app = BridgeApp(records.get, ScriptedSecrets(), caller=None, fallback=api, **options)
    try:
        async with running_bridge(app, 0, connections=limits) as port:
            yield f"http://127.0.0.1:{port}", app
    finally:
        await app.aclose()


async def open_raw(base: str, first_bytes: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    if first_bytes:
        writer.write(first_bytes)
        await writer.drain()
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader, timeout: float) -> bool:
    """True when the server closes the connection (EOF, perhaps after an answer) within `timeout`."""
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(4096):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


async def within(awaitable: Awaitable[httpx.Response], seconds: float = 10.0) -> httpx.Response:
    async with asyncio.timeout(seconds):
        return await awaitable


def close_all(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"], ids=["idle", "loris"])
async def test_a_connection_that_never_completes_its_headers_is_closed(sent: bytes) -> None:
    async with flood_bridge(ConnectionLimits(max_connections=500, header_timeout=1.0)) as (base, _):
        pairs = [await open_raw(base, sent) for _ in range(50)]
        try:
            async with httpx.AsyncClient(trust_env=False) as http:
                assert (await within(http.get(base + "/api/v1/status"))).status_code == 200
            closed = await asyncio.gather(*(closed_by_server(reader, 10.0) for reader, _ in pairs))
        finally:
            close_all([writer for _, writer in pairs])
    assert all(closed)


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """One HTTP answer with a Content-Length: its status line."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return head.split(b"\r\n", 1)[0]


_STATUS = b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.mark.asyncio
async def test_a_kept_alive_connection_gets_the_whole_header_timeout_after_each_answer() -> None:
    """The header timer is not made anew per request (connections.py): one set for an earlier wait
    must not close a connection whose latest answer went out less than the timeout ago."""
    async with flood_bridge(ConnectionLimits(max_connections=500, header_timeout=1.0)) as (base, _):
        reader, writer = await open_raw(base)
        try:
            async with asyncio.timeout(10):
                for _ in range(4):  # 2.1 s in all, never 1 s without a request
                    writer.write(_STATUS)
                    assert await read_answer(reader) == b"HTTP/1.1 200 OK"
                    await asyncio.sleep(0.7)
                writer.write(_STATUS)
                assert await read_answer(reader) == b"HTTP/1.1 200 OK"
            idle_since = asyncio.get_running_loop().time()
            assert await closed_by_server(reader, 10.0)
            idle = asyncio.get_running_loop().time() - idle_since
        finally:
            writer.close()
    assert 0.8 <= idle <= 5.0


@pytest.mark.asyncio
async def test_a_pipelined_request_slower_than_the_header_timeout_is_answered() -> None:
    """Its headers came with the request before it: nothing is owed while it runs."""

    async def slow_api(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/slow":
            await asyncio.sleep(1.5)
        await api(scope, receive, send)

    app = BridgeApp({}.get, ScriptedSecrets(), caller=None, fallback=slow_api)
    limits = ConnectionLimits(max_connections=500, header_timeout=0.5)
    try:
        async with running_bridge(app, 0, connections=limits) as port:
            slow = b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            reader, writer = await open_raw(f"http://127.0.0.1:{port}", _STATUS + slow)
            try:
                async with asyncio.timeout(10):
                    statuses = [await read_answer(reader), await read_answer(reader)]
            finally:
                writer.close()
    finally:
        await app.aclose()
    assert statuses == [b"HTTP/1.1 200 OK"] * 2


@pytest.mark.asyncio
async def test_past_the_cap_the_longest_waiting_connection_makes_room() -> None:
    async with flood_bridge(ConnectionLimits(max_connections=40, header_timeout=60.0)) as (base, _):
        pairs = [await open_raw(base) for _ in range(120)]
        try:
            async with httpx.AsyncClient(trust_env=False) as http:
                status = await within(http.get(base + "/api/v1/status"))
                card = await within(http.get(base + "/agents/nobody/.well-known/agent-card.json"))
            closed = await asyncio.gather(*(closed_by_server(reader, 0.5) for reader, _ in pairs))
        finally:
            close_all([writer for _, writer in pairs])
    assert status.status_code == 200 and card.status_code == 404
    assert sum(closed) >= 120 - 40  # the oldest made room; at most the cap stays open
    assert not any(closed[-30:])  # the newest were kept


@pytest.mark.asyncio
async def test_agent_requests_in_flight_are_capped_and_the_api_stays_reachable() -> None:
    async with (
        scripted_agent() as agent,
        flood_bridge(ConnectionLimits(max_connections=500), agent, max_agent_requests=8) as (base, _),
        httpx.AsyncClient(trust_env=False, timeout=60) as http,
    ):
        body = jsonrpc("message/send", {"message": message_v03("slow 3")})
        sends = [asyncio.create_task(http.post(base + "/agents/peer", json=body)) for _ in range(20)]
        done, _ = await asyncio.wait(sends, timeout=2.0)
        refused = [t.result() for t in done]
        status = await within(http.get(base + "/api/v1/status"))
        answered = await asyncio.gather(*sends)
    assert status.status_code == 200
    assert len(refused) == 12 and {r.status_code for r in refused} == {503}
    assert refused[0].headers["retry-after"] == "1"
    assert json.loads(refused[0].text)["error"] == "busy"
    assert sorted(r.status_code for r in answered).count(200) == 8


@pytest.mark.asyncio
async def test_a_request_body_that_dribbles_in_is_cut_off_with_408() -> None:
    async with flood_bridge(ConnectionLimits(max_connections=500), body_timeout=1.0) as (base, _):
        head = b"POST /agents/peer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"
        reader, writer = await open_raw(base, head)
        try:
            async with asyncio.timeout(10):
                answer = await reader.read(4096)
        finally:
            writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_the_default_cap_leaves_room_for_everything_else_under_the_open_file_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limits = ConnectionLimits()
    assert 64 <= limits.max_connections <= max(64, soft // 2)
    assert 0 < limits.agent_requests < limits.max_connections


@pytest.mark.asyncio
async def test_the_server_says_when_a_whole_body_is_in_so_the_guard_sets_no_timer_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A body that came with its headers is read without the body timeout's timer; one still on its way
    is read under it (and a dribbling one still gets its 408: above)."""
    from keybroker.core.bridge import guard as guard_module
    from keybroker.core.bridge.guard import BODY_RECEIVED

    timers: list[float] = []
    real_timeout = asyncio.timeout

    def counted(delay: float | None) -> asyncio.Timeout:
        timers.append(delay or 0.0)
        return real_timeout(delay)

    monkeypatch.setattr(guard_module.asyncio, "timeout", counted)
    said: list[object] = []

    async def told(scope: Scope, receive: Receive, send: Send) -> None:
        said.append(scope.get(BODY_RECEIVED))
        await api(scope, receive, send)

    app = BridgeApp({}.get, ScriptedSecrets(), caller=None, fallback=told)
    head = b"POST /api/v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n"
    try:
        async with running_bridge(app, 0, connections=ConnectionLimits(max_connections=500)) as port:
            reader, writer = await open_raw(f"http://127.0.0.1:{port}", head + b"{}")
            try:
                async with asyncio.timeout(10):
                    assert await read_answer(reader) == b"HTTP/1.1 200 OK"
                    writer.write(head)
                    await writer.drain()
                    await asyncio.sleep(0.2)
                    writer.write(b"{}")
                    assert await read_answer(reader) == b"HTTP/1.1 200 OK"
            finally:
                writer.close()
    finally:
        await app.aclose()
    assert said == [True, True]  # the second one's body is in by then too
    # One body timeout (asyncio.timeout is patched for everyone: only the guard's lasts 30 s), for the
    # second request: its body came after its headers.
    assert timers.count(guard_module.BODY_TIMEOUT_SECONDS) == 1
