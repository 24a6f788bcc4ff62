# SPDX-License-Identifier: Apache-2.0
"""How many connections the bridge holds, and for how long one may take to say what it wants.

Issue 12, item 9: 1,100 idle connections used up the process's open files (a desktop's usual limit is
1,024), after which nothing was accepted (nor could the bridge open a connection to an agent, or its
catalog); a connection that sends half its headers was held forever, since uvicorn only times out idle
keep-alive connections. uvicorn's own `limit_concurrency` answers 503 to everything past the limit,
the management API included. So the bridge's HTTP protocol (uvicorn's, subclassed) adds:

- a header timeout: a connection must complete its request headers within `header_timeout` seconds
  of connecting, or of its previous response; one that does not (it sent nothing, or a few bytes at
  a time) is closed;
- a header size cap, `max_header_bytes`: a request line and headers longer than that get 431 and the
  connection is closed. h11 has such a cap of its own; httptools (llhttp) has none, and uvicorn keeps
  whatever headers arrive, so without this one client could fill the memory for a header timeout;
- a connection cap, `max_connections`, by default half the soft open-files limit (at most 1,024):
  past it, the connection that has waited longest for its request to arrive (idle, or still sending
  headers or body) is closed to make room; only when every connection is busy with a request is the
  new one refused (503, then closed). The bridge caps its agent requests in flight below that
  (`agent_requests`, app.py), so `reserve` connections always remain for the management API.

No timer runs on an idle server: a connection's timer exists only while it is open. It is a
`LazyTimer` (lazy_timer.py): a kept-alive connection does not make and cancel one per request.

Each request's scope also gets `DISCONNECT_WATCH` (disconnect.py): the connection calls what is
registered there when it is lost, so a request need not watch `receive()` for it with a task; and
`BODY_RECEIVED` (guard.py) once its whole body is in, so the guard reads it without a timer. Each
response's head goes out with its body, in one write (held_head.py).

uvicorn's HTTP/1.1 parser is httptools where it is installed (a dependency on Linux and macOS: fewer
calls per request than h11), else h11; `KEYBROKER_HTTP=h11` (or `httptools`) chooses, to compare.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from keybroker.core.bridge.disconnect import DISCONNECT_WATCH
from keybroker.core.bridge.guard import BODY_RECEIVED
from keybroker.core.bridge.held_head import HeldHead
from keybroker.core.bridge.lazy_timer import LazyTimer
from keybroker.core.errors import InvalidInputError

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_MAX_HEADER_BYTES",
    "HTTP_ENV",
    "ConnectionLimits",
    "default_max_connections",
    "governed_protocol",
    "http_parser",
]

log = logging.getLogger("keybroker.bridge")

#: Seconds a connection has to complete its request headers (real clients send them in one packet).
DEFAULT_HEADER_TIMEOUT = 10.0
#: Connections kept for the management API when agent requests take all the others.
DEFAULT_RESERVE = 32
#: The request line and headers together (h11's own default, stated): past it the client gets an error.
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
#: `h11` or `httptools`: uvicorn's HTTP/1.1 parser (default: httptools when installed).
HTTP_ENV = "KEYBROKER_HTTP"

_BUSY_BODY = b'{"error":"busy","message":"the bridge has too many connections open"}'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"retry-after: 1\r\ncontent-length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)
_TOO_LARGE_BODY = b'{"error":"headers_too_large","message":"the request line and headers are too long"}'
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: "
    + str(len(_TOO_LARGE_BODY)).encode()
    + b"\r\n\r\n"
    + _TOO_LARGE_BODY
)


def default_max_connections() -> int:
    """Half the soft limit on open files (the rest is for agents, the vault, the catalog), 64-1,024."""
    try:
        import resource
    except ImportError:  # Windows: no such limit on sockets
        return 1024
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(64, min(1024, soft // 2))


@dataclass(frozen=True)
class ConnectionLimits:
    """The bridge's limits on its clients' connections (see the module docstring)."""

    max_connections: int = field(default_factory=default_max_connections)
    """Connections held at once; past it the longest-waiting one is closed, or the new one refused."""
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    """Seconds to complete the request headers, from connecting or from the previous response."""
    reserve: int = DEFAULT_RESERVE
    """Connections kept for the management API: agent requests in flight stop short of them."""
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    """The request line and headers together; past it 431 and the connection is closed."""

    def __post_init__(self) -> None:
        if self.max_connections < 2 or self.header_timeout <= 0 or self.max_header_bytes < 1024:
            raise ValueError(
                "max_connections must be at least 2, header_timeout positive, max_header_bytes >= 1024"
            )
        if not 0 <= self.reserve < self.max_connections:
            raise ValueError("reserve must be from 0 to max_connections - 1")

    @property
    def agent_requests(self) -> int:
        """Agent requests the bridge serves at once (app.py answers 503 past it)."""
        return self.max_connections - self.reserve


class _Governed:
    """Mixed into uvicorn's HTTP protocol class (`governed_protocol`). Uses its attributes:
    `transport`, `cycle` (the request/response in progress), `connections` (the server's), `loop`."""

    limits: ClassVar[ConnectionLimits]
    transport: asyncio.Transport
    cycle: Any
    connections: set[Any]
    loop: asyncio.AbstractEventLoop
    _timer: LazyTimer | None = None
    _waited_for: Any = None
    _waiting_since: float = 0.0
    _header_bytes: int = 0
    _watchers: set[Callable[[], None]] | None = None
    _lost: bool = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._timer = LazyTimer(self.loop, self._headers_too_slow)
        self._await_request()
        if self._open_count() > self.limits.max_connections:
            victim = self._longest_waiting()
            if victim is None:
                self._refuse()
                return
            log.info("bridge: %d connections open; the longest waiting one is closed", len(self.connections))
            victim.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        self._hold_head()  # h11 made its cycle here (httptools: in on_headers_complete)
        cycle = self.cycle
        if cycle is not self._waited_for:  # the headers are in (the timer, when it goes off, sees it)
            scope = cycle.scope
            if DISCONNECT_WATCH not in scope:
                scope[DISCONNECT_WATCH] = self._watch_disconnect
            if not cycle.more_body:
                scope[BODY_RECEIVED] = True
        elif not self.transport.is_closing():  # still owed headers: all of `data` was headers
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                log.info("bridge: request headers over %d bytes: closed", self.limits.max_header_bytes)
                self.transport.write(_TOO_LARGE)
                self.transport.close()

    def on_headers_complete(self) -> None:
        """httptools' parser callback, once per request (a pipelined one too, which `data_received` only
        sees as the one before the latest): its scope gets `DISCONNECT_WATCH` before its task starts."""
        super().on_headers_complete()  # type: ignore[misc]
        cycle = self.cycle
        if cycle is not None:
            cycle.scope[DISCONNECT_WATCH] = self._watch_disconnect
        self._hold_head()

    def on_response_complete(self) -> None:
        self._await_request()
        super().on_response_complete()  # type: ignore[misc]  # may start a pipelined request at once
        self._hold_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._timer is not None:
            self._timer.cancel()
        try:
            super().connection_lost(exc)  # type: ignore[misc]
        finally:
            watchers, self._watchers = self._watchers, None
            for callback in watchers or ():
                try:
                    callback()
                except Exception:  # one request's trouble must not keep the others running
                    log.exception("bridge: a request could not be told its client went away")

    # ---------------------------------------------------------------------------------------------

    def _watch_disconnect(self, callback: Callable[[], None]) -> Callable[[], None]:
        """`DISCONNECT_WATCH`: call `callback` when the connection is lost; returns how to stop."""
        if self._lost:
            return self.loop.call_soon(callback).cancel
        if self._watchers is None:
            self._watchers = set()
        watchers = self._watchers
        watchers.add(callback)
        return lambda: watchers.discard(callback)

    def _hold_head(self) -> None:
        """The current request's response: its head and body in one write (held_head.py), from its
        first write on."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_started and not isinstance(cycle.transport, HeldHead):
            cycle.transport = HeldHead(cycle.transport, self.loop)

    def _await_request(self) -> None:
        """From now on the client owes us its next request's headers, within the header timeout."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A pipelined request came with the last one: its headers are in, and it starts now.
            self._waited_for = None
            return
        self._waited_for = cycle
        self._waiting_since = self.loop.time()
        self._header_bytes = 0
        if self._timer is not None:
            self._timer.set(self._waiting_since + self.limits.header_timeout)

    def _headers_too_slow(self) -> None:
        if self.cycle is not self._waited_for or self.transport.is_closing():
            return  # the headers came (the next wait sets the timer again), or the connection goes
        log.debug("bridge: no request headers within %g s; connection closed", self.limits.header_timeout)
        self.transport.close()

    def _waiting(self) -> bool:
        """True while the request has not fully arrived (no headers yet, or the body still coming)."""
        cycle = self.cycle
        if cycle is None or cycle is self._waited_for:
            return True
        return bool(cycle.more_body) and not cycle.response_started

    def _open_count(self) -> int:
        if len(self.connections) <= self.limits.max_connections:
            return len(self.connections)
        return sum(1 for c in self.connections if c.transport is not None and not c.transport.is_closing())

    def _longest_waiting(self) -> _Governed | None:
        oldest: _Governed | None = None
        for other in self.connections:
            if other is self or not isinstance(other, _Governed) or other.transport.is_closing():
                continue
            if other._waiting() and (oldest is None or other._waiting_since < oldest._waiting_since):
                oldest = other
        return oldest

    def _refuse(self) -> None:
        log.warning("bridge: %d connections, all busy: a new one was refused", len(self.connections))
        self.transport.write(_BUSY)
        self.transport.close()


def http_parser() -> str:
    """`"httptools"` or `"h11"`: the parser the bridge's HTTP protocol uses (`KEYBROKER_HTTP`, else
    httptools when it is installed); InvalidInputError on a setting that cannot be had."""
    import importlib.util

    wanted = os.environ.get(HTTP_ENV, "").strip().lower()
    if wanted not in ("", "h11", "httptools"):
        raise InvalidInputError(
            f"{HTTP_ENV} must be h11 or httptools, not {wanted!r}", hint=f"unset {HTTP_ENV}"
        )
    available = importlib.util.find_spec("httptools") is not None
    if wanted == "httptools" and not available:
        raise InvalidInputError(
            f"{HTTP_ENV}=httptools, but httptools is not installed", hint=f"unset {HTTP_ENV}"
        )
    return wanted or ("httptools" if available else "h11")


def _uvicorn_protocol() -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol class for `http_parser()`."""
    if http_parser() == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    return HttpToolsProtocol


def governed_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class with `limits` applied, for `uvicorn.Config(http=...)`."""
    base = _uvicorn_protocol()
    governed = type("GovernedHttpProtocol", (_Governed, base), {"limits": limits, "__module__": __name__})
    return cast("type[asyncio.Protocol]", governed)
