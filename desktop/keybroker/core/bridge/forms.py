# SPDX-License-Identifier: Apache-2.0
"""The texts that give a secret value away, ready to cut out of what an agent sends back (cutting.py).

An agent echoing a value may encode it: `scrub_forms` lists the value and the encodings of it to cut
too. Every form is kept case-folded (`fold`: lower case, one character for one, so positions in a
folded text are positions in the text) and texts are matched folded, so an upper-cased or
case-swapped echo is cut like the value. A `Cut` is such texts made once, longest first, so that
cutting many answers does not work the forms out again each time (released.py keeps one per agent).
No protobuf here: app.py builds its memory of released values before the a2a-sdk stack is imported
(DESIGN §7).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = [
    "MIN_SCRUB_LENGTH",
    "Cut",
    "cut_list",
    "fold",
    "held_tail",
    "merge_cuts",
    "open_end",
    "scrub_forms",
]

#: Values shorter than this are not scrubbed from free text: cutting every "a" would wreck replies,
#: and the structural mask already covers where a value is supposed to be.
MIN_SCRUB_LENGTH = 4


_FINAL_SIGMA, _SMALL_SIGMA = "\u03c2", "\u03c3"
#: The characters JSON always escapes in a string.
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def fold(text: str) -> str:
    """`text` in lower case, each character for one character (a character whose lower case is
    longer, such as "İ", stays as it is), so that a match in the folded text is a match in `text`.

    One fixed map per character, whatever stands around it: the folded text of a piece of `text` is
    that piece of the folded text (cutting a join, or many strings joined in one, relies on it).
    `str.lower` alone is not: it lowers a capital sigma to the final or the small sigma by its
    neighbours, so a value ending in "Σ" would not be found where a letter follows it. Both are folded
    to the small sigma."""
    folded = text.lower()
    if len(folded) != len(text):  # lower() never shortens a character: then each one became one
        folded = "".join(low if len(low := c.lower()) == 1 else c for c in text)
    return folded.replace(_FINAL_SIGMA, _SMALL_SIGMA) if _FINAL_SIGMA in folded else folded


class Cut(tuple[str, ...]):
    """Folded texts ready to cut: each at least MIN_SCRUB_LENGTH long, no repeats, longest first (so
    a value containing another is cut whole). Made by `cut_list` / `merge_cuts`; its repr names no
    text."""

    _index: tuple[dict[str, tuple[str, ...]], frozenset[str]]
    _escaped: bool

    @classmethod
    def of(cls, texts: Iterable[str]) -> Cut:
        """`texts` as they are (forms already, e.g. from `scrub_forms`), folded, ready to cut."""
        return cls(sorted({fold(t) for t in texts if len(t) >= MIN_SCRUB_LENGTH}, key=lambda t: (-len(t), t)))

    def _starts(self) -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
        """The index, made on first use and kept with this cut: texts by their first
        MIN_SCRUB_LENGTH characters (longest first), and the set of shorter starts. Its size follows
        the number of texts, not their lengths (every prefix of 256 values' forms would be ~48k
        strings, 6 MB, 40 ms to build on the event loop)."""
        try:
            return self._index
        except AttributeError:
            grouped: dict[str, list[str]] = {}
            for text in self:
                grouped.setdefault(text[:MIN_SCRUB_LENGTH], []).append(text)
            by_start = {start: tuple(texts) for start, texts in grouped.items()}
            short = frozenset(t[:n] for t in self for n in range(1, MIN_SCRUB_LENGTH))
            self._index = (by_start, short)
            return self._index

    def json_escaped(self) -> bool:
        """Whether a text here holds a character every JSON spelling escapes (`"`, `\\`, a control
        character); worked out on first use and kept with this cut."""
        try:
            return self._escaped
        except AttributeError:
            self._escaped = any(_JSON_ESCAPED.search(text) for text in self)
            return self._escaped

    def starts_a_text(self, tail: str) -> bool:
        """Whether `tail` (folded) is a proper prefix of a text here."""
        by_start, short = self._starts()
        if len(tail) < MIN_SCRUB_LENGTH:
            return tail in short
        return any(
            len(text) > len(tail) and text.startswith(tail)
            for text in by_start.get(tail[:MIN_SCRUB_LENGTH], ())
        )

    def occurs_in(self, folded: str) -> bool:
        """Whether a text here occurs in `folded` (a folded text)."""
        if len(self) <= _INDEXED_ABOVE:
            return any(text in folded for text in self)
        by_start, _ = self._starts()
        for i in range(len(folded) - MIN_SCRUB_LENGTH + 1):
            texts = by_start.get(folded[i : i + MIN_SCRUB_LENGTH])
            if texts is not None and any(folded.startswith(t, i) for t in texts):
                return True
        return False

    def spans(self, folded: str) -> list[tuple[int, int]]:
        """Where the texts here occur in `folded`, without overlaps (the longest, then the first,
        wins); sorted."""
        hits: list[tuple[int, int]] = []
        if len(self) <= _INDEXED_ABOVE:
            for text in self:
                start = folded.find(text)
                while start != -1:
                    hits.append((start, start + len(text)))
                    start = folded.find(text, start + 1)
        else:
            by_start, _ = self._starts()
            hits = [
                (i, i + len(t))
                for i in range(len(folded) - MIN_SCRUB_LENGTH + 1)
                for t in by_start.get(folded[i : i + MIN_SCRUB_LENGTH], ())
                if folded.startswith(t, i)
            ]
        found: list[tuple[int, int]] = []
        for start, end in sorted(hits, key=lambda h: (h[0] - h[1], h[0])):
            if all(end <= s or start >= e for s, e in found):
                found.append((start, end))
        return sorted(found)

    def __repr__(self) -> str:
        return f"Cut({len(self)} texts)"

    __str__ = __repr__


def _base64_at(raw: bytes) -> Iterable[str]:
    """Base64 of `raw` as it shows when 0, 1 or 2 bytes come before it (`user:` + token in Basic auth)
    and anything after it: only the groups of three bytes that are the value's alone, so the prefix
    and what follows change none of these characters (standard and URL-safe alphabets)."""
    for skip in (0, 2, 1):  # the value starts at offset 0, 1 or 2 of a three-byte group
        body = raw[skip:]
        whole = body[: len(body) // 3 * 3]
        if whole:
            yield base64.b64encode(whole).decode("ascii")
            yield base64.urlsafe_b64encode(whole).decode("ascii")


def scrub_forms(value: str) -> tuple[str, ...]:
    """`value` and the encodings of it an agent might echo, each at least MIN_SCRUB_LENGTH long.

    JSON-escaped (ASCII-only and not), percent-encoded (`quote`, `quote_plus`, and every byte as
    `%XX`), base64 of the whole value (standard and URL-safe, with and without padding) and of its
    bytes after a prefix of any length (`_base64_at`), and hex. Matching is case-insensitive, so the
    upper- and lower-case spellings of hex and percent-encoding are one form. A value shorter than
    MIN_SCRUB_LENGTH has no forms: it is not cut at all (see above). A form equal to the value, or to
    another form, is listed once.
    """
    if len(value) < MIN_SCRUB_LENGTH:
        return ()
    raw = value.encode("utf-8", "surrogatepass")
    standard = base64.b64encode(raw).decode("ascii")
    urlsafe = base64.urlsafe_b64encode(raw).decode("ascii")
    forms = (
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value, safe=""),
        "".join(f"%{b:02x}" for b in raw),
        standard,
        standard.rstrip("="),
        urlsafe,
        urlsafe.rstrip("="),
        *_base64_at(raw),
        raw.hex(),
    )
    return tuple(f for f in dict.fromkeys(fold(f) for f in forms) if len(f) >= MIN_SCRUB_LENGTH)


def cut_list(values: Iterable[str]) -> Cut:
    """Every form (`scrub_forms`) of each value, ready to cut."""
    return Cut.of(form for value in values for form in scrub_forms(value))


def merge_cuts(first: Cut, second: Cut) -> Cut:
    """Both cuts in one; `first` itself when `second` adds nothing to it (the usual case)."""
    if not second:
        return first
    if not first:
        return second
    known = set(first)
    if all(text in known for text in second):
        return first
    return Cut.of((*first, *second))


#: Above this many texts to cut (two values or so), `held_tail` looks each end of the chunk up with
#: `Cut.starts_a_text` rather than scanning every text: its cost then follows the longest text, not the
#: number of values (up to RELEASED_LIMIT).
_INDEXED_ABOVE = 16


def held_tail(text: str, cut: Cut) -> int:
    """The length of the longest end of `text` that is a proper prefix of a text in `cut` (0: none),
    however short: a single character that could start a value counts."""
    if not cut or not text:
        return 0
    folded = fold(text[-len(cut[0]) :])  # cut[0] is the longest: no longer end can start a text
    size = len(folded)
    if len(cut) > _INDEXED_ABOVE:
        for start in range(size):
            if cut.starts_a_text(folded[start:]):
                return size - start
        return 0
    best = 0
    for value in cut:  # longest first
        if len(value) - 1 <= best:
            break  # every later value is shorter still: none can start a longer end
        # Only starts whose end would beat `best` and that leave at least one character of `value` out.
        first, low, high = value[0], max(0, size - len(value) + 1), size - best
        start = folded.find(first, low, high)
        while start != -1:
            if value.startswith(folded[start:]):
                best = size - start
                break
            start = folded.find(first, start + 1, high)
    return best


def open_end(text: str, cut: Cut) -> int:
    """How much of the end of `text` to hold back so that no end of the rest starts a text of `cut`:
    `held_tail`, again on what is left, until nothing is (a value cannot then begin in the text sent
    and run on into whatever a client reads after it)."""
    total = 0
    while text:
        n = held_tail(text, cut)
        if not n:
            break
        total += n
        text = text[:-n]
    return total
