# SPDX-License-Identifier: Apache-2.0
"""Reading an agent's Server-Sent Events as they come (fast_stream.py): the `data` of each event.

An event is its `data:` lines joined by newlines, ended by a blank line (the SSE spec; sse-starlette
ends lines with CRLF). Comments (`: ping`) and the other fields (`event:`, `id:`, `retry:`) carry
nothing an A2A client reads, so they are skipped; an event without data is none, and one the
stream ends in before its blank line is dropped, as the spec says. The bytes are read
as they arrive and split here, not with the reader's `readline`, whose line limit (64 KiB) an
artifact can pass; `max_event` bounds what one event may hold instead.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable

__all__ = ["EventTooLargeError", "sse_data"]


class EventTooLargeError(Exception):
    """One event held more than the bridge reads."""


def _data_of(line: bytes) -> bytes | None:
    """The value of a `data` field line, or None for any other line."""
    if line.startswith(b"data:"):
        value = line[5:]
        return value[1:] if value.startswith(b" ") else value
    if line == b"data":
        return b""
    return None


async def sse_data(chunks: AsyncIterable[bytes], max_event: int) -> AsyncGenerator[bytes, None]:
    """The data of each event in `chunks` (the body as it arrives), in order. Raises
    `EventTooLargeError` when one event passes `max_event` bytes."""
    buffer = bytearray()
    data: list[bytes] = []
    size = 0
    async for chunk in chunks:
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = bytes(buffer[start : end - 1 if end > start and buffer[end - 1] == 13 else end])
            start = end + 1
            if not line:
                if data:
                    yield data[0] if len(data) == 1 else b"\n".join(data)
                data, size = [], 0
                continue
            value = _data_of(line)
            if value is not None:
                data.append(value)
                size += len(value)
        del buffer[:start]
        if size + len(buffer) > max_event:
            raise EventTooLargeError(f"an event larger than {max_event} bytes")
    # An event the stream ended in, before its blank line, is not dispatched (the SSE spec; a client
    # reading the agent itself would not see it either).
