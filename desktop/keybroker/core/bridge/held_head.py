# SPDX-License-Identifier: Apache-2.0
"""A response's head and its body in one write to the client (issue 16).

uvicorn writes a response's head (status line and headers) the moment the app sends
`http.response.start`, and its body with the next message: two writes for every answer, each a
system call and a packet that wakes the client. Measured at concurrency 1 (bench/bridge_timeline.py),
the head's write put 100-160 µs between the bridge's answer being ready and its body going out; held
and written with the body, 15-30 µs.

`HeldHead` stands for the connection's transport in one request's uvicorn cycle (connections.py
gives each cycle one): the response's first write, its head, is held until the response's next
write, which then carries both; at the latest it goes at the loop's next turn, so a streamed
response's head does not wait for its first event (a client may time out waiting for the head, and
keep-alive pings follow it). An interim `1xx` answer (`100 Continue`, which a client waits for
before it sends its body) is never held. Closing the transport writes what is held first; a held
head whose connection went meanwhile is dropped with the connection. Everything else is the real
transport's.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["HeldHead"]


class HeldHead:
    """One response's view of the connection's transport (module docstring)."""

    __slots__ = ("_held", "_loop", "_real", "_started")

    def __init__(self, real: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._real = real
        self._loop = loop
        self._held: bytes | None = None
        self._started = False  # the response's head was written (or is held)

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._real.writelines((held, data))
        elif not self._started and data[9:10] != b"1":  # "HTTP/1.1 200 ...", not an interim 1xx
            self._started = True
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._real.write(data)

    def flush(self) -> None:
        """Write the held head now, unless its connection is going."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._real.is_closing():
                self._real.write(held)

    def close(self) -> None:
        self.flush()
        self._real.close()

    def is_closing(self) -> bool:
        return self._real.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)
