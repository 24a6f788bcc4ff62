# SPDX-License-Identifier: Apache-2.0
"""chunks.py: a value split across streamed artifact chunks is cut whole; nothing else waits."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from a2a.server.events.event_queue import Event
from a2a.types import (
    Artifact,
    Part,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from google.protobuf.struct_pb2 import Struct, Value

from keybroker.core.bridge import forms
from keybroker.core.bridge.chunks import SplitGuard, _Held
from keybroker.core.bridge.cutting import clean_proto
from keybroker.core.bridge.forms import cut_list, held_tail
from keybroker.core.bridge.masking import MASK

VALUE = "CANARY-7f3a9c-chunked-0123"
CUT = cut_list([VALUE])


def chunk(
    text: str, *, artifact: str = "a2", append: bool = False, last: bool = False, task: str = "T"
) -> TaskArtifactUpdateEvent:
    return TaskArtifactUpdateEvent(
        task_id=task,
        context_id="C",
        artifact=Artifact(artifact_id=artifact, parts=[Part(text=text)]),
        append=append,
        last_chunk=last,
    )


def status(task: str = "T") -> TaskStatusUpdateEvent:
    return TaskStatusUpdateEvent(
        task_id=task, context_id="C", status=TaskStatus(state=TaskState.TASK_STATE_COMPLETED)
    )


def feed(guard: SplitGuard, event: Event) -> Sequence[Event]:
    clean_proto(event, CUT)  # what the handler does before the guard
    return guard.feed(event, CUT)


def text_of(events: Sequence[Event], artifact: str = "a2") -> str:
    return "".join(
        p.text
        for e in events
        if isinstance(e, TaskArtifactUpdateEvent) and e.artifact.artifact_id == artifact
        for p in e.artifact.parts
    )


def test_a_held_start_of_a_value_never_shows_in_a_repr() -> None:
    held = _Held("ctx", VALUE[:9])
    assert VALUE[:9] not in repr(held) and "ctx" in repr(held)


def test_held_tail_is_the_longest_end_that_could_start_a_value() -> None:
    assert held_tail("S1:" + VALUE[:9], CUT) == 9
    assert held_tail("S1:CANARY", CUT) == len("CANARY")
    assert held_tail("the end.", CUT) == 0
    assert held_tail("ends with C", CUT) == 1
    assert held_tail("", CUT) == 0
    assert held_tail(VALUE[:-1], CUT) == len(VALUE) - 1  # a proper prefix, however long
    assert held_tail("anything", cut_list([])) == 0


def test_held_tail_finds_the_same_end_by_scanning_and_by_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(7)
    cut = cut_list(["".join(rnd.choice("abcXY-") for _ in range(rnd.randint(4, 12))) for _ in range(40)])
    texts = ["".join(rnd.choice("abcXY- ") for _ in range(rnd.randint(0, 20))) for _ in range(2000)]
    monkeypatch.setattr(forms, "_INDEXED_ABOVE", 10**9)
    scanned = [held_tail(t, cut) for t in texts]
    monkeypatch.setattr(forms, "_INDEXED_ABOVE", 0)
    looked_up = [held_tail(t, cut) for t in texts]
    assert scanned == looked_up and any(scanned)


def test_a_value_split_over_two_chunks_is_cut_and_the_rest_passes_at_once() -> None:
    guard = SplitGuard()
    first = feed(guard, chunk("S1:" + VALUE[:9]))
    assert text_of(first) == "S1:"  # only what could start the value waits
    second = feed(guard, chunk(VALUE[9:] + ":S2", append=True, last=True))
    assert text_of(second) == MASK + ":S2"
    assert len(second) == 1 and isinstance(second[0], TaskArtifactUpdateEvent) and second[0].append
    assert guard.flush(CUT) == []


@pytest.mark.parametrize("at", [1, 2, 3])
def test_a_start_too_short_to_hold_goes_at_once_and_the_rest_is_cut(at: int) -> None:
    guard = SplitGuard()
    first = feed(guard, chunk("S1:" + VALUE[:at]))
    assert text_of(first) == "S1:" + VALUE[:at]  # nothing waits for fewer than 4 characters
    second = feed(guard, chunk(VALUE[at:] + ":S2", append=True, last=True))
    assert text_of(second) == MASK + ":S2"
    assert guard.flush(CUT) == []


def test_a_short_start_that_was_no_value_changes_nothing() -> None:
    guard = SplitGuard()
    events = [
        *feed(guard, chunk("via=runtim")),
        *feed(guard, chunk("e", append=True)),
        *feed(guard, status()),
    ]
    assert [text_of([e]) for e in events] == ["via=runtim", "e", ""]  # one event each, as they came


def test_a_value_split_over_three_chunks_is_cut() -> None:
    guard = SplitGuard()
    events = [
        *feed(guard, chunk("a " + VALUE[:5])),
        *feed(guard, chunk(VALUE[5:12], append=True)),
        *feed(guard, chunk(VALUE[12:] + " z", append=True, last=True)),
    ]
    assert text_of(events) == f"a {MASK} z"
    assert VALUE not in text_of(events)


def test_a_held_tail_that_was_no_value_comes_back_unchanged_in_order() -> None:
    guard = SplitGuard()
    events = [
        *feed(guard, chunk("say CANA")),
        *feed(guard, chunk("DA is big", append=True)),
        *feed(guard, status()),
    ]
    assert text_of(events) == "say CANADA is big"
    assert isinstance(events[-1], TaskStatusUpdateEvent)


def test_a_status_of_the_task_releases_its_held_tails_first() -> None:
    guard = SplitGuard()
    feed(guard, chunk("see " + VALUE[:4]))
    out = feed(guard, status())
    assert len(out) == 2
    released, last = out
    assert isinstance(released, TaskArtifactUpdateEvent) and released.append
    assert released.artifact.parts[0].text == VALUE[:4] and released.context_id == "C"
    assert last is not None and isinstance(last, TaskStatusUpdateEvent)


def test_a_status_of_another_task_does_not_release_the_tail() -> None:
    guard = SplitGuard()
    feed(guard, chunk("x " + VALUE[:4]))
    assert list(feed(guard, status(task="other"))) == [status(task="other")]
    assert text_of(guard.flush(CUT)) == VALUE[:4]


def test_another_artifact_passes_while_a_tail_waits() -> None:
    guard = SplitGuard()
    feed(guard, chunk("x " + VALUE[:4]))
    other = feed(guard, chunk("unrelated", artifact="a1"))
    assert len(other) == 1 and text_of(other, "a1") == "unrelated"
    assert text_of(feed(guard, chunk(VALUE[4:], append=True, last=True))) == MASK


def test_a_replacing_update_sends_the_held_tail_before_it() -> None:
    guard = SplitGuard()
    feed(guard, chunk("x " + VALUE[:4]))
    out = feed(guard, chunk("fresh start", last=True))
    assert [text_of([e]) for e in out] == [VALUE[:4], "fresh start"]
    assert [e.append for e in out if isinstance(e, TaskArtifactUpdateEvent)] == [True, False]


def test_a_chunk_starting_with_another_kind_of_part_gets_the_tail_as_its_own_part() -> None:
    guard = SplitGuard()
    feed(guard, chunk("x " + VALUE[:4]))
    data = Struct()
    data.update({"n": 1})
    following = TaskArtifactUpdateEvent(
        task_id="T",
        context_id="C",
        artifact=Artifact(artifact_id="a2", parts=[Part(data=Value(struct_value=data)), Part(text="after")]),
        append=True,
        last_chunk=True,
    )
    (out,) = feed(guard, following)
    assert isinstance(out, TaskArtifactUpdateEvent)
    assert [p.WhichOneof("content") for p in out.artifact.parts] == ["text", "data", "text"]
    assert out.artifact.parts[0].text == VALUE[:4]


def test_the_last_chunk_and_an_empty_cut_hold_nothing() -> None:
    guard = SplitGuard()
    assert text_of(feed(guard, chunk("x " + VALUE[:4], last=True))) == "x " + VALUE[:4]
    event = chunk("x " + VALUE[:4])
    assert text_of(guard.feed(event, cut_list([]))) == "x " + VALUE[:4]
    assert guard.flush(CUT) == []
