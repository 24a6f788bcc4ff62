# SPDX-License-Identifier: Apache-2.0
"""chunks.py: a value split across streamed events is cut whole, whatever the size of the pieces;
text that cannot start a value goes out at once."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from a2a.server.events.event_queue import Event
from a2a.types import (
    Artifact,
    Message,
    Part,
    Role,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from google.protobuf.struct_pb2 import Struct, Value

from keybroker.core.bridge import forms
from keybroker.core.bridge.chunks import SplitGuard
from keybroker.core.bridge.cutting import clean_proto
from keybroker.core.bridge.forms import cut_list, fold, held_tail, open_end, scrub_forms
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


def status(
    text: str | None = None, *, task: str = "T", state: TaskState = TaskState.TASK_STATE_COMPLETED
) -> TaskStatusUpdateEvent:
    event = TaskStatusUpdateEvent(task_id=task, context_id="C", status=TaskStatus(state=state))
    if text is not None:
        event.status.message.CopyFrom(Message(message_id="m", role=Role.ROLE_AGENT, parts=[Part(text=text)]))
    return event


def working(text: str, task: str = "T") -> TaskStatusUpdateEvent:
    return status(text, task=task, state=TaskState.TASK_STATE_WORKING)


def feed(guard: SplitGuard, event: Event, cut: forms.Cut = CUT) -> Sequence[Event]:
    clean_proto(event, cut)  # what the handler does before the guard
    return guard.feed(event, cut)


def text_of(events: Sequence[Event], artifact: str | None = "a2") -> str:
    """The text a client joins from `events`: one artifact's chunks, or (None) every text in order."""
    texts: list[str] = []
    for e in events:
        if isinstance(e, TaskArtifactUpdateEvent) and artifact in (None, e.artifact.artifact_id):
            texts.extend(p.text for p in e.artifact.parts)
        elif isinstance(e, TaskStatusUpdateEvent) and artifact is None:
            texts.extend(p.text for p in e.status.message.parts)
    return "".join(texts)


def opened(guard: SplitGuard, artifact: str = "a2") -> None:
    """Create the artifact (its first chunk goes out at once: it cannot start a value)."""
    assert text_of(feed(guard, chunk("head. ", artifact=artifact)), artifact) == "head. "


def drip(guard: SplitGuard, text: str, size: int, **kw: object) -> list[Event]:
    out: list[Event] = []
    for n, i in enumerate(range(0, len(text), size)):
        out += feed(guard, chunk(text[i : i + size], append=n > 0, **kw))  # type: ignore[arg-type]
    return out


# The longest end that could start a value -----------------------------------------------------


def test_held_tail_is_the_longest_end_that_could_start_a_value_however_short() -> None:
    assert held_tail("S1:" + VALUE[:9], CUT) == 9
    assert held_tail("S1:CANARY", CUT) == len("CANARY")
    assert held_tail("the end.", CUT) == 0
    assert held_tail("ends with C", CUT) == 1
    assert held_tail("ends with c", CUT) == 1  # any case
    assert held_tail("", CUT) == 0
    assert held_tail(VALUE[:-1], CUT) == len(VALUE) - 1  # a proper prefix, however long
    assert held_tail("anything", cut_list([])) == 0


def test_open_end_holds_every_end_that_could_start_a_value() -> None:
    cut = cut_list(["ABCD12"])
    # "AB" ends the text; once it is held, "ABC" would end what goes out: it is held too.
    assert held_tail("zABCAB", cut) == 2 and open_end("zABCAB", cut) == 5
    assert open_end("the end.", cut) == 0


def test_a_cut_finds_the_same_by_scanning_and_by_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(7)
    cut = cut_list(["".join(rnd.choice("abcXY-") for _ in range(rnd.randint(4, 12))) for _ in range(40)])
    texts = ["".join(rnd.choice("abcxy- ") for _ in range(rnd.randint(0, 40))) for _ in range(2000)]

    def answers() -> list[tuple[int, bool, list[tuple[int, int]]]]:
        return [(held_tail(t, cut), cut.occurs_in(t), cut.spans(t)) for t in texts]

    monkeypatch.setattr(forms, "_INDEXED_ABOVE", 10**9)
    scanned = answers()
    monkeypatch.setattr(forms, "_INDEXED_ABOVE", 0)
    looked_up = answers()
    assert scanned == looked_up
    assert any(a[0] for a in scanned) and any(a[1] for a in scanned)


