# SPDX-License-Identifier: Apache-2.0
"""sse_read.py: an agent's SSE body read as it arrives, split anywhere, into each event's data."""

from __future__ import annotations

import pytest

from keybroker.core.bridge.sse_read import EventTooLargeError, SseReader

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


def _read(body: bytes, size: int, limit: int = 1 << 20) -> list[bytes]:
    reader = SseReader(limit)
    found = [data for i in range(0, len(body), size) for data in reader.feed(body[i : i + size])]
    reader.check()
    return found


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000, 1 << 20])
def test_events_come_out_whole_however_the_body_is_split(size: int) -> None:
    assert _read(BODY, size) == WANTED


def test_each_piece_gives_every_event_it_completed_and_no_other() -> None:
    reader = SseReader(1 << 20)
    assert reader.feed(b"data: 1\n\ndata: 2\r\n\r\ndata: 3\n") == [b"1", b"2"]
    assert reader.feed(b"\n: ping\n\ndata: 4") == [b"3"]
    assert reader.feed(b"\n\n") == [b"4"]
    reader.check()


def test_an_event_larger_than_the_limit_is_refused() -> None:
    with pytest.raises(EventTooLargeError):
        _read(b"data: " + b"y" * 5000 + b"\n\n", 100, limit=1000)
    with pytest.raises(EventTooLargeError):  # a line that does not end counts too
        _read(b"data: " + b"y" * 5000, 100, limit=1000)


def test_events_before_one_too_large_in_the_same_piece_are_given_then_the_stream_is_refused() -> None:
    reader = SseReader(1000)
    assert reader.feed(b"data: small\n\ndata: " + b"y" * 5000) == [b"small"]
    with pytest.raises(EventTooLargeError):
        reader.feed(b"y")
    reader = SseReader(1000)
    assert reader.feed(b"data: small\n\ndata: " + b"y" * 5000) == [b"small"]
    with pytest.raises(EventTooLargeError):  # asked at once (the agent may write nothing more)
        reader.check()
