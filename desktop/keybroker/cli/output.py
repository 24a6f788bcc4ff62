"""How the CLI prints: JSON for scripts, aligned text for people. Never a value unless asked."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO


def print_json(data: Any, out: TextIO | None = None) -> None:
    """Pretty JSON on stdout."""
    import json  # here: `--version`, `--help` and `status` print no JSON and need not load it

    stream = out or sys.stdout
    json.dump(data, stream, indent=2, ensure_ascii=False, sort_keys=False)
    stream.write("\n")


def when(ts: float | None, *, now: float | None = None) -> str:
    """`2026-11-22 03:14` local time, or `never`."""
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def left(seconds: float) -> str:
    """A short duration: `4 min`, `2 h 5 min`."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d"


#: The widest table cell: a card may name itself in 100,000 characters.
MAX_CELL = 200


def cell(text: object, limit: int = MAX_CELL) -> str:
    """Untrusted text (card names, descriptions, agent-chosen keys) as one safe line for the terminal:
    whitespace runs become one space, control, bidi and zero-width characters "?" (core/safe_text.py)."""
    from keybroker.core.safe_text import one_line  # here: --version and --help load no core module

    return one_line(" ".join(str(text).split()), limit)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO | None = None) -> None:
    """Aligned columns of safe cells (`cell`); an empty table says so."""
    stream = out or sys.stdout
    if not rows:
        return
    rows = [[cell(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    stream.write(line.rstrip() + "\n")
    for r in rows:
        stream.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


def plural(count: int, word: str) -> str:
    """`1 grant`, `3 grants`: never `grant(s)`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def info(message: str) -> None:
    """A line for the person on stderr (keeps stdout clean for values and JSON)."""
    sys.stderr.write(message + "\n")
