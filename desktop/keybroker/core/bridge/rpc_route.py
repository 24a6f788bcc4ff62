# SPDX-License-Identifier: Apache-2.0
"""The short way to the fast path: an agent's JSON-RPC POST served as raw ASGI (issue 16).

app.py recognises a POST on an agent's JSON-RPC URL once (`/agents/<slug>`, `/agents/<slug>/`, `/`
on an agent's own port), has the guard check it and read its body (`LocalhostGuard.admit`), counts
it, looks the agent up and checks its token like any agent request, then calls `serve_rpc`: the
body goes straight to the agent's fast path (fast_path.py), and its answer's bytes go out with the
headers it was built with. Starlette's application (ServerErrorMiddleware, ExceptionMiddleware,
Router, Route, request_response), the keep-alive wrapper of a JSON answer and the body's second and
third readings (disconnect.py, agent_app.Utf8Body) are not on this route: ~0.3 ms of CPU per request,
profiled. What the fast path leaves (it returns None: a prompt, a version or method it does not
serve, a body it cannot read) goes to the agent's channel app as every other request does, body
replayed, event streams kept alive, so its answer is today's to the byte.

What the skipped layers guaranteed holds here too:
- a client that goes away cancels the call, prompt and upstream exchange included
  (`cancel_on_disconnect` runs around all of it);
- an event stream (fast_stream.py) is pinged when quiet (keepalive.py), and its generator is closed
  however the stream ends, so the agent's connection is closed with it; its head goes out when the
  stream asks for it, once the agent's request is written (client_head.py), or before its first
  chunk;
- an unexpected exception before the answer starts gets the JSON 500 the channel's app answers
  (agent_app.py), named by type in the log, never a traceback or a value; after it started, the
  exception goes on up and the server drops the connection, as Starlette's would.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from keybroker.core.bridge.client_head import HeadedStreamingResponse
from keybroker.core.bridge.disconnect import cancel_on_disconnect
from keybroker.core.bridge.guard import replay_body
from keybroker.core.bridge.keepalive import kept_alive

if TYPE_CHECKING:
    from keybroker.core.bridge.fast_path import FastPath

__all__ = ["INTERNAL_ERROR", "serve_rpc"]

log = logging.getLogger("keybroker.bridge")

#: agent_app._internal_error's answer, as bytes.
INTERNAL_ERROR = b'{"error":"internal_error","message":"the bridge failed on this request (see its log)"}'
_INTERNAL_HEADERS = [
    (b"content-length", str(len(INTERNAL_ERROR)).encode()),
    (b"content-type", b"application/json"),
]


async def serve_rpc(
    fast: FastPath | None,
    app: ASGIApp,
    scope: Scope,
    body: bytes,
    receive: Receive,
    send: Send,
    interval: float,
) -> None:
    """Answer one JSON-RPC POST whose `body` was read: by `fast` when it takes it, else by `app` (the
    agent's channel); `interval`: the keep-alive of event streams (module docstring)."""
    if fast is None or not fast.enabled:
        await cancel_on_disconnect(_kept(app, interval), scope, replay_body(body, receive), send)
        return

    async def fast_app(scope: Scope, receive: Receive, send: Send) -> None:
        await _fast(fast, app, scope, body, receive, send, interval)

    await cancel_on_disconnect(fast_app, scope, replay_body(body, receive), send)


def _kept(app: ASGIApp, interval: float) -> ASGIApp:
    async def kept(scope: Scope, receive: Receive, send: Send) -> None:
        await kept_alive(app, scope, receive, send, interval)

    return kept


async def _fast(
    fast: FastPath, app: ASGIApp, scope: Scope, body: bytes, receive: Receive, send: Send, interval: float
) -> None:
    try:
        answer = await fast.serve(Request(scope, receive))
    except Exception as exc:  # a bug of ours: the channel app's answer, not a traceback
        log.error("bridge: unexpected %s on %s %s", type(exc).__name__, scope["method"], scope["path"])
        await send({"type": "http.response.start", "status": 500, "headers": _INTERNAL_HEADERS})
        await send({"type": "http.response.body", "body": INTERNAL_ERROR})
        return
    if answer is None:  # the full path's: the body once more, from the start
        await kept_alive(app, scope, replay_body(body, receive), send, interval)
    elif isinstance(answer, StreamingResponse):
        await kept_alive(_Streamed(answer), scope, receive, send, interval)
    else:
        await _sent(answer, send)


async def _sent(answer: Response, send: Send) -> None:
    await send({"type": "http.response.start", "status": answer.status_code, "headers": answer.raw_headers})
    await send({"type": "http.response.body", "body": answer.body})


class _Streamed:
    """A `StreamingResponse` sent as it comes, without Starlette's task group listening for the
    disconnect (cancel_on_disconnect does), its generator closed however the stream ends."""

    def __init__(self, answer: StreamingResponse) -> None:
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self.answer
        chunks = answer.body_iterator
        started = False

        async def start() -> None:
            nonlocal started
            if not started:
                started = True
                head = {
                    "type": "http.response.start",
                    "status": answer.status_code,
                    "headers": answer.raw_headers,
                }
                await send(head)

        headed = answer.head if isinstance(answer, HeadedStreamingResponse) else None
        ended = False
        try:
            if headed is not None:
                headed.bind(start)  # the stream asks for it once the agent's request is written
            else:
                await start()
            async for chunk in chunks:
                if ended:
                    raise RuntimeError("the stream went on after its last chunk")
                if not started:
                    await start()
                data = chunk.encode(answer.charset) if isinstance(chunk, str) else chunk
                ended = headed is not None and headed.last  # the end goes out with it
                await send({"type": "http.response.body", "body": data, "more_body": not ended})
            if not ended:
                await start()
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
