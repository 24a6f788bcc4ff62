# SPDX-License-Identifier: Apache-2.0
"""One run's loopback callback for Agent Stack's OAuth extension (RFC 8252 §7.3).

A run whose agent declares OAuth demands opens an `OAuthCallback` before the first message goes out:
`http://127.0.0.1:<random port>/keybroker/<unguessable path>` is the `redirect_uri` the agent
registers (dynamic client registration) and sends the user back to. It listens for as long as the
run lasts (the agent's whole task when the bridge answers every sign-in itself) and not a moment
longer: a redirect after the run ended finds nothing listening.

Only a redirect the bridge is waiting for counts: `arm()` (after the user chose Open browser) gives
the one future the next GET on this run's own path completes. Any other path, a GET before the
browser was opened, or a second redirect, gets a 404 and is ignored. The `state` in the query is
the agent's to check (its OAuth client made it); the full callback URL goes back to the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

from keybroker.core.auth.loopback import answer_page, read_request_line, redirect_path
from keybroker.core.models import SecretValue

__all__ = ["OAuthCallback"]

_DONE = b"Signed in. Keybroker hands the sign-in to the agent; you can close this page."
_NOT_OURS = b"Not a Keybroker sign-in, or not one Keybroker waits for."


class OAuthCallback:
    """One run's callback listener; `await open()`, read `uri`, `arm()` per sign-in, `await close()`."""

    def __init__(self) -> None:
        self.path = redirect_path()
        self._server: asyncio.Server | None = None
        self._waiter: asyncio.Future[SecretValue] | None = None
        self._writers: set[asyncio.StreamWriter] = set()  # connections open now, closed with the listener

    @property
    def uri(self) -> str:
        """`http://127.0.0.1:<port><path>`: the `redirect_uri` the agent is given."""
        if self._server is None:
            raise RuntimeError("the callback listener is not open")
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}{self.path}"

    async def open(self) -> None:
        """Start listening on a free loopback port."""
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        """Stop listening; a sign-in still waiting is cancelled."""
        self.disarm()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):  # a connection still open (a browser slow to send its request)
            writer.close()
        self._writers.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    def arm(self) -> asyncio.Future[SecretValue]:
        """The future the next redirect to this run's path completes (with the full callback URL)."""
        self.disarm()
        self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter

    def disarm(self) -> None:
        """Redirects count no more until the next `arm()`."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.cancel()

    def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Coroutine[Any, Any, None]:
        self._writers.add(writer)  # noted at once: the serving task may not start before close()
        return self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await read_request_line(reader)
            if request is None:
                return
            method, target = request
            waiter = self._waiter
            ours = method == "GET" and urlsplit(target).path == self.path
            if ours and waiter is not None and not waiter.done():
                port = int(writer.get_extra_info("sockname")[1])
                waiter.set_result(SecretValue(f"http://127.0.0.1:{port}{target}"))
                self._waiter = None
                await answer_page(writer, 200, _DONE)
            else:
                await answer_page(writer, 404, _NOT_OURS)
        finally:
            self._writers.discard(writer)
            writer.close()