# Artifact chunks ----------------------------------------------------------------------------------


def test_a_value_split_over_two_chunks_is_cut_and_the_rest_passes_at_once() -> None:
    guard = SplitGuard()
    opened(guard)
    first = feed(guard, chunk("S1:" + VALUE[:9], append=True))
    assert text_of(first) == "S1:"  # only what could start the value waits
    second = feed(guard, chunk(VALUE[9:] + ":S2", append=True, last=True))
    assert text_of(second) == MASK + ":S2"
    assert len(second) == 1 and isinstance(second[0], TaskArtifactUpdateEvent) and second[0].append
    assert guard.flush(CUT) == []


@pytest.mark.parametrize("at", [1, 2, 3])
def test_a_start_of_one_to_three_characters_waits_and_the_value_is_cut_whole(at: int) -> None:
    guard = SplitGuard()
    opened(guard)
    first = feed(guard, chunk("S1:" + VALUE[:at], append=True))
    assert text_of(first) == "S1:"
    second = feed(guard, chunk(VALUE[at:] + ":S2", append=True, last=True))
    assert text_of(second) == MASK + ":S2"
    assert guard.flush(CUT) == []


@pytest.mark.parametrize("size", [1, 2, 3])
@pytest.mark.parametrize("shape", [VALUE, VALUE.upper(), *scrub_forms(VALUE)[1:]])
def test_a_value_or_a_form_of_it_dripped_in_tiny_chunks_is_cut(size: int, shape: str) -> None:
    guard = SplitGuard()
    out = drip(guard, f"a {shape} z", size)
    out += feed(guard, status("done"))
    out += guard.flush(CUT)
    joined = text_of(out)
    # A base64 form is cut by its whole 3-byte groups as soon as they are complete: a padded
    # partial group after them (the value's last byte or two, encoded) may stay.
    assert joined.startswith(f"a {MASK}") and joined.endswith(" z") and len(joined) <= len(f"a {MASK}") + 6
    assert fold(shape) not in fold(text_of(out, None))


def test_a_one_character_stream_goes_out_one_event_behind() -> None:
    guard = SplitGuard()
    sent = [text_of(feed(guard, chunk(c, append=n > 0))) for n, c in enumerate("hello world")]
    # Each character goes out when the next shows it starts no value (or at once, when none starts so).
    assert "".join(sent) + text_of(guard.flush(CUT)) == "hello world"
    assert all(len(s) <= 2 for s in sent)
    assert sum(1 for s in sent if s) >= len(sent) - 2


def test_text_that_cannot_start_a_value_goes_out_one_event_each() -> None:
    guard = SplitGuard()
    events = [
        *feed(guard, chunk("via=runtim")),
        *feed(guard, chunk("e", append=True)),
        *feed(guard, status()),
    ]
    assert [text_of([e]) for e in events] == ["via=runtim", "e", ""]


def test_a_value_split_over_three_chunks_is_cut() -> None:
    guard = SplitGuard()
    events = [
        *feed(guard, chunk("a " + VALUE[:5])),
        *feed(guard, chunk(VALUE[5:12], append=True)),
        *feed(guard, chunk(VALUE[12:] + " z", append=True, last=True)),
    ]
    assert text_of(events) == f"a {MASK} z"


def test_a_held_tail_that_was_no_value_comes_back_unchanged_in_order() -> None:
    guard = SplitGuard()
    events = [
        *feed(guard, chunk("say CANA")),
        *feed(guard, chunk("DA is big", append=True)),
        *feed(guard, status()),
    ]
    assert text_of(events) == "say CANADA is big"
    assert isinstance(events[-1], TaskStatusUpdateEvent)


