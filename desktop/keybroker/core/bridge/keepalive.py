# SPDX-License-Identifier: Apache-2.0
"""SSE keep-alive: a comment line whenever an event stream has been quiet for a few seconds.

While the bridge waits for the user (a prompt can take minutes), a streaming client would otherwise
see nothing, and a2a-sdk's default httpx client gives up after 5 s of silence (DESIGN §1). sse-starlette
pings only every 15 s and a2a-sdk offers no way to change that, so this ASGI middleware does it for
every `text/event-stream` response, whichever route made it. A ping is an SSE comment
(`: keep-alive`), which every SSE parser skips. The timer exists only while a stream is open: an
idle server has no timer (and, when the last stream closes, sse-starlette's own shutdown poller is
stopped too: sse_idle.py). It is a `LazyTimer` (lazy_timer.py), not a task sleeping in a loop: a
stream whose events come faster than the interval never starts a task for its pings (one task's start,
sleeps and cancel per stream saved, issue 16); a ping, when one is due, is sent by a task of its own.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keybroker.core.bridge.lazy_timer import LazyTimer
from keybroker.core.bridge.sse_idle import stop_idle_sse_watcher

__all__ = ["DEFAULT_KEEPALIVE_SECONDS", "PING", "SseKeepAlive", "kept_alive"]

DEFAULT_KEEPALIVE_SECONDS = 3.0
PING = b": keep-alive\n\n"


def _is_event_stream(message: Message) -> bool:
    for key, value in message.get("headers", ()):
        if key.lower() == b"content-type":
            return bool(value.lower().startswith(b"text/event-stream"))
    return False


class _Stream:
    """One open event stream: serialises sends and pings when quiet."""

    def __init__(self, send: Send, interval: float) -> None:
        self._send = send
        self._interval = interval
        self._lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self._timer = LazyTimer(self._loop, self._due)
        self._pinging: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._quiet_from_now()

    async def send(self, message: Message) -> None:
        async with self._lock:
            await self._send(message)
            self._quiet_from_now()
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self._closed = True

    def _quiet_from_now(self) -> None:
        """Something was sent: the next ping is due an interval from now."""
        if not self._closed:
            self._timer.set(self._loop.time() + self._interval)

    def _due(self) -> None:
        """The stream has been quiet for the interval: a ping."""
        if not self._closed and self._pinging is None:
            self._pinging = self._loop.create_task(self._ping(), name="sse-keepalive")

    async def _ping(self) -> None:
        try:
            async with self._lock:
                if self._closed:
                    return
                await self._send({"type": "http.response.body", "body": PING, "more_body": True})
                self._quiet_from_now()
        except Exception:  # the client went away: the app will notice on its own send
            return
        finally:
            self._pinging = None

    def stop(self) -> None:
        # A ping in flight is cancelled, not awaited: awaiting it here could swallow the cancellation
        # of the request task itself.
        self._closed = True
        self._timer.cancel()
        if self._pinging is not None:
            self._pinging.cancel()


class SseKeepAlive:
    """ASGI middleware adding keep-alive comments to quiet `text/event-stream` responses."""

    def __init__(self, app: ASGIApp, *, interval: float = DEFAULT_KEEPALIVE_SECONDS) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.app = app
        self.interval = interval

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await kept_alive(self.app, scope, receive, send, self.interval)


async def kept_alive(app: ASGIApp, scope: Scope, receive: Receive, send: Send, interval: float) -> None:
    """Run `app` for one HTTP request, pinging its answer every `interval` quiet seconds when it is
    an event stream (`SseKeepAlive` for one request; app.py's JSON-RPC route calls it directly)."""
    stream: _Stream | None = None

    async def wrapped(message: Message) -> None:
        nonlocal stream
        if stream is not None:
            await stream.send(message)
            return
        if message["type"] == "http.response.start" and _is_event_stream(message):
            stream = _Stream(send, interval)
            await stream.send(message)
            stream.start()
            return
        await send(message)

    try:
        await app(scope, receive, wrapped)
    finally:
        if stream is not None:
            stream.stop()
            stop_idle_sse_watcher()
