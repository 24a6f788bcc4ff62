"""Asking a person at a terminal before a destructive command; scripts (no terminal) are never asked."""

from __future__ import annotations

import sys
from typing import TextIO


def at_terminal() -> bool:
    """Whether a person can be asked: stdin is a terminal."""
    return sys.stdin is not None and sys.stdin.isatty()


def ask(question: str, *, stdin: TextIO | None = None, out: TextIO | None = None) -> bool:
    """`question` ending in `[y/N] ` on stderr, the answer from stdin: only y or yes says yes; Enter,
    anything else or Ctrl+D says no."""
    stream = stdin or sys.stdin
    err = out or sys.stderr
    err.write(question)
    err.flush()
    answer = stream.readline()
    if not answer:  # Ctrl+D: no line, and no newline echoed either
        err.write("\n")
    return answer.strip().lower() in ("y", "yes")


def confirm(question: str) -> None:
    """Ask `question`; PolicyDenied (exit 5, "nothing deleted") unless the answer is yes."""
    if not ask(question):
        from keybroker.core.errors import PolicyDenied

        raise PolicyDenied("nothing deleted")
