# SPDX-License-Identifier: Apache-2.0
"""Reading an agent's Server-Sent Events as they come (fast_stream.py): the `data` of each event.

An event is its `data:` lines joined by newlines, ended by a blank line (the SSE spec; sse-starlette
ends lines with CRLF). Comments (`: ping`) and the other fields (`event:`, `id:`, `retry:`) carry
nothing an A2A client reads, so they are skipped; an event without data is none, and one the
stream ends in before its blank line is dropped, as the spec says. The bytes are split here as they
arrive, not with the reader's `readline`, whose line limit (64 KiB) an artifact can pass;
`max_event` bounds what one event may hold instead.

`SseReader.feed` takes each piece of the body as it is read and gives the events it completed, all
of them at once: fast_stream.py reads the hop's pieces itself, with no generator of ours between,
and passes on in one write what one piece brought (issue 16).
"""

from __future__ import annotations

__all__ = ["EventTooLargeError", "SseReader"]


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


class SseReader:
    """One event stream's bytes, fed as they arrive, split into each event's data."""

    __slots__ = ("_buffer", "_data", "_max_event", "_over", "_size")

    def __init__(self, max_event: int) -> None:
        self._max_event = max_event
        self._buffer = bytearray()
        self._data: list[bytes] = []  # the data lines of the event under way
        self._size = 0
        self._over: EventTooLargeError | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of each event `chunk` completed, in order. Raises `EventTooLargeError` when the
        event under way passes `max_event` bytes: at once, or, when `chunk` completed events before
        it, at the next `check` or `feed` (those events are given first, as they would have been had
        the piece ended before the event grew too large). An event the stream ends in, before its
        blank line, is never given (the SSE spec; a client reading the agent itself would not see it
        either)."""
        self.check()
        buffer = self._buffer
        buffer += chunk
        events: list[bytes] = []
        data = self._data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = bytes(buffer[start : end - 1 if end > start and buffer[end - 1] == 13 else end])
            start = end + 1
            if not line:
                if data:
                    events.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data = self._data = []
                self._size = 0
                continue
            value = _data_of(line)
            if value is not None:
                data.append(value)
                self._size += len(value)
        del buffer[:start]
        if self._size + len(buffer) > self._max_event:
            self._over = EventTooLargeError(f"an event larger than {self._max_event} bytes")
            if not events:
                raise self._over
        return events

    def check(self) -> None:
        """Raise the `EventTooLargeError` `feed` still owes, if it does."""
        if self._over is not None:
            raise self._over
