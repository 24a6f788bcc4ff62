# SPDX-License-Identifier: Apache-2.0
"""guard.py: Host, Origin, OPTIONS, body size and the API token (INTERFACES "Every request")."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from keybroker.core.bridge.guard import MAX_BODY_BYTES, LocalhostGuard, bearer_ok, host_allowed
from keybroker.core.models import SecretValue

BASE = "http://127.0.0.1:7411"


class EchoApp:
    """Answers 200 with the size of the body it received; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = json.dumps({"received": size}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def echo() -> EchoApp:
    return EchoApp()


def _client(app: EchoApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=LocalhostGuard(app)), base_url=BASE)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "host", ["127.0.0.1:7411", "localhost:7411", "[::1]:7411", "LocalHost:7411", "127.0.0.1", "localhost"]
)
async def test_loopback_hosts_pass(echo: EchoApp, host: str) -> None:
    async with _client(echo) as client:
        response = await client.get("/agents/x", headers={"Host": host})
    assert response.status_code == 200
    assert echo.calls == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:7411",
        "127.0.0.1:9999",
        "localhost:80",
        "127.0.0.2:7411",
        "localhost.evil.example:7411",
        "127.0.0.1.nip.io:7411",
        "[::1]:7411x",
        "[::2]:7411",
        "",
        "0.0.0.0:7411",
    ],
)
async def test_other_hosts_are_refused_403(echo: EchoApp, host: str) -> None:
    async with _client(echo) as client:
        response = await client.get("/agents/x", headers={"Host": host})
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden_host"
    assert "Host" in response.json()["message"]
    assert echo.calls == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:7411", "null", ""])
async def test_any_origin_header_is_refused_403(echo: EchoApp, origin: str) -> None:
    async with _client(echo) as client:
        response = await client.post("/agents/x", content=b"{}", headers={"Origin": origin})
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden_origin"
    assert echo.calls == 0


@pytest.mark.asyncio
async def test_options_gets_405_without_cors_headers(echo: EchoApp) -> None:
    async with _client(echo) as client:
        response = await client.options(
            "/agents/x",
            headers={
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
    assert response.status_code == 405
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    assert response.json()["error"] == "method_not_allowed"
    assert "allow" not in response.headers  # the app did not answer 405: the guard cannot tell
    assert echo.calls == 1  # asked once, body-less, which methods the path has (its 200 is dropped)


class CorsyRouter:
    """Answers OPTIONS like a router with CORS middleware would: 405 + Allow + CORS headers."""

    def __init__(self, allow: bytes) -> None:
        self.allow = allow
        self.seen: list[tuple[str, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        self.seen.append((scope["method"], message.get("body", b"")))
        headers = [
            (b"allow", self.allow),
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-methods", b"GET, PUT, PATCH"),
        ]
        await send({"type": "http.response.start", "status": 405, "headers": headers})
        await send({"type": "http.response.body", "body": b"router's own body"})


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("allow", "expected"),
    [(b"GET, PUT", "GET, PUT"), (b"DELETE, GET, PATCH", "DELETE, GET, PATCH"), (b"GET\r\nX: y", None)],
)
async def test_options_allow_is_what_the_app_routes_say_and_nothing_else(
    allow: bytes, expected: str | None
) -> None:
    router = CorsyRouter(allow)
    transport = httpx.ASGITransport(app=LocalhostGuard(router))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        response = await c.request("OPTIONS", "/api/v1/secrets", content=b"ignored body")
    assert response.status_code == 405
    assert response.headers.get("allow") == expected
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    assert response.json()["error"] == "method_not_allowed"
    assert "router's own body" not in response.text
    assert router.seen == [("OPTIONS", b"")]


@pytest.mark.asyncio
async def test_options_from_a_browser_never_reaches_the_app(echo: EchoApp) -> None:
    async with _client(echo) as client:
        response = await client.options("/agents/x", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert echo.calls == 0


@pytest.mark.asyncio
async def test_announced_body_over_1_mib_gets_413_before_the_app_runs(echo: EchoApp) -> None:
    async with _client(echo) as client:
        response = await client.post("/agents/x", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert echo.calls == 0


@pytest.mark.asyncio
async def test_streamed_body_over_1_mib_is_counted_and_gets_413(echo: EchoApp) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(17):
            yield b"y" * 65536  # 17 x 64 KiB > 1 MiB, no Content-Length

    async with _client(echo) as client:
        response = await client.post("/agents/x", content=chunks())
    assert response.status_code == 413
    assert echo.calls == 0


@pytest.mark.asyncio
async def test_body_of_exactly_1_mib_reaches_the_app_whole(echo: EchoApp) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(16):
            yield b"z" * 65536

    async with _client(echo) as client:
        streamed = await client.post("/agents/x", content=chunks())
        announced = await client.post("/agents/x", content=b"z" * MAX_BODY_BYTES)
    assert streamed.status_code == announced.status_code == 200
    assert streamed.json() == announced.json() == {"received": MAX_BODY_BYTES}


@pytest.mark.asyncio
async def test_malformed_content_length_gets_400(echo: EchoApp) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["headers"] = [*scope["headers"], (b"content-length", b"12, 13")]
        await LocalhostGuard(echo)(scope, receive, send)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        response = await client.get("/agents/x")
    assert response.status_code == 400
    assert echo.calls == 0


@pytest.mark.asyncio
async def test_two_host_headers_are_refused(echo: EchoApp) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["headers"] = [*scope["headers"], (b"host", b"evil.example")]
        await LocalhostGuard(echo)(scope, receive, send)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        response = await client.get("/agents/x")
    assert response.status_code == 403
    assert echo.calls == 0


@pytest.mark.asyncio
async def test_websocket_scopes_are_closed() -> None:
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    echo = EchoApp()
    scope = {"type": "websocket", "path": "/agents/x", "headers": [(b"host", b"127.0.0.1:7411")]}
    await LocalhostGuard(echo)(scope, receive, send)  # type: ignore[arg-type]
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert echo.calls == 0


def test_host_allowed_needs_the_bound_port_when_one_is_given() -> None:
    assert host_allowed("127.0.0.1:7411", 7411)
    assert not host_allowed("127.0.0.1:7412", 7411)
    assert host_allowed("localhost:1234", None)
    assert not host_allowed("localhost:", 7411)


def _scope(*authorization: bytes) -> Scope:
    return {"type": "http", "headers": [(b"authorization", value) for value in authorization]}


def test_bearer_ok_accepts_only_the_exact_token() -> None:
    token = SecretValue("kb-token-123")
    assert bearer_ok(_scope(b"Bearer kb-token-123"), token)
    assert bearer_ok(_scope(b"bearer   kb-token-123 "), token)
    assert not bearer_ok(_scope(b"Bearer kb-token-124"), token)
    assert not bearer_ok(_scope(b"Bearer kb-token-12"), token)
    assert not bearer_ok(_scope(b"Basic kb-token-123"), token)
    assert not bearer_ok(_scope(b"kb-token-123"), token)
    assert not bearer_ok(_scope(b"Bearer "), token)
    assert not bearer_ok(_scope(), token)
    assert not bearer_ok(_scope(b"Bearer kb-token-123", b"Bearer kb-token-123"), token)
    assert not bearer_ok(_scope(b"Bearer kb-token-123"), None)
