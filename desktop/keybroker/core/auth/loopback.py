# SPDX-License-Identifier: Apache-2.0
"""The loopback redirect of a native app's sign-in (RFC 8252 §7.3): one listener per flow.

`LoopbackRedirect` listens on `127.0.0.1` (a random free port unless one is given) only while a
flow runs, at an unguessable path (or the path of the redirect URI the client was registered with).
`wait()` returns the first GET on that path, as the full redirect URL; any other path gets a 404 and
is ignored. The browser is told it can close the page. The caller checks `state` and `iss`
(signin_flows.py): this module only catches the redirect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets as _random
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

__all__ = ["LoopbackRedirect", "answer_page", "read_request_line", "redirect_path"]

log = logging.getLogger("keybroker.auth")

MAX_REQUEST_BYTES = 16 * 1024
_PAGE = (
    b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Keybroker</title></head>"
    b"<body><h1>Keybroker</h1><p>%s</p></body></html>"
)


async def read_request_line(reader: asyncio.StreamReader) -> tuple[str, str] | None:
    """The method and target of one HTTP request (its head within 10 s), or None when none came;
    ("", "") for a head that is no request line."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
        return None
    try:
        method, target, _ = head[:MAX_REQUEST_BYTES].split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    except ValueError:
        return "", ""
    return method, target


async def answer_page(writer: asyncio.StreamWriter, status: int, text: bytes) -> None:
    """Answer with a small Keybroker page saying `text` (200 or 404), then close."""
    body = _PAGE % text
    reason = b"OK" if status == 200 else b"Not Found"
    writer.write(
        b"HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n"
        b"Cache-Control: no-store\r\nConnection: close\r\n\r\n%s" % (status, reason, len(body), body)
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()


def redirect_path() -> str:
    """An unguessable path for a loopback redirect."""
    return f"/keybroker/{_random.token_urlsafe(18)}"


class LoopbackRedirect:
    """One flow's redirect listener; `async with` it, read `uri`, then `await wait()`."""

    def __init__(self, path: str | None = None, *, port: int = 0, done_text: str = "") -> None:
        self.path = path or redirect_path()
        self._port = port
        self._done = (done_text or "Signed in. You can close this page and go back.").encode()
        self._server: asyncio.Server | None = None
        self._result: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def uri(self) -> str:
        """`http://127.0.0.1:<port><path>`: the redirect_uri to send."""
        if self._server is None:
            raise RuntimeError("the listener is not open")
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}{self.path}"

    async def __aenter__(self) -> LoopbackRedirect:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        for writer in list(self._writers):  # a connection still open when the flow ends (cancelled)
            writer.close()
        self._writers.clear()
        if not self._result.done():
            self._result.cancel()

    async def wait(self) -> str:
        """The redirect URL the browser brought (waits as long as the caller lets it)."""
        return await asyncio.shield(self._result)

    def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Coroutine[Any, Any, None]:
        # Noted at once (the serving task may never start if the flow ends first), closed in __aexit__.
        self._writers.add(writer)
        return self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve_one(reader, writer)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request_line(reader)
        if request is None:
            return
        method, target = request
        path = urlsplit(target).path
        if method == "GET" and path == self.path and not self._result.done():
            self._result.set_result(f"http://127.0.0.1{':' + str(self._port_of(writer))}{target}")
            await answer_page(writer, 200, self._done)
        else:
            await answer_page(writer, 404, b"Not a Keybroker sign-in.")

    @staticmethod
    def _port_of(writer: asyncio.StreamWriter) -> int:
        return int(writer.get_extra_info("sockname")[1])
