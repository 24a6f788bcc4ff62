# SPDX-License-Identifier: Apache-2.0
"""The bridge's HTTP/1.1 parser (issue 16): httptools where installed, h11 by choice, same limits.

A real bridge on a real port, raw sockets as the client. h11 refuses a request line and headers over
16 KiB by itself; httptools (llhttp) has no such cap and uvicorn keeps whatever headers arrive, so the
bridge's protocol counts them (connections.py): either way an oversized head is refused at once (not
after the header timeout) and the connection closed, while a large but legal head is served.
"""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from keybroker.core.bridge.connections import (
    DEFAULT_MAX_HEADER_BYTES,
    HTTP_ENV,
    ConnectionLimits,
    http_parser,
)
from keybroker.core.errors import InvalidInputError
from tests.bridge.test_flood import flood_bridge, open_raw

PARSERS = ["h11", "httptools"]
HAS_HTTPTOOLS = importlib.util.find_spec("httptools") is not None
#: Long enough that a refusal within it cannot be the header timeout's doing.
LIMITS = ConnectionLimits(max_connections=64, header_timeout=120.0)


def head(extra: int) -> bytes:
    return b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * extra + b"\r\n"


async def answer(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (bounded: a hang fails the test)."""
    async with asyncio.timeout(60):
        return await reader.read()


@pytest.mark.asyncio
@pytest.mark.parametrize("parser", PARSERS)
async def test_an_oversized_head_is_refused_at_once_by_either_parser(
    parser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if parser == "httptools" and not HAS_HTTPTOOLS:
        pytest.skip("httptools is not installed (Windows)")
    monkeypatch.setenv(HTTP_ENV, parser)
    async with flood_bridge(LIMITS) as (base, _app):
        # Headers that never end: only the size can end this before the 120 s header timeout.
        reader, writer = await open_raw(base, head(DEFAULT_MAX_HEADER_BYTES + 4096))
        try:
            got = await answer(reader)
        finally:
            writer.close()
    status = got.split(b"\r\n", 1)[0]
    assert status.split()[1] in (b"400", b"431"), got[:200]


@pytest.mark.asyncio
@pytest.mark.parametrize("parser", PARSERS)
async def test_a_large_legal_head_is_served_by_either_parser(
    parser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if parser == "httptools" and not HAS_HTTPTOOLS:
        pytest.skip("httptools is not installed (Windows)")
    monkeypatch.setenv(HTTP_ENV, parser)
    async with flood_bridge(LIMITS) as (base, _app):
        # Sent in small pieces, as a slow client would: the count spans several reads.
        reader, writer = await open_raw(base)
        data = head(DEFAULT_MAX_HEADER_BYTES - 2048) + b"Connection: close\r\n\r\n"
        for start in range(0, len(data), 1000):
            writer.write(data[start : start + 1000])
            await writer.drain()
        try:
            got = await answer(reader)
        finally:
            writer.close()
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    assert b'"running":true' in got


def test_the_parser_is_httptools_where_installed_and_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HTTP_ENV, raising=False)
    assert http_parser() == ("httptools" if HAS_HTTPTOOLS else "h11")
    monkeypatch.setenv(HTTP_ENV, "h11")
    assert http_parser() == "h11"
    monkeypatch.setenv(HTTP_ENV, "nghttp2")
    with pytest.raises(InvalidInputError, match="h11 or httptools"):
        http_parser()
