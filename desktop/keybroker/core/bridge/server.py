# SPDX-License-Identifier: Apache-2.0
"""Serving an ASGI app on loopback from the running loop (DESIGN §2).

uvicorn runs through `Server.startup()` / `Server.shutdown()` around the caller's own wait, never
`Server.serve()`: its main loop wakes every 0.1 s forever, and an idle tray app must not wake. The
date header is off (it needs a per-second refresh), and so are proxy headers (the client address
is the socket's, never what a request says it is). We bind the socket ourselves, on 127.0.0.1 (or
::1) only, so `port=0` picks a free port and the caller learns which. Connections are capped, and
must send their headers in time (connections.py); idle keep-alive ones close after uvicorn's 5 s.

    async with running_bridge(app, 0) as port:
        await stop.wait()
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import ASGIApp

from keybroker.core.bridge.connections import DEFAULT_MAX_HEADER_BYTES, ConnectionLimits, governed_protocol
from keybroker.core.errors import BridgeError, InvalidInputError
from keybroker.system.settings import DEFAULT_PORT

__all__ = ["ACCEPT_BACKLOG", "DEFAULT_PORT", "SHUTDOWN_GRACE_SECONDS", "bind_loopback", "running_bridge"]

log = logging.getLogger("keybroker.bridge")

#: Open SSE streams get this long to finish when the bridge stops; then their tasks are cancelled.
SHUTDOWN_GRACE_SECONDS = 3
#: The request line and headers together (h11's default, stated): past it the client gets a 400 (h11) or
#: a 431 (connections.py, whichever parser runs).
MAX_HEADER_BYTES = DEFAULT_MAX_HEADER_BYTES
#: Connections the kernel queues for us, and asyncio accepts in one go (it accepts up to the backlog
#: per wake-up before any of them reaches the connection cap): uvicorn's 2,048 let a flood take every
#: open file (1,024 on a desktop) in one gulp. Clients past the queue retry their connect.
ACCEPT_BACKLOG = 128


def _loopback(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidInputError(f"the bridge binds a loopback address only, not {host!r}") from None
    if not address.is_loopback:
        raise InvalidInputError(f"the bridge binds a loopback address only, not {host!r}")
    return str(address)


def bind_loopback(port: int, host: str = "127.0.0.1", backlog: int = ACCEPT_BACKLOG) -> socket.socket:
    """A listening, non-blocking TCP socket on a loopback `host`; `port=0` picks a free one."""
    address = _loopback(host)
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"port must be 0-65535, not {port}")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when the
    # socket says it is TCP; with proto 0, Nagle + delayed ACKs add ~40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sys.platform == "win32":
            # SO_REUSEADDR on Windows lets another process steal the port; this forbids it.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined]
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise BridgeError(
            f"cannot listen on {address}:{port}: {exc.strerror or exc}",
            hint="another program (or another Keybroker) uses that port; choose another with --port",
        ) from None
    return sock


@contextlib.asynccontextmanager
async def running_bridge(
    app: ASGIApp,
    port: int = DEFAULT_PORT,
    *,
    host: str = "127.0.0.1",
    shutdown_grace: float = SHUTDOWN_GRACE_SECONDS,
    connections: ConnectionLimits | None = None,
) -> AsyncIterator[int]:
    """Serve `app` on `host:port` (loopback only) while the block runs; yields the bound port.

    `connections`: the cap on connections and the header timeout (connections.py; defaults from
    the open-files limit)."""
    limits = connections or ConnectionLimits()
    protocol = governed_protocol(limits)  # before binding: a bad KEYBROKER_HTTP leaves no socket open
    sock = bind_loopback(port, host)
    bound = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        host=host,
        port=bound,
        http=protocol,
        backlog=ACCEPT_BACKLOG,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        lifespan="off",
        ws="none",
        date_header=False,
        server_header=False,
        access_log=False,
        # uvicorn trusts X-Forwarded-For/-Proto from 127.0.0.1 by default, and every caller is on
        # 127.0.0.1: any local process could rewrite the client address the audit names its process
        # by (caller.py). Nothing proxies the bridge; the socket's own address is the truth.
        proxy_headers=False,
        log_config=None,
        timeout_graceful_shutdown=max(1, round(shutdown_grace)),
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    try:
        await server.startup(sockets=[sock])
    except BaseException:
        sock.close()
        raise
    log.info("bridge listening on http://%s:%d", "[::1]" if ":" in host else host, bound)
    try:
        yield bound
    finally:
        server.should_exit = True
        # shutdown() cancels what is still running after the grace period; never let it hang us.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.shutdown(sockets=[sock]), timeout=shutdown_grace + 5)
        log.info("bridge on port %d stopped", bound)
