"""How a value is laid out in the vault: one tagged entry, or a header entry plus chunk entries.

The entry at account `secret_id` always starts with a one-character tag, so an empty value is stored as
the bare tag and is never confused with a missing entry (some backends return "" where others return None):

- `V<value>`: the whole value inline.
- `C{"gen": g, "n": n, "sha256": h, "v": 1}`: the value is split into n chunks stored at accounts
  `<secret_id>#<g>.<i>` (i = 0..n-1); h is the SHA-256 of the joined value (UTF-8), checked on every read.

A writer stores the chunks first and the header last, so a reader sees either the old value or the new one,
never a mix. The generation alternates between 1 and 2, so the chunks being replaced are never overwritten
before the new header is in place, and leftovers of an interrupted write can only sit at those two places,
which `Vault.delete` sweeps. Accounts containing `#` are reserved for chunks and internal probes.

Chunks are cut at code points, never inside a UTF-8 sequence or a UTF-16 surrogate pair, and sized by their
*encoded* length in the backend's storage encoding (Windows Credential Manager: 2560 bytes of UTF-16).
"""

from __future__ import annotations

import codecs
import hashlib
import json
from dataclasses import dataclass

from keybroker.core.errors import VaultError
from keybroker.core.models import MAX_VALUE_BYTES

INLINE_TAG = "V"
HEADER_TAG = "C"
FORMAT_VERSION = 1
GENERATIONS = (1, 2)
RESERVED_CHAR = "#"

#: The smallest per-entry limit we accept: a header must fit in one entry even in UTF-32.
MIN_CHUNK_LIMIT_BYTES = 512

#: Every code point takes at most 4 bytes in UTF-8, UTF-16 and UTF-32, and a value holds at most
#: MAX_VALUE_BYTES code points, so no valid value needs more chunks than this (used to bound sweeps).
_MAX_ENCODED_BYTES = 4 * MAX_VALUE_BYTES


@dataclass(frozen=True, slots=True)
class Inline:
    """A main entry that holds the value itself."""

    value: str

    def __repr__(self) -> str:
        return "Inline(**********)"


@dataclass(frozen=True, slots=True)
class ChunkHeader:
    """A main entry that points at `count` chunks of generation `generation`."""

    generation: int
    count: int
    sha256: str

    def to_entry(self) -> str:
        """The text stored at the main account."""
        body = {"v": FORMAT_VERSION, "gen": self.generation, "n": self.count, "sha256": self.sha256}
        return HEADER_TAG + json.dumps(body, separators=(",", ":"), sort_keys=True)


def chunk_account(account: str, generation: int, index: int) -> str:
    """The account that holds chunk `index` of `generation` for `account`."""
    return f"{account}{RESERVED_CHAR}{generation}.{index}"


def next_generation(old: ChunkHeader | None) -> int:
    """The generation a new chunked write uses: never the one a live header points at."""
    return GENERATIONS[1] if old is not None and old.generation == GENERATIONS[0] else GENERATIONS[0]


def digest(value: str) -> str:
    """SHA-256 hex of the value's UTF-8 bytes."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def inline_entry(value: str) -> str:
    """The text stored at the main account for an inline value."""
    return INLINE_TAG + value


def parse_entry(raw: str, account: str) -> Inline | ChunkHeader:
    """Read a main entry; raise VaultError (naming the account only) when it is not ours."""
    tag, body = raw[:1], raw[1:]
    if tag == INLINE_TAG:
        return Inline(body)
    if tag == HEADER_TAG:
        try:
            fields = json.loads(body)
            header = ChunkHeader(int(fields["gen"]), int(fields["n"]), str(fields["sha256"]))
            version = int(fields["v"])
        except (ValueError, KeyError, TypeError):
            header, version = None, -1
        if (
            header is not None
            and version == FORMAT_VERSION
            and header.generation in GENERATIONS
            and 0 < header.count <= max_chunks(MIN_CHUNK_LIMIT_BYTES)
            and len(header.sha256) == 64
        ):
            return header
    raise VaultError(
        f"the vault entry {account!r} is not in Keybroker's format",
        hint="something else wrote this entry; store the value again with `keybroker secrets set`",
    )


def check_encoding(encoding: str) -> str:
    """The codec's canonical name; raise LookupError for an unknown one."""
    return codecs.lookup(encoding).name


def encoded_size(text: str, encoding: str) -> int:
    """Bytes `text` takes in `encoding` (never characters)."""
    return len(text.encode(encoding))


def fits(text: str, limit: int | None, encoding: str) -> bool:
    """Whether `text` can be stored in one entry under `limit` bytes of `encoding`."""
    return limit is None or encoded_size(text, encoding) <= limit


def max_chunks(limit: int) -> int:
    """An upper bound on the chunks any valid value needs under `limit` (bounds cleanup sweeps)."""
    return -(-_MAX_ENCODED_BYTES // (limit - 8)) + 1


def split_encoded(text: str, limit: int, encoding: str) -> list[str]:
    """Cut `text` at code points into pieces whose encoded size is at most `limit` bytes each.

    Each piece is as long as fits (binary search over code points), so a UTF-16 surrogate pair or a
    UTF-8 sequence is never split: both come from one Python code point.
    """
    if limit < 8:
        raise ValueError("chunk limit too small to hold one code point")
    pieces: list[str] = []
    start, end_of_text = 0, len(text)
    while start < end_of_text:
        # Every code point takes at least one byte, so at most `limit` of them can fit.
        hi = min(end_of_text, start + limit)
        if encoded_size(text[start:hi], encoding) <= limit:
            end = hi
        else:
            lo = start + 1  # one code point (at most 4 bytes, 6 with a BOM) always fits
            hi -= 1
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if encoded_size(text[start:mid], encoding) <= limit:
                    lo = mid
                else:
                    hi = mid - 1
            end = lo
        pieces.append(text[start:end])
        start = end
    return pieces
