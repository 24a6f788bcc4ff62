# SPDX-License-Identifier: Apache-2.0
"""A client that goes away takes its request with it: the handler is cancelled (issue 12, item 7).

uvicorn does not cancel a request when its client disconnects: it only answers the next `receive()`
with `http.disconnect`. A2A's blocking calls never call `receive()` once the body is read, so a
`message/send` whose client gave up (`curl -m 5`) kept running: its prompt stayed on screen (and,
allowed minutes later, released a value to nobody), and its upstream request held one of the agent's
pool slots until the agent answered, so twenty abandoned sends left a `tasks/get` waiting for minutes.

`cancel_on_disconnect(app, scope, receive, send)` reads the request body, then watches `receive()`
for the disconnect while `app` runs; the app's own `receive` gives it the body and then waits for that
same disconnect (streaming responses listen for it too). On the bridge's own server the connection
tells of its loss itself (connections.py puts `DISCONNECT_WATCH` in the scope): then no watching task
is started (one task, three turns of the loop and ~30 µs of CPU per request, issue 16) and the app's
`receive` is the server's, after the body. When the client goes before the response is
complete, the request's task is cancelled: the run closes its upstream exchange (freeing the slot), and
the broker withdraws the run's prompt, or only removes the run from a prompt others still wait on. The
cancellation is ours, so it ends here; any other (a server shutdown) goes on up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DISCONNECT_WATCH", "DisconnectWatch", "cancel_on_disconnect"]

log = logging.getLogger("keybroker.bridge")

_DISCONNECT: Message = {"type": "http.disconnect"}

#: `watch(callback) -> unwatch`: `callback` is called (on the loop, once) when the request's connection
#: is lost, or soon when it was already; `unwatch()` forgets it. In a request's scope when its server
#: says so (connections.py).
DisconnectWatch = Callable[[Callable[[], None]], Callable[[], None]]
DISCONNECT_WATCH = "keybroker.disconnect_watch"


async def _read_body(receive: Receive) -> list[Message] | None:
    """The request's body messages, or None when the client went away while sending."""
    messages: list[Message] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        messages.append(message)
        if not message.get("more_body", False):
            return messages


async def cancel_on_disconnect(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run `app`; cancel it when the client disconnects before the response is complete."""
    body = await _read_body(receive)
    if body is None:
        return
    task = asyncio.current_task()
    assert task is not None
    complete = False
    cancelled = False

    def gone() -> None:
        nonlocal cancelled
        if not complete:
            cancelled = True
            task.cancel()

    async def app_send(message: Message) -> None:
        nonlocal complete
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            complete = True
        await send(message)

    watch: DisconnectWatch | None = scope.get(DISCONNECT_WATCH)
    unwatch: Callable[[], object]
    if watch is not None:
        unwatch = watch(gone)

        async def told_receive() -> Message:
            return body.pop(0) if body else await receive()

        app_receive: Receive = told_receive
    else:
        seen = asyncio.Event()

        async def watched() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass  # nothing else arrives once the body is read; a disconnect is what we wait for
            seen.set()
            gone()

        async def watched_receive() -> Message:
            if body:
                return body.pop(0)
            await seen.wait()
            return _DISCONNECT

        watcher = asyncio.get_running_loop().create_task(watched(), name="keybroker disconnect watch")
        unwatch = watcher.cancel
        app_receive = watched_receive
    try:
        await app(scope, app_receive, app_send)
    except asyncio.CancelledError:
        if cancelled and task.uncancel() == 0:
            log.info("bridge: the client of %s %s went away: request ended", scope["method"], scope["path"])
            return
        raise
    else:
        if cancelled:  # the app swallowed our cancellation: it is still ours to take back
            task.uncancel()
    finally:
        unwatch()
