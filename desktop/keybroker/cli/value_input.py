"""Reading a secret value: from stdin to EOF, or a hidden prompt. Never from argv."""

from __future__ import annotations

import getpass
import sys
from typing import TextIO

from keybroker.core.errors import InvalidInputError, UsageError
from keybroker.core.models import SecretValue


def strip_one_newline(text: str) -> str:
    """One trailing newline (LF or CRLF) is the shell's, not the value's."""
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def read_value(label: str, *, stdin: TextIO | None = None) -> SecretValue:
    """From a pipe: everything to EOF, one trailing newline stripped. From a terminal: asked twice,
    hidden; Ctrl+D there cancels (UsageError, exit 2)."""
    stream = stdin or sys.stdin
    if stream is None:
        raise UsageError("no value given", hint="pipe the value on stdin")
    if stream.isatty():
        try:
            first = getpass.getpass(f"Value for {label}: ")
            second = getpass.getpass("Again, to confirm: ")
        except EOFError:  # Ctrl+D: the user gave up; getpass ends no line for it
            sys.stderr.write("\n")
            raise UsageError("cancelled: nothing was stored") from None
        if first != second:
            raise InvalidInputError("the two values differ; nothing was stored")
        return _not_empty(first, label)
    try:
        data = stream.read()
    except UnicodeDecodeError:
        raise InvalidInputError("the value on stdin is not valid UTF-8; nothing was stored") from None
    return _not_empty(strip_one_newline(data), label)


def _not_empty(text: str, label: str) -> SecretValue:
    """An empty value is refused: it is what an unset shell variable (`echo "$TOKEN" | ...`) gives, and
    an agent handed "" fails later and far from the cause."""
    if not text:
        raise InvalidInputError(
            f"the value for {label} is empty; nothing was stored",
            hint="pipe the value itself (is the variable you echo set?)",
        )
    return SecretValue(text)
