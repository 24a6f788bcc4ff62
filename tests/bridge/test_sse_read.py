# SPDX-License-Identifier: Apache-2.0
"""sse_read.py: an agent's SSE body read as it arrives, split anywhere, into each event's data."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from keybroker.core.bridge.sse_read import EventTooLargeError, sse_data

BODY = (
    b": ping - 2026-01-01\r\n\r\n"
    b'data: {"a": 1}\r\n\r\n'
    b"event: message\nid: 7\ndata: first line\ndata:second line\n\n"
    b"retry: 100\n\n"
    b'data: {"b": "' + b"x" * 70_000 + b'"}\r\n\r\n'
    b"data\n\n"
    b"data: no blank line at the end: not an event"
)
WANTED = [
    b'{"a": 1}',
    b"first line\nsecond line",
    b'{"b": "' + b"x" * 70_000 + b'"}',
    b"",
]


async def _pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


async def _read(body: bytes, size: int, limit: int = 1 << 20) -> list[bytes]:
    return [data async for data in sse_data(_pieces(body, size), limit)]


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000, 1 << 20])
async def test_events_come_out_whole_however_the_body_is_split(size: int) -> None:
    assert await _read(BODY, size) == WANTED


@pytest.mark.asyncio
async def test_an_event_larger_than_the_limit_is_refused() -> None:
    with pytest.raises(EventTooLargeError):
        await _read(b"data: " + b"y" * 5000 + b"\n\n", 100, limit=1000)
    with pytest.raises(EventTooLargeError):  # a line that does not end counts too
        await _read(b"data: " + b"y" * 5000, 100, limit=1000)
