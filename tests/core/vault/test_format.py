"""The stored layout: tagged entries, chunk headers, and cutting text by encoded size."""

from __future__ import annotations

import itertools
import random

import pytest

from keybroker.core.errors import VaultError
from keybroker.core.vault import format as fmt

NON_ASCII = "😀🔑 漢字かな 한국어 e\u0301 a\u0308\u0323 ﷽ \U0001d518\U0001d52b \U0010fffd"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16", "utf-32-le"])
@pytest.mark.parametrize("limit", [512, 513, 2560])
def test_split_encoded_respects_limit_and_joins_back(encoding: str, limit: int) -> None:
    rng = random.Random(limit)
    alphabet = "abc" + NON_ASCII
    text = "".join(rng.choice(alphabet) for _ in range(9000))
    pieces = fmt.split_encoded(text, limit, encoding)
    assert "".join(pieces) == text
    assert all(pieces)
    for piece in pieces:
        size = len(piece.encode(encoding))
        assert size <= limit
        piece.encode(encoding)  # each piece is valid on its own: no half surrogate pair / UTF-8 sequence
    # Greedy: every piece but the last is full enough that the next code point would not fit.
    for piece, following in itertools.pairwise(pieces):
        assert len((piece + following[0]).encode(encoding)) > limit


def test_split_never_cuts_a_surrogate_pair_in_utf16() -> None:
    text = "a" + "😀" * 1000  # each emoji is a surrogate pair (4 bytes) in UTF-16
    pieces = fmt.split_encoded(text, 513, "utf-16-le")
    for piece in pieces:
        data = piece.encode("utf-16-le")
        assert data.decode("utf-16-le") == piece
        units = [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]
        assert not 0xDC00 <= units[0] <= 0xDFFF  # no piece starts with a low surrogate
        assert not 0xD800 <= units[-1] <= 0xDBFF  # none ends with a high surrogate


def test_split_counts_bytes_not_characters() -> None:
    text = "é" * 1000  # 2 bytes each in UTF-8
    pieces = fmt.split_encoded(text, 512, "utf-8")
    assert [len(p) for p in pieces] == [256, 256, 256, 232]


def test_split_empty_text_is_no_pieces() -> None:
    assert fmt.split_encoded("", 512, "utf-8") == []


def test_header_round_trip_and_fits_in_minimum_limit() -> None:
    header = fmt.ChunkHeader(2, fmt.max_chunks(fmt.MIN_CHUNK_LIMIT_BYTES), fmt.digest("x"))
    entry = header.to_entry()
    assert fmt.parse_entry(entry, "acct") == header
    for encoding in ("utf-8", "utf-16-le", "utf-16", "utf-32"):
        assert fmt.fits(entry, fmt.MIN_CHUNK_LIMIT_BYTES, encoding)


def test_inline_entry_keeps_empty_distinct_from_missing() -> None:
    entry = fmt.inline_entry("")
    assert entry == fmt.INLINE_TAG
    parsed = fmt.parse_entry(entry, "acct")
    assert isinstance(parsed, fmt.Inline)
    assert parsed.value == ""
    assert "secret" not in repr(fmt.Inline("secret"))


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plain value",
        "C{not json",
        'C{"v":1,"gen":3,"n":2,"sha256":"' + "0" * 64 + '"}',
        'C{"v":2,"gen":1,"n":2,"sha256":"' + "0" * 64 + '"}',
        'C{"v":1,"gen":1,"n":0,"sha256":"' + "0" * 64 + '"}',
        'C{"v":1,"gen":1,"n":2,"sha256":"short"}',
        'C{"v":1,"gen":1}',
    ],
)
def test_parse_entry_rejects_foreign_or_broken_entries(raw: str) -> None:
    with pytest.raises(VaultError) as info:
        fmt.parse_entry(raw, "acct-1")
    assert "acct-1" in str(info.value)


def test_generations_alternate() -> None:
    assert fmt.next_generation(None) == 1
    assert fmt.next_generation(fmt.ChunkHeader(1, 2, "0" * 64)) == 2
    assert fmt.next_generation(fmt.ChunkHeader(2, 2, "0" * 64)) == 1
    assert fmt.chunk_account("s-1", 2, 7) == "s-1#2.7"
