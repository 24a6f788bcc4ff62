# SPDX-License-Identifier: Apache-2.0
"""A value split across streamed events is cut whole, whatever the size of the pieces (PROTOCOL
pitfall 26: LLM-backed agents stream one to three characters an event).

Longer than 300 lines because holding, releasing and cutting the pieces of one stream is one
mechanism, best read in one place.

cutting.py cuts one event at a time; a client reads a stream as text it joins. `SplitGuard` reads it
the same way: every text (and raw) part in the order it goes out (*T*), and inside that each
artifact's chunks (a *lane* per artifact; an update replacing the artifact starts a new one) and each
task's status messages and messages (a lane per task). A value a client could read whole along T or
a lane is cut whole (pieces.cut_across), in the order the agent sent the events and in the order
they go out.

Nothing that could still be the start of a value goes out, however short: the end of what would go
out is held back, along T and along each artifact's lane, as long as it is a proper prefix of a form
of a released value (forms.open_end), even one character; it goes out as soon as what follows shows
it is not.
- Artifact chunks wait in their lane, while other artifacts' chunks and `working` statuses pass: an
  appended chunk's end is split off as the artifact's *tail* and goes in front of its next appended
  chunk (cut with it); a chunk that creates or replaces an artifact waits whole (an artifact sent in
  one event stays one part). They go out with the artifact's next chunk, before an update replacing
  the artifact, before an event ending the task's turn (another status, a message, a task), or at the
  end of the stream (`flush`).
- Anything else whose end could start a value (a status message, a message, a last chunk, a start
  running back over several events) waits whole, in order, until the next event decides.
Only text that could start a value waits (DESIGN §7: streams are never buffered); a 1-character
stream goes out one event behind the agent. Chunks left with nothing to show are dropped. A stream that
fails drops what was held (the start of a value at most: the client gets the error, not the start).

One case is only cut from where it is seen: a task's status message ending in the start of a value,
followed by an artifact chunk that shows the stream goes on otherwise, and the rest of the value in a
later status message. The start went out with the first status; the rest is cut when it comes (a
lane's *lead*). `feed(..., force=True)` sends an event of the bridge's own at once (the wait after it
may be long); what follows is cut against its end the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from a2a.server.events.event_queue import Event
from a2a.types import (
    Artifact,
    Message,
    Part,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatusUpdateEvent,
)

from keybroker.core.bridge.forms import Cut, fold, open_end
from keybroker.core.bridge.pieces import Piece, cut_across, part_pieces, task_joins

__all__ = ["SplitGuard"]

#: A lane of text a client joins: ("T",) the whole stream; ("A", task, artifact, generation) one
#: artifact's chunks; ("S", task) a task's status messages and messages.
Lane = tuple[str, ...]
_T: Lane = ("T",)
#: Status states that do not end the agent's turn: an artifact may go on after them.
_OPEN_STATES = frozenset({TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING})
#: How often the pieces of one batch are cut again when a cut changed them (see pieces.cut_joins).
_ROUNDS = 4


@dataclass(eq=False)
class _Item:
    """An event not sent yet, with its pieces and the lane of each. `lane`: the artifact lane of a
    chunk (None for other events). `passing`: the chunk waits in its lane while other events pass
    (`tail`: a tail split off a chunk, merged into the next one); else the event waits whole, in order.
    """

    #: Where it came in the stream; a tail comes just after the chunk it was split from.
    order: float
    event: Event = field(repr=False)
    pieces: list[tuple[Piece, Lane]] = field(repr=False)
    lane: Lane | None = None
    passing: bool = False
    tail: bool = False

    def text_length(self) -> int:
        return sum(len(piece.text) for piece, _ in self.pieces)


def _task_of(event: Event) -> str:
    if isinstance(event, Task):
        return event.id
    if isinstance(event, TaskStatusUpdateEvent | Message | TaskArtifactUpdateEvent):
        return event.task_id
    return ""


def _closes_turn(event: Event) -> bool:
    """An event after which the task's artifacts are not expected to go on."""
    if isinstance(event, TaskStatusUpdateEvent):
        return event.status.state not in _OPEN_STATES
    return isinstance(event, Task | Message)


