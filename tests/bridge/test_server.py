# SPDX-License-Identifier: Apache-2.0
"""server.py: loopback only, port 0 picks a free port, a clean stop, no date header."""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from keybroker.core.bridge.server import bind_loopback, running_bridge
from keybroker.core.errors import BridgeError, InvalidInputError


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("hello")(scope, receive, send)


@pytest.mark.asyncio
async def test_port_0_picks_a_free_loopback_port_and_serves_until_the_block_ends() -> None:
    async with running_bridge(hello, 0) as port:
        assert port > 0
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(f"http://127.0.0.1:{port}/")
        assert response.text == "hello"
        assert "date" not in response.headers
        assert "server" not in response.headers
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(trust_env=False) as client:
            await client.get(f"http://127.0.0.1:{port}/")


@pytest.mark.asyncio
async def test_a_port_in_use_is_a_bridge_error_with_a_hint() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BridgeError) as caught:
            async with running_bridge(hello, port):
                pass
    assert str(port) in caught.value.message
    assert caught.value.hint is not None and "--port" in caught.value.hint


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.org", ""])  # noqa: S104
def test_only_loopback_addresses_can_be_bound(host: str) -> None:
    with pytest.raises(InvalidInputError):
        bind_loopback(0, host)


def test_the_listening_socket_is_tcp_with_nodelay() -> None:
    sock = bind_loopback(0)
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
        assert sock.proto == socket.IPPROTO_TCP  # asyncio then sets TCP_NODELAY per connection
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        sock.close()
