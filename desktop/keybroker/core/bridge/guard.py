# SPDX-License-Identifier: Apache-2.0
"""Localhost safety for every request the bridge serves (DESIGN §4, INTERFACES "Every request").

Other local processes and web pages can reach loopback, so before anything else runs:
- a `Host` that is not `127.0.0.1`, `localhost` or `[::1]` (optionally with the bound port) gets 403:
  a DNS-rebinding page names its own host;
- any `Origin` header gets 403: browsers send it on cross-site requests (CSRF); A2A clients don't;
- `OPTIONS` gets 405 with no CORS headers, so no preflight ever succeeds. Its `Allow` header lists
  the methods the path really has: the app behind is asked (an OPTIONS request with no body, whose
  own answer is dropped; routers answer it with their 405 before any endpoint runs), and only its
  `Allow` is kept. A path the app does not know gets no `Allow`;
- a body over 1 MiB gets 413, whether announced by `Content-Length` or counted while it streams in;
  one that has not arrived in full within 30 s gets 408 (a slow body would hold its connection).
The body is read here in full (it is at most 1 MiB) and replayed to the app, so a 413 is always a
clean answer rather than a half-read request. When the server says the whole body is in already
(`BODY_RECEIVED` in the scope, connections.py), it is read without the timeout's timer. Errors are
small JSON objects saying what was wrong.

`bearer_ok` checks the per-install API token for agents added with `--require-token`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keybroker.core.models import SecretValue

__all__ = [
    "BODY_RECEIVED",
    "BODY_TIMEOUT_SECONDS",
    "LOOPBACK_NAMES",
    "MAX_BODY_BYTES",
    "LocalhostGuard",
    "bearer_ok",
    "send_json_error",
]

MAX_BODY_BYTES = 1024 * 1024
#: In a request's scope when its server has the whole body already (`receive()` will not wait).
BODY_RECEIVED = "keybroker.body_received"
#: Seconds a request body may take to arrive in full (1 MiB takes milliseconds on loopback).
BODY_TIMEOUT_SECONDS = 30.0
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
#: An `Allow` value worth passing on: method tokens and commas, nothing else.
_ALLOW_VALUE = re.compile(rb"[A-Z]{3,7}(?:, ?[A-Z]{3,7})*")
#: How long the app behind may take to say which methods a path allows.
_ALLOW_TIMEOUT = 5.0


async def send_json_error(
    send: Send,
    status: int,
    reason: str,
    message: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Answer with `{"error": reason, "message": message}` and `status`; the connection stays usable."""
    body = json.dumps({"error": reason, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _header(scope: Scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope.get("headers", ()) if key.lower() == name]


def host_allowed(host: str, port: int | None) -> bool:
    """True for a loopback name, bare or with `port` (the port the request came in on)."""
    host = host.strip().lower()
    if host in LOOPBACK_NAMES:
        return True
    name, sep, given = host.rpartition(":")
    if not sep or name not in LOOPBACK_NAMES or not given.isdigit():
        return False
    return port is None or int(given) == port


def bearer_ok(scope: Scope, token: SecretValue | None) -> bool:
    """True when the request carries `Authorization: Bearer <token>` (constant-time compare)."""
    if token is None:
        return False
    values = _header(scope, b"authorization")
    if len(values) != 1:
        return False
    scheme, _, given = values[0].decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    return hmac.compare_digest(given.strip().encode("latin-1"), token.reveal().encode("utf-8"))


class _TooLarge(Exception):
    pass


class LocalhostGuard:
    """ASGI middleware enforcing the localhost rules above, then calling `app`."""

    def __init__(
        self, app: ASGIApp, *, max_body: int = MAX_BODY_BYTES, body_timeout: float = BODY_TIMEOUT_SECONDS
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            # No websockets here: close before accepting.
            await send({"type": "websocket.close", "code": 1008})
            return
        body = await self.admit(scope, receive, send)
        if body is not None:
            await self.app(scope, replay_body(body, receive), send)

    async def admit(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """Every check above for an HTTP request, and its body read in full; None when the request
        was answered here (a refusal, OPTIONS) or its client went away while sending. The bridge's
        JSON-RPC route (app.py) calls this itself rather than going through `__call__`."""
        problem = self._refusal(scope)
        if problem is not None:
            status, reason, message, headers = problem
            await send_json_error(send, status, reason, message, headers)
            return None
        if scope.get("method") == "OPTIONS":
            allow = await self._allowed(scope)
            headers = [(b"allow", allow)] if allow else []
            await send_json_error(send, 405, "method_not_allowed", "OPTIONS is not served (no CORS)", headers)
            return None
        problem = self._size_refusal(scope)
        if problem is not None:
            status, reason, message, headers = problem
            await send_json_error(send, status, reason, message, headers)
            return None
        try:
            if scope.get(BODY_RECEIVED):
                return await self._read_body(receive)
            async with asyncio.timeout(self.body_timeout):
                return await self._read_body(receive)  # None: the client went away while sending
        except _TooLarge:
            await send_json_error(
                send, 413, "payload_too_large", f"request body is larger than {self.max_body} bytes"
            )
            return None
        except TimeoutError:  # a body dribbling in holds a connection: cut it off
            message = f"the request body did not arrive within {self.body_timeout:g} s"
            await send_json_error(send, 408, "request_timeout", message, [(b"connection", b"close")])
            return None

    def _refusal(self, scope: Scope) -> tuple[int, str, str, list[tuple[bytes, bytes]]] | None:
        hosts = _header(scope, b"host")
        server = scope.get("server")
        port = server[1] if server and len(server) > 1 and isinstance(server[1], int) else None
        if len(hosts) != 1:
            return 403, "forbidden_host", "the request needs exactly one Host header", []
        host = hosts[0].decode("latin-1")
        if not host_allowed(host, port):
            return (
                403,
                "forbidden_host",
                "Host must be 127.0.0.1, localhost or [::1] (with the bridge's port)",
                [],
            )
        if _header(scope, b"origin"):
            return 403, "forbidden_origin", "requests with an Origin header are refused (no browsers)", []
        return None

    def _size_refusal(self, scope: Scope) -> tuple[int, str, str, list[tuple[bytes, bytes]]] | None:
        lengths = _header(scope, b"content-length")
        if lengths:
            text = lengths[0].decode("latin-1").strip()
            if len(lengths) > 1 or not text.isdigit():
                return 400, "bad_request", "malformed Content-Length", []
            if int(text) > self.max_body:
                return (
                    413,
                    "payload_too_large",
                    f"request body is larger than {self.max_body} bytes",
                    [],
                )
        return None

    async def _allowed(self, scope: Scope) -> bytes | None:
        """The `Allow` header the app would send for this path (from its 405), or None."""
        found: list[bytes] = []
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # never a disconnect: the app answers or times out
            raise AssertionError("unreachable")

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 405:
                found.extend(v for k, v in message.get("headers", ()) if k.lower() == b"allow")

        child = dict(scope)
        child["headers"] = [(k, v) for k, v in scope.get("headers", ()) if k.lower() != b"content-length"]
        try:
            async with asyncio.timeout(_ALLOW_TIMEOUT):
                await self.app(child, receive, capture)
        except Exception:  # the answer is only a hint: no Allow rather than no 405
            return None
        if len(found) == 1 and _ALLOW_VALUE.fullmatch(found[0]):
            return found[0]
        return None

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` giving `body` once, then the real one (so disconnects still arrive)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