def _is_empty_append(event: Event) -> bool:
    """An appended chunk left with nothing to show (its text went into a held tail)."""
    if not isinstance(event, TaskArtifactUpdateEvent) or not event.append or event.last_chunk:
        return False
    artifact = event.artifact
    if event.HasField("metadata") or artifact.HasField("metadata") or artifact.name or artifact.description:
        return False
    if artifact.extensions:
        return False
    return all(
        part.WhichOneof("content") == "text" and not part.text and not part.HasField("metadata")
        for part in artifact.parts
    )


def _tail(chunk: TaskArtifactUpdateEvent, text: str, lane: Lane, order: float) -> _Item:
    """`text`, split off the end of `chunk`, held as its artifact's tail (an appended chunk of its own)."""
    event = TaskArtifactUpdateEvent(
        task_id=chunk.task_id,
        context_id=chunk.context_id,
        artifact=Artifact(artifact_id=chunk.artifact.artifact_id, parts=[Part(text=text)]),
        append=True,
    )
    piece = Piece(event.artifact.parts[0], raw=False)
    return _Item(order + 0.5, event, [(piece, lane)], lane, passing=True, tail=True)


class SplitGuard:
    """One stream's held text (see the module docstring)."""

    def __init__(self) -> None:
        self._pending: list[_Item] = []
        self._leads: dict[Lane, str] = {}
        self._generations: dict[tuple[str, str], int] = {}
        self._order = 0

    def __repr__(self) -> str:
        return f"SplitGuard({len(self._pending)} held)"

    @property
    def idle(self) -> bool:
        """Nothing held and no start of a value gone out: an event whose own text neither holds a value
        nor ends in the start of one would go out as it is (fast_stream.py passes it on unread)."""
        return not self._pending and not self._leads

    def feed(self, event: Event, cut: Cut, *, force: bool = False) -> Sequence[Event]:
        """What to send now for `event` (cleaned already), in order; `force`: send it now."""
        if isinstance(event, TaskArtifactUpdateEvent) and not event.append:
            key = (event.task_id, event.artifact.artifact_id)
            self._generations[key] = self._generations.get(key, 0) + 1
        if not cut and not self._pending:
            return (event,)
        self._order += 1
        if isinstance(event, TaskArtifactUpdateEvent) and not force:
            quick = self._next_chunk(event, cut)
            if quick is not None:
                return quick
        lane = self._lane_of(event) if isinstance(event, TaskArtifactUpdateEvent) else None
        new = _Item(self._order, event, self._pieces_of(event), lane)
        self._cut([*self._pending, new], cut)  # in the order the agent sent it
        out, stay = self._release(new)
        held: list[_Item] = []
        for _ in range(2 * len(out) + 2):  # each round holds more back, or ends
            self._cut(out, cut)  # in the order it goes out
            if force:
                break
            out, more = self._hold_lanes(out, cut)
            if not more:
                out, more = self._hold_end(out, cut)
            held += more
            if not more:
                break
        self._pending = sorted([*stay, *held], key=lambda item: item.order)
        self._remember_leads(out, cut)
        return [item.event for item in out if not _is_empty_append(item.event)]

    def _next_chunk(self, event: TaskArtifactUpdateEvent, cut: Cut) -> Sequence[Event] | None:
        """The common case, in short: a one-text chunk appended to the only artifact holding anything,
        with nothing else held, when no value completes in it. None: the general way decides."""
        parts = event.artifact.parts
        if (
            not event.append
            or event.last_chunk
            or self._leads
            or len(parts) != 1
            or parts[0].WhichOneof("content") != "text"
        ):
            return None
        lane = self._lane_of(event)
        pending = self._pending
        if len(pending) > 1 or (pending and not (pending[0].tail and pending[0].lane == lane)):
            return None
        part = parts[0]
        text = (pending[0].event.artifact.parts[0].text if pending else "") + part.text
        if cut.occurs_in(fold(text)):
            return None  # a value completes here: cut it the general way
        keep = open_end(text, cut)
        self._pending = [_tail(event, text[-keep:], lane, self._order)] if keep else []
        part.text = text[: len(text) - keep]
        return [] if _is_empty_append(event) else (event,)

    def flush(self, cut: Cut) -> list[Event]:
        """The stream ended: everything held, in order (tails as chunks of their artifacts)."""
        out, self._pending = self._pending, []
        self._cut(out, cut)
        return [item.event for item in out if not _is_empty_append(item.event)]

    # Pieces and lanes ------------------------------------------------------------------------

    def _pieces_of(self, event: Event) -> list[tuple[Piece, Lane]]:
        if isinstance(event, TaskArtifactUpdateEvent):
            lane = self._lane_of(event)
            return [(p, lane) for p in part_pieces(event.artifact.parts)]
        if isinstance(event, TaskStatusUpdateEvent):
            parts = event.status.message.parts if event.status.HasField("message") else ()
            return [(p, ("S", event.task_id)) for p in part_pieces(parts)]
        if isinstance(event, Message):
            return [(p, ("S", event.task_id)) for p in part_pieces(event.parts)]
        if isinstance(event, Task):
            return [(p, _T) for p in task_joins(event)[0]]
        return []

    def _lane_of(self, event: TaskArtifactUpdateEvent) -> Lane:
        task, artifact = event.task_id, event.artifact.artifact_id
        return ("A", task, artifact, str(self._generations.get((task, artifact), 0)))

    def _cut(self, items: Iterable[_Item], cut: Cut) -> None:
        """Cut what spans the pieces of `items` (in this order) along T and along each lane."""
        lanes: dict[Lane, list[Piece]] = {_T: []}
        for item in items:
            for piece, lane in item.pieces:
                lanes[_T].append(piece)
                if lane != _T:
                    lanes.setdefault(lane, []).append(piece)
        for _ in range(_ROUNDS):
            changed = [cut_across(pieces, cut, self._leads.get(lane, "")) for lane, pieces in lanes.items()]
            if not any(changed):
                break

    # What goes out ----------------------------------------------------------------------------

    def _release(self, new: _Item) -> tuple[list[_Item], list[_Item]]:
        """What goes out with `new` (before it, in the order it came) and what stays held."""
        event, lane = new.event, new.lane
        task = _task_of(event)
        closing = _closes_turn(event)
        out: list[_Item] = []
        stay: list[_Item] = []
        for item in self._pending:
            if not item.passing or item.lane is None:
                out.append(item)  # waiting whole: the next event decides
            elif lane is not None and item.lane[:3] == lane[:3]:
                out.append(item)  # the artifact goes on or is replaced: its chunks go first
            elif closing and (not task or item.lane[1] == task):
                out.append(item)  # the task's turn ends: its artifacts are done
            else:
                stay.append(item)  # another artifact's chunk: it waits for its own next chunk
        if out and out[-1].tail and out[-1].lane == lane:
            self._merge(out.pop(), new)  # same lane and generation: `new` is appended
        out.append(new)
        return out, stay

    def _merge(self, tail: _Item, new: _Item) -> None:
        """Put an artifact's held tail in front of its next appended chunk."""
        assert isinstance(tail.event, TaskArtifactUpdateEvent)
        assert isinstance(new.event, TaskArtifactUpdateEvent)
        held = tail.event.artifact.parts[0].text
        parts = new.event.artifact.parts
        if parts and parts[0].WhichOneof("content") == "text":
            parts[0].text = held + parts[0].text
        else:
            parts.insert(0, Part(text=held))
        new.pieces = self._pieces_of(new.event)

    def _hold_lanes(self, out: list[_Item], cut: Cut) -> tuple[list[_Item], list[_Item]]:
        """Hold, in their lanes, the chunks at the end of an artifact's text in `out` that could start a
        value (the artifact may go on with the rest later, whatever comes between)."""
        lanes: dict[Lane, list[_Item]] = {}
        ended: set[str] = set()  # tasks whose turn ends in `out`: their artifacts go on no more
        for item in out:
            if item.lane is not None:
                lanes.setdefault(item.lane, []).append(item)
            elif _closes_turn(item.event):
                ended.add(_task_of(item.event))
        held: list[_Item] = []
        for lane, items in lanes.items():
            last = items[-1].event
            if not isinstance(last, TaskArtifactUpdateEvent) or last.last_chunk or {lane[1], ""} & ended:
                continue  # the artifact ends here: only T goes on (_hold_end)
            if lane != self._lane_of(last):
                continue  # replaced by a newer update: this generation goes on no more
            texts = [piece.text for item in items for piece, _ in item.pieces]
            keep = open_end(self._leads.get(lane, "") + "".join(texts), cut)
            held += self._hold_items(items, min(keep, sum(map(len, texts))), passing=True)
        kept = {id(item) for item in held}
        return [item for item in out if id(item) not in kept], held

    def _hold_items(self, items: list[_Item], keep: int, *, passing: bool) -> list[_Item]:
        """Hold the last `keep` characters of `items`: split off the last one as a tail when they lie in
        its last text piece and it is an appended chunk of an artifact; else the items holding them
        wait whole (`passing`: in their lanes, when they all are chunks of one artifact)."""
        if not keep:
            return []
        last = items[-1]
        event = last.event
        piece = last.pieces[-1][0] if last.pieces else None
        text = piece.text if piece is not None else ""
        if (
            isinstance(event, TaskArtifactUpdateEvent)
            and event.append
            and not event.last_chunk
            and last.lane is not None
            and piece is not None
            and not piece.raw
            and len(text) >= keep
        ):
            piece.text = text[:-keep]
            return [_tail(event, text[-keep:], last.lane, last.order)]
        boundary = sum(item.text_length() for item in items) - keep
        seen, start = 0, 0
        while seen + items[start].text_length() <= boundary:
            seen += items[start].text_length()
            start += 1
        held = items[start:]
        lanes = {item.lane for item in held}
        in_lane = passing and len(lanes) == 1 and None not in lanes
        in_lane = in_lane and not any(
            isinstance(i.event, TaskArtifactUpdateEvent) and i.event.last_chunk for i in held
        )
        for item in held:
            item.passing, item.tail = in_lane, False
        return held

    def _hold_end(self, out: list[_Item], cut: Cut) -> tuple[list[_Item], list[_Item]]:
        """Hold the end of `out` that could start a value along T (the stream as one text)."""
        joined = "".join(piece.text for item in out for piece, _ in item.pieces)
        keep = min(open_end(self._leads.get(_T, "") + joined, cut), len(joined))
        held = self._hold_items(out, keep, passing=True)
        if held and held[0].tail:
            return out, held  # split: the chunk goes out without its tail
        kept = {id(item) for item in held}
        return [item for item in out if id(item) not in kept], held

    def _remember_leads(self, sent: list[_Item], cut: Cut) -> None:
        """Per lane, the end of what went out that could still start a value (usually nothing)."""
        texts: dict[Lane, list[str]] = {}
        for item in sent:
            for piece, lane in item.pieces:
                texts.setdefault(_T, []).append(piece.text)
                if lane != _T:
                    texts.setdefault(lane, []).append(piece.text)
        for lane, parts in texts.items():
            text = self._leads.pop(lane, "") + "".join(parts)
            keep = open_end(text, cut)
            if keep:
                self._leads[lane] = text[-keep:]