def test_a_status_ending_the_turn_goes_out_after_the_held_tails() -> None:
    guard = SplitGuard()
    opened(guard)
    feed(guard, chunk("see " + VALUE[:4], append=True))
    released, last = feed(guard, status("done"))
    assert isinstance(released, TaskArtifactUpdateEvent) and released.append
    assert released.artifact.parts[0].text == VALUE[:4] and released.context_id == "C"
    assert isinstance(last, TaskStatusUpdateEvent)


def test_a_status_without_text_waits_with_the_tail_until_the_stream_decides() -> None:
    guard = SplitGuard()
    opened(guard)
    feed(guard, chunk("see " + VALUE[:4], append=True))
    assert feed(guard, status()) == []  # what follows the tail along the stream is still unknown
    released, last = guard.flush(CUT)
    assert text_of([released]) == VALUE[:4] and isinstance(last, TaskStatusUpdateEvent)


def test_a_status_of_another_task_does_not_release_the_tail() -> None:
    guard = SplitGuard()
    opened(guard)
    feed(guard, chunk("x " + VALUE[:4], append=True))
    assert list(feed(guard, status(task="other"))) == [status(task="other")]
    assert text_of(guard.flush(CUT)) == VALUE[:4]


def test_another_artifact_and_a_working_status_pass_while_a_tail_waits() -> None:
    guard = SplitGuard()
    opened(guard)
    feed(guard, chunk("x " + VALUE[:4], append=True))
    other = feed(guard, chunk("unrelated", artifact="a1"))
    assert len(other) == 1 and text_of(other, "a1") == "unrelated"
    note = feed(guard, working("thinking."))
    assert len(note) == 1 and isinstance(note[0], TaskStatusUpdateEvent)
    assert text_of(feed(guard, chunk(VALUE[4:], append=True, last=True))) == MASK


def test_a_replacing_update_sends_the_held_tail_before_it() -> None:
    guard = SplitGuard()
    opened(guard)
    feed(guard, chunk("x " + VALUE[:4], append=True))
    out = feed(guard, chunk("fresh start.", last=True))
    assert [text_of([e]) for e in out] == [VALUE[:4], "fresh start."]
    assert [e.append for e in out if isinstance(e, TaskArtifactUpdateEvent)] == [True, False]


def test_a_chunk_starting_with_another_kind_of_part_gets_the_tail_as_its_own_part() -> None:
    guard = SplitGuard()
    opened(guard)
    feed(guard, chunk("x " + VALUE[:4], append=True))
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


def test_an_artifact_sent_in_one_event_that_could_start_a_value_goes_out_whole() -> None:
    guard = SplitGuard()
    assert feed(guard, chunk("all at once: " + VALUE[:3])) == []  # it may go on in an appended chunk
    passing = feed(guard, chunk("another", artifact="a1"))
    assert [text_of([e], "a1") for e in passing] == ["another"]  # other artifacts pass meanwhile
    whole, done = feed(guard, status("done"))
    assert isinstance(whole, TaskArtifactUpdateEvent) and not whole.append
    assert [p.text for p in whole.artifact.parts] == ["all at once: " + VALUE[:3]]  # one part, as sent
    assert isinstance(done, TaskStatusUpdateEvent)


def test_a_last_chunk_that_could_start_a_value_waits_for_the_next_event() -> None:
    guard = SplitGuard()
    assert feed(guard, chunk("x " + VALUE[:4], last=True)) == []
    assert text_of(guard.flush(CUT)) == "x " + VALUE[:4]
    event = chunk("x " + VALUE[:4])
    assert text_of(guard.feed(event, cut_list([]))) == "x " + VALUE[:4]  # nothing to cut: nothing waits
    assert guard.flush(CUT) == []


# Across events: statuses, artifacts, the bridge's own ------------------------------------------


def test_a_value_split_over_two_status_messages_is_cut() -> None:
    guard = SplitGuard()
    assert feed(guard, working("one: " + VALUE[:10])) == []  # a status waits whole
    first, second = feed(guard, working(VALUE[10:] + " two"))
    assert text_of([first, second], None) == f"one: {MASK} two"


