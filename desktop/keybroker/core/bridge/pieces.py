# SPDX-License-Identifier: Apache-2.0
"""Text a client reads as one, cut as one: the pieces of a payload and the ways a client joins them.

A value need not stand inside one string to reach a client: it can be split across the text parts
of a message or an artifact (with a data part between them), across two artifacts, or across the
messages of a task, and a client that joins them reads it whole. A *piece* is one text part, or one
raw-bytes part read as text (a client joining file chunks reads bytes); `cut_across` cuts every
value in a sequence of pieces read one after another, the MASK going where the value starts and the
pieces it runs on into losing their share, so each keeps its place. `task_joins` lists the sequences
a client could read from one task: everything in the order it came (history, status message,
artifacts) and the agent's messages alone. chunks.py joins the pieces of a stream the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from keybroker.core.bridge.forms import Cut, fold
from keybroker.core.models import MASK

__all__ = ["Piece", "TextPiece", "cut_across", "cut_joins", "part_pieces", "task_joins"]

#: How often `cut_joins` goes over a payload's joins: cutting one join can bring two pieces of
#: another closer; a hostile agent gains nothing from more rounds than values it can nest.
_ROUNDS = 4
_ROLE_AGENT = 2  # a2a.types.Role.ROLE_AGENT (no protobuf import here)


class TextPiece(Protocol):
    """Anything read and written as text (`Piece` here; json_cut.py's pieces of a JSON answer)."""

    @property
    def text(self) -> str:
        """What a client reads."""
        ...

    @text.setter
    def text(self, value: str) -> None: ...


class Piece:
    """One text or raw part, read and written as text (raw bytes through UTF-8 with surrogateescape,
    so bytes that are not UTF-8 come back as they were)."""

    __slots__ = ("part", "raw")

    def __init__(self, part: Any, raw: bool) -> None:
        self.part = part
        self.raw = raw

    @property
    def text(self) -> str:
        """What a client reads."""
        if self.raw:
            data: bytes = self.part.raw
            return data.decode("utf-8", "surrogateescape")
        return str(self.part.text)

    @text.setter
    def text(self, value: str) -> None:
        if self.raw:
            self.part.raw = value.encode("utf-8", "surrogateescape")
        else:
            self.part.text = value

    def __repr__(self) -> str:
        return f"Piece({'raw' if self.raw else 'text'}, {len(self.text)} characters)"


def part_pieces(parts: Iterable[Any]) -> list[Piece]:
    """The text and raw parts of `parts`, in order (data and URL parts are not read as text)."""
    found: list[Piece] = []
    for part in parts:
        kind = part.WhichOneof("content")
        if kind == "text":
            found.append(Piece(part, raw=False))
        elif kind == "raw":
            found.append(Piece(part, raw=True))
    return found


def task_joins(task: Any) -> list[list[Piece]]:
    """The sequences of pieces a client could read from `task` as one text (module docstring)."""
    messages = [*task.history, *([task.status.message] if task.status.HasField("message") else [])]
    everything = [p for m in messages for p in part_pieces(m.parts)]
    everything += [p for a in task.artifacts for p in part_pieces(a.parts)]
    agent = [p for m in messages if m.role == _ROLE_AGENT for p in part_pieces(m.parts)]
    return [everything, agent]


def cut_across(pieces: Sequence[TextPiece], cut: Cut, lead: str = "") -> bool:
    """Cut every value in the text `pieces` make one after another; True when one was cut.

    `lead` is text that went out before the first piece (the start of a value, perhaps): a value that
    began there is cut from the pieces on, its MASK at the start of the first piece.
    """
    if not cut or not pieces:
        return False
    texts = [p.text for p in pieces]
    joined = lead + "".join(texts)
    folded = fold(joined)
    if not cut.occurs_in(folded):
        return False
    found = [(max(s, len(lead)), e) for s, e in cut.spans(folded) if e > len(lead)]
    changed = False
    start = len(lead)
    for piece, text in zip(pieces, texts, strict=True):
        end = start + len(text)
        out: list[str] = []
        pos = start
        for s, e in found:
            if e <= pos or s >= end:
                continue
            if s > pos:
                out.append(joined[pos:s])
            if s >= start:
                out.append(MASK)  # the value starts in this piece
            pos = min(e, end)
        if pos < end:
            out.append(joined[pos:end])
        new = "".join(out)
        if new != text:
            piece.text = new
            changed = True
        start = end
    return changed


def cut_joins(joins: Iterable[Sequence[Piece]], cut: Cut) -> bool:
    """`cut_across` each join, again while that changes anything (at most a few rounds)."""
    listed = [j for j in joins if j]
    changed = False
    for _ in range(_ROUNDS):
        if not any([cut_across(join, cut) for join in listed]):
            break
        changed = True
    return changed
