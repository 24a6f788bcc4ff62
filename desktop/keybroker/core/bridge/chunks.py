# SPDX-License-Identifier: Apache-2.0
"""A value split across streamed artifact chunks is cut whole (cutting.py cuts one event at a time).

An agent may stream an artifact in chunks (`append: true`) and cut a value between two of them:
`S1:CANARY-7f` then `3a9c-...:S2`. Neither chunk holds the value, a client joining them does. So,
per (task id, artifact id) of one stream, `SplitGuard`:
- when a chunk that is not the artifact's last ends with text that could be the start of a value
  (a proper prefix of one of the texts to cut) at least MIN_SCRUB_LENGTH long, holds that tail
  back and sends the rest at once;
- puts the tail in front of the next appended chunk of the same artifact, which is then cut whole;
- otherwise sends the tail (cut) as a chunk of its own, appended to the artifact, just before the
  event that ends its wait: an update of that artifact that replaces it (`append: false`), any
  other event of the task (status, task, message), or the end of the stream (`flush`).
A shorter tail that could start a value is sent at once (like a value that short, it is not cut):
if the next appended chunk goes on with the rest of the value, that rest is cut. Holding every
one-character "start" would split most artifacts in two (hex and base64 forms start with common
characters, and agents seldom mark their last chunk), for a gain of three characters at most.
Only text that could start a value waits; everything else passes at once (DESIGN §7: streams are
never buffered), and events keep their order. A stream that fails drops what was held (a prefix of
a value at most: the client gets the error, not the prefix).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from a2a.server.events.event_queue import Event
from a2a.types import Artifact, Message, Part, Task, TaskArtifactUpdateEvent, TaskStatusUpdateEvent

from keybroker.core.bridge.cutting import scrub_proto, scrub_text
from keybroker.core.bridge.forms import MIN_SCRUB_LENGTH, Cut, fold, held_tail
from keybroker.core.models import MASK

__all__ = ["SplitGuard"]


@dataclass
class _Held:
    context_id: str
    #: The held start of a value: never in a repr (a traceback or log line could show it).
    text: str = field(repr=False)
    #: True: `text` went out already (too short to hold); only the rest of a value is cut.
    sent: bool = False


def _cut_rest(tail: str, text: str, cut: Cut) -> str:
    """`text` with the rest of a value that began in `tail` (sent already) masked."""
    joined = fold(tail + text)
    for value in cut:  # longest first: the longest value that starts in `tail` and ends in `text`
        start = joined.find(value, max(0, len(tail) - len(value) + 1))
        if start != -1 and start < len(tail) < start + len(value):
            return MASK + text[start + len(value) - len(tail) :]
    return text


def _task_of(event: Event) -> str:
    if isinstance(event, Task):
        return event.id
    if isinstance(event, TaskStatusUpdateEvent | Message):
        return event.task_id
    return ""


class SplitGuard:
    """One stream's held tails (see the module docstring)."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], _Held] = {}

    def feed(self, event: Event, cut: Cut) -> Sequence[Event]:
        """What to send now for `event` (cut already), in order: held tails it releases, then itself."""
        if isinstance(event, TaskArtifactUpdateEvent):
            return self._artifact(event, cut)
        if not self._held:
            return (event,)
        task_id = _task_of(event)
        keys = [k for k in self._held if not task_id or k[0] == task_id]
        return [*(e for e in (self._release(k, cut) for k in keys) if e is not None), event]

    def flush(self, cut: Cut) -> list[Event]:
        """The stream ended: every held tail, as chunks of their artifacts."""
        return [e for e in (self._release(k, cut) for k in list(self._held)) if e is not None]

    def _artifact(self, event: TaskArtifactUpdateEvent, cut: Cut) -> Sequence[Event]:
        key = (event.task_id, event.artifact.artifact_id)
        out: list[Event] = []
        held = self._held.get(key)
        if held is not None:
            parts = event.artifact.parts
            starts_with_text = bool(parts) and parts[0].WhichOneof("content") == "text"
            if held.sent:
                del self._held[key]
                if event.append and starts_with_text:
                    parts[0].text = _cut_rest(held.text, parts[0].text, cut)
            elif event.append:
                del self._held[key]
                if starts_with_text:
                    parts[0].text = held.text + parts[0].text
                else:
                    parts.insert(0, Part(text=held.text))
                scrub_proto(event, cut)  # the joined text, cut whole
            else:
                released = self._release(key, cut)
                if released is not None:
                    out.append(released)
        if cut and not event.last_chunk:
            self._hold(key, event, cut)
        out.append(event)
        return out

    def _hold(self, key: tuple[str, str], event: TaskArtifactUpdateEvent, cut: Cut) -> None:
        parts = event.artifact.parts
        if not parts or parts[-1].WhichOneof("content") != "text":
            return
        last = parts[-1]
        keep = held_tail(last.text, cut)
        if keep >= MIN_SCRUB_LENGTH:
            self._held[key] = _Held(event.context_id, last.text[-keep:])
            last.text = last.text[:-keep]
        elif keep:
            self._held[key] = _Held(event.context_id, last.text[-keep:], sent=True)

    def _release(self, key: tuple[str, str], cut: Cut) -> TaskArtifactUpdateEvent | None:
        """The held tail of `key` as a chunk of its own; None when it went out already."""
        held = self._held.pop(key)
        if held.sent:
            return None
        task_id, artifact_id = key
        return TaskArtifactUpdateEvent(
            task_id=task_id,
            context_id=held.context_id,
            artifact=Artifact(artifact_id=artifact_id, parts=[Part(text=scrub_text(held.text, cut))]),
            append=True,
        )