def test_halves_in_two_artifacts_are_both_cut() -> None:
    guard = SplitGuard()
    out = [*feed(guard, chunk("first: " + VALUE[:10], artifact="a1"))]
    out += feed(guard, chunk(VALUE[10:] + " :second", artifact="a2"))
    out += feed(guard, status("done"))
    assert text_of(out, "a1") == f"first: {MASK}" and text_of(out, "a2") == " :second"


def test_a_value_dripped_into_one_artifact_between_others_is_cut_and_the_others_pass() -> None:
    guard = SplitGuard()
    out: list[Event] = []
    for n, i in enumerate(range(0, len(VALUE), 2)):
        out += feed(guard, chunk(VALUE[i : i + 2], artifact="a1", append=n > 0))
        passed = [*feed(guard, chunk(f"<{n}>", append=n > 0)), *feed(guard, working(f"step {n}."))]
        assert len(passed) == 2  # neither waits for the other artifact
        out += passed
    out += feed(guard, status("done")) + guard.flush(CUT)
    assert text_of(out, "a1") == MASK
    assert VALUE not in text_of(out, None)


def test_the_bridges_own_event_is_never_held() -> None:
    guard = SplitGuard()
    feed(guard, working("one: " + VALUE[:3]))
    own = working("Keybroker is waiting for the user to provide: C")
    out = guard.feed(own, CUT, force=True)
    assert out[-1] is own and len(out) == 2
    rest = feed(guard, working(VALUE[3:] + " two"))  # not the rest of the bridge's "C"
    assert VALUE not in text_of([*out, *rest], None)


def test_a_held_start_never_shows_in_a_repr() -> None:
    guard = SplitGuard()
    feed(guard, chunk("x " + VALUE[:9]))
    assert VALUE[:9] not in repr(guard) and "1 held" in repr(guard)
    assert all(VALUE[:9] not in repr(item) for item in guard._pending)


# Any stream, any split ------------------------------------------------------------------------


def _random_stream(rnd: random.Random, value: str | None) -> list[Event]:
    """Text (with `value` in it, or not) cut into 1-3 character pieces spread over two artifacts'
    chunks and working statuses, sometimes with data parts; then a closing status."""
    text = "".join(rnd.choice("abcCN -7f") for _ in range(rnd.randint(5, 30)))
    if value is not None:
        at = rnd.randint(0, len(text))
        text = text[:at] + value + text[at:]
    events: list[Event] = []
    started: set[str] = set()
    i = 0
    while i < len(text):
        size = rnd.randint(1, 3)
        piece = text[i : i + size]
        i += size
        where = rnd.choice(["a1", "a2", "status"])
        if where == "status":
            events.append(working(piece))
            continue
        event = chunk(piece, artifact=where, append=where in started)
        if rnd.random() < 0.2:
            event.artifact.parts.append(Part(data=Value(string_value="d")))
        started.add(where)
        events.append(event)
    events.append(status("end"))
    return events


@pytest.mark.parametrize("seed", range(40))
def test_no_split_of_any_stream_lets_a_value_through(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(10):
        guard = SplitGuard()
        events = _random_stream(rnd, VALUE)
        out = [e for event in events for e in feed(guard, event)] + guard.flush(CUT)
        for joined in (text_of(out, None), text_of(out, "a1"), text_of(out, "a2")):
            assert not any(form in fold(joined) for form in CUT), joined


def _texts(event: TaskStatusUpdateEvent) -> list[str]:
    return [p.text for p in event.status.message.parts]


@pytest.mark.parametrize("seed", range(20))
def test_a_stream_without_a_value_comes_through_whole(seed: int) -> None:
    rnd = random.Random(1000 + seed)
    for _ in range(10):
        guard = SplitGuard()
        events = _random_stream(rnd, None)
        expected = {a: text_of(events, a) for a in ("a1", "a2")}
        statuses = [t for e in events if isinstance(e, TaskStatusUpdateEvent) for t in _texts(e)]
        out = [e for event in events for e in feed(guard, event)] + guard.flush(CUT)
        assert {a: text_of(out, a) for a in ("a1", "a2")} == expected
        got = [t for e in out if isinstance(e, TaskStatusUpdateEvent) for t in _texts(e)]
        assert got == statuses
