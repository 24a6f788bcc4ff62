# SPDX-License-Identifier: Apache-2.0
"""masking.py and cutting.py: no `secret_fulfillments` value, and no injected value, goes back to a
client."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from a2a.types import Message, Part, StreamResponse, Task, TaskStatusUpdateEvent
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import ListValue, Struct, Value
from hypothesis import given, settings
from hypothesis import strategies as st

from keybroker.core.bridge.cutting import clean_proto, scrub_proto, scrub_quoted, scrub_text
from keybroker.core.bridge.forms import cut_list, fold, merge_cuts, scrub_forms
from keybroker.core.bridge.masking import FULFILMENT_KEYS, MASK, mask_payload, mask_proto
from keybroker.core.bridge.proto_walk import MAX_DEPTH
from tests.bridge.support import SECRETS_URI

CANARY = "ghp_CANARY_0123456789"


def _fulfilment(key: str = "github", value: object = CANARY) -> dict[str, object]:
    return {SECRETS_URI: {"secret_fulfillments": {key: {"secret": value}}}}


def _dumps(data: object) -> str:
    return json.dumps(data, sort_keys=True)


# JSON payloads -----------------------------------------------------------------------------------


def test_mask_payload_masks_a_v03_task_result_history_and_status() -> None:
    result = {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {
            "kind": "task",
            "id": "T",
            "contextId": "C",
            "status": {
                "state": "completed",
                "message": {"kind": "message", "metadata": _fulfilment("slack")},
            },
            "history": [
                {"kind": "message", "role": "user", "parts": [], "metadata": _fulfilment()},
                {"kind": "message", "role": "agent", "parts": [{"kind": "text", "text": "ok"}]},
            ],
        },
    }
    masked = mask_payload(result)
    text = _dumps(masked)
    assert CANARY not in text
    assert masked["result"]["history"][0]["metadata"][SECRETS_URI] == {
        "secret_fulfillments": {"github": {"secret": MASK}}
    }
    assert masked["result"]["status"]["message"]["metadata"][SECRETS_URI]["secret_fulfillments"] == {
        "slack": {"secret": MASK}
    }
    # Everything else is untouched.
    assert masked["result"]["history"][1] == result["result"]["history"][1]


def test_mask_payload_masks_v10_stream_events() -> None:
    events = [
        {"task": {"id": "T", "history": [{"role": "ROLE_USER", "metadata": _fulfilment()}]}},
        {"statusUpdate": {"status": {"message": {"metadata": _fulfilment("k2", "v2-secret")}}}},
        {"message": {"metadata": _fulfilment("k3", "v3-secret")}},
        {"artifactUpdate": {"artifact": {"parts": [{"text": "x", "metadata": _fulfilment("k4", "v4")}]}}},
    ]
    text = _dumps(mask_payload(events))
    for value in (CANARY, "v2-secret", "v3-secret", '"v4"'):
        assert value not in text
    assert text.count(MASK) == 4


def test_mask_payload_finds_fulfilments_at_any_depth_and_under_any_key() -> None:
    data = {"a": [{"b": {"c": [[{"secret_fulfillments": {"x": {"secret": "deep-secret"}}}]]}}]}
    other_uri = {
        "https://a2a-extensions.adk.kagenti.dev/auth/secrets/v1": {
            "secret_fulfillments": {"x": {"secret": "fork"}}
        }
    }
    assert "deep-secret" not in _dumps(mask_payload(data))
    assert '"fork"' not in _dumps(mask_payload(other_uri))


@pytest.mark.parametrize(
    ("junk", "expected"),
    [
        ("bare-string-value", MASK),
        (12345, MASK),
        ([{"secret": "in-a-list"}, "loose"], [{"secret": MASK}, MASK]),
        ({"k": "bare"}, {"k": MASK}),
        (
            {"k": {"secret": "v", "extra": {"nested": "n", "n2": 7}}},
            {"k": {"secret": MASK, "extra": {"nested": MASK, "n2": MASK}}},
        ),
        ({"k": {"secret": None}}, {"k": {"secret": None}}),
        ({}, {}),
    ],
)
def test_mask_payload_masks_every_leaf_whatever_the_shape(junk: object, expected: object) -> None:
    assert mask_payload({"secret_fulfillments": junk}) == {"secret_fulfillments": expected}


def test_mask_payload_masks_the_camel_case_twin() -> None:
    assert mask_payload({"secretFulfillments": {"k": {"secret": "v"}}}) == {
        "secretFulfillments": {"k": {"secret": MASK}}
    }


@pytest.mark.parametrize(
    "junk", [None, 3, 2.5, True, "text", [], [1, "a", None], {"x": 1}, {"secret": "not under fulfillments"}]
)
def test_mask_payload_leaves_non_fulfilment_data_alone(junk: object) -> None:
    assert mask_payload(junk) is junk  # the very same object: nothing copied


def test_mask_payload_is_pure_and_idempotent() -> None:
    original = {"result": {"history": [{"metadata": _fulfilment()}], "keep": [1, 2]}}
    before = copy.deepcopy(original)
    once = mask_payload(original)
    assert original == before  # input untouched
    assert mask_payload(once) == once
    assert once["result"]["keep"] is original["result"]["keep"]  # unchanged branches shared


def test_mask_payload_survives_absurd_nesting() -> None:
    data: object = {"secret_fulfillments": {"k": {"secret": "v"}}}
    for _ in range(500):
        data = {"n": [data]}
    assert '"v"' not in _dumps(mask_payload(data))


# Protobuf payloads -------------------------------------------------------------------------------


def _task_with_secrets() -> Task:
    return ParseDict(
        {
            "id": "T",
            "contextId": "C",
            "status": {
                "state": "TASK_STATE_COMPLETED",
                "message": {
                    "messageId": "s",
                    "role": "ROLE_AGENT",
                    "parts": [{"text": "ok"}],
                    "metadata": _fulfilment("s1", "status-secret"),
                },
            },
            "history": [
                {
                    "messageId": "m1",
                    "role": "ROLE_USER",
                    "parts": [{"text": "hi"}],
                    "metadata": _fulfilment(),
                },
                {
                    "messageId": "m2",
                    "role": "ROLE_USER",
                    "parts": [{"text": "again", "metadata": _fulfilment("p", "part-secret")}],
                },
            ],
            "artifacts": [
                {
                    "artifactId": "a",
                    "parts": [{"data": {"secret_fulfillments": {"d": {"secret": "data-secret"}}}}],
                    "metadata": _fulfilment("am", "artifact-secret"),
                }
            ],
            "metadata": {"secret_fulfillments": {"t": {"secret": "task-secret"}}},
        },
        Task(),
    )


def test_mask_proto_masks_everywhere_in_a_task() -> None:
    task = _task_with_secrets()
    assert mask_proto(task) is True
    text = _dumps(MessageToDict(task))
    for value in (CANARY, "status-secret", "part-secret", "data-secret", "artifact-secret", "task-secret"):
        assert value not in text
    assert text.count(MASK) == 6
    assert task.history[0].parts[0].text == "hi"  # the rest is intact


@pytest.mark.parametrize("kind", ["task", "message", "status_update", "artifact_update"])
def test_mask_proto_covers_every_stream_event(kind: str) -> None:
    task = _task_with_secrets()
    event = StreamResponse()
    if kind == "task":
        event.task.CopyFrom(task)
    elif kind == "message":
        event.message.CopyFrom(task.history[0])
    elif kind == "status_update":
        event.status_update.CopyFrom(TaskStatusUpdateEvent(task_id="T", context_id="C", status=task.status))
    else:
        event.artifact_update.artifact.CopyFrom(task.artifacts[0])
    mask_proto(event)
    text = _dumps(MessageToDict(event))
    assert MASK in text
    for value in (CANARY, "status-secret", "data-secret", "artifact-secret"):
        assert value not in text


def test_mask_proto_reports_no_change_and_changes_nothing_without_fulfilments() -> None:
    message = Message(message_id="m", parts=[Part(text="hello")])
    message.metadata.update({"other": {"secret": "not a fulfilment"}})
    before = message.SerializeToString()
    assert mask_proto(message) is False
    assert message.SerializeToString() == before


def test_mask_proto_handles_bare_struct_value_and_list() -> None:
    struct = Struct()
    struct.update({"secret_fulfillments": {"k": {"secret": "s1"}}})
    value = Value()
    value.struct_value.update({"secret_fulfillments": {"k": {"secret": "s2"}}})
    values = ListValue()
    values.append({"secret_fulfillments": {"k": {"secret": "s3"}}})
    for item in (struct, value, values):
        assert mask_proto(item) is True
        assert "s1" not in str(item) and "s2" not in str(item) and "s3" not in str(item)


def test_mask_proto_is_idempotent() -> None:
    task = _task_with_secrets()
    mask_proto(task)
    assert mask_proto(task) is False


# Literal values ----------------------------------------------------------------------------------


def test_scrub_text_cuts_values_longest_first_and_skips_tiny_ones() -> None:
    assert scrub_text("a abcd abcdef", ["abcd", "abcdef", "a"]) == f"a {MASK} {MASK}"
    assert scrub_text("nothing here", [CANARY]) == "nothing here"


def test_scrub_proto_cuts_injected_values_from_every_string() -> None:
    task = Task(id="T", context_id="C")
    task.status.message.parts.append(Part(text=f"I got {CANARY}!"))
    task.history.append(Message(message_id="m", parts=[Part(text="fine")], extensions=[f"x-{CANARY}"]))
    task.metadata.update({"echo": {"nested": [f"see {CANARY}"]}})
    assert scrub_proto(task, [CANARY]) is True
    text = _dumps(MessageToDict(task))
    assert CANARY not in text
    assert task.status.message.parts[0].text == f"I got {MASK}!"
    assert task.history[0].parts[0].text == "fine"
    assert scrub_proto(task, [CANARY]) is False
    assert scrub_proto(task, []) is False


# Both in one walk --------------------------------------------------------------------------------


def _task_with_secrets_and_echoes() -> Task:
    task = _task_with_secrets()
    task.status.message.parts.append(Part(text=f"I got {CANARY}!"))
    task.history[1].extensions.append(f"x-{CANARY}")
    task.metadata.update({"echo": {"nested": [f"see {CANARY}", {"deeper": f"{CANARY}{CANARY}"}]}})
    task.artifacts[0].parts.append(Part(data=Value(string_value=f"quoted {CANARY}")))
    return task


@pytest.mark.parametrize("values", [[CANARY], [CANARY, "status-secret", "abc"], [], ["absent-value"]])
def test_clean_proto_does_what_mask_then_scrub_do(values: list[str]) -> None:
    cleaned, reference = _task_with_secrets_and_echoes(), _task_with_secrets_and_echoes()
    changed = clean_proto(cleaned, values)
    expected = mask_proto(reference)
    expected = scrub_proto(reference, values) or expected
    assert cleaned.SerializeToString(deterministic=True) == reference.SerializeToString(deterministic=True)
    assert changed is expected is True
    assert clean_proto(cleaned, values) is False  # idempotent


def test_clean_proto_masks_fulfilments_even_with_no_values_to_cut() -> None:
    """Values released by an earlier run of the task come back in its history: masked regardless."""
    task = _task_with_secrets()
    assert clean_proto(task) is True
    text = _dumps(MessageToDict(task))
    for value in (CANARY, "status-secret", "part-secret", "data-secret", "artifact-secret", "task-secret"):
        assert value not in text
    message = Message(message_id="m", parts=[Part(text=f"plain {CANARY}")])
    assert clean_proto(message, []) is False
    assert clean_proto(message, [CANARY]) is True and CANARY not in str(message)


# Encoded forms and values split over parts ------------------------------------------------------

ODD = 'odd-CANARY "q" \\ ü/€+ x'
LONG = "long-CANARY-" + "0123456789" * 4


def test_scrub_forms_lists_each_encoding_an_echo_might_use() -> None:
    raw = ODD.encode()

    def b64_after(skip: int) -> list[str]:
        whole = raw[skip:][: (len(raw) - skip) // 3 * 3]
        return [base64.b64encode(whole).decode(), base64.urlsafe_b64encode(whole).decode()]

    expected = {
        ODD,
        json.dumps(ODD)[1:-1],
        json.dumps(ODD, ensure_ascii=False)[1:-1],
        quote(ODD, safe=""),
        quote_plus(ODD),
        "".join(f"%{b:02X}" for b in raw),
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        *b64_after(0),
        *b64_after(1),
        *b64_after(2),
        raw.hex(),
    }
    forms = scrub_forms(ODD)
    assert set(forms) == {fold(f) for f in expected} and len(forms) == len(set(forms))
    # A plain value: the forms equal to it are listed once.
    assert scrub_forms(CANARY).count(fold(CANARY)) == 1
    assert scrub_forms("abc") == ()  # too short to cut, in any form


@pytest.mark.parametrize("prefix", [b"", b"u", b"u:", b"user:", b"ab:" * 7])
@pytest.mark.parametrize("suffix", [b"", b"@", b"@host:443"])
def test_base64_of_a_value_after_any_prefix_and_before_anything_is_cut(prefix: bytes, suffix: bytes) -> None:
    encoded = base64.b64encode(prefix + CANARY.encode() + suffix).decode()
    cleaned = scrub_text(f"Authorization: Basic {encoded}", [CANARY])
    assert MASK in cleaned
    for n in range(4):  # whatever offset a client decodes from
        body = cleaned.split()[-1].replace(MASK, "")[n:]
        decoded = base64.b64decode(body[: len(body) // 4 * 4])
        assert CANARY.encode() not in decoded and CANARY[4:12].encode() not in decoded


@pytest.mark.parametrize(
    "shape",
    [
        CANARY.upper(),
        CANARY.lower(),
        CANARY.swapcase(),
        "".join(f"%{b:02X}" for b in CANARY.encode()),
        "".join(f"%{b:02x}" for b in CANARY.encode()),
        CANARY.encode().hex().upper(),
    ],
)
def test_case_folded_and_fully_percent_encoded_echoes_are_cut(shape: str) -> None:
    assert scrub_text(f"<{shape}>", [CANARY]) == f"<{MASK}>"


def test_folding_keeps_every_character_in_its_place() -> None:
    text = "İx ẞ ß Ǆ"  # "İ".lower() is two characters: it stays as it is
    assert len(fold(text)) == len(text)
    assert fold("AbC") == "abc"
    assert scrub_text("İİ-ODD-value-İ", ["i̇i̇-odd-value"]) == "İİ-ODD-value-İ"  # no shifted match
    assert scrub_text("x ODD-VALUE-İ y", ["odd-value-İ"]) == f"x {MASK} y"


SIGMA_VALUE = "ΚΛΕΙΔΙ-7731-ΑΣ"  # ends in a capital sigma: final sigma at a word's end


@pytest.mark.parametrize(
    "echo",
    [
        f"<{SIGMA_VALUE}>",
        f"{SIGMA_VALUE}X",  # a letter after it: str.lower() gives the small sigma
        f"{SIGMA_VALUE.lower()}x",
        f"{SIGMA_VALUE[:-1]}\u03c3 and İ",  # "İ" makes the text fold one character at a time
        f"{SIGMA_VALUE[:-1]}\u03c2",
    ],
)
def test_a_value_ending_in_a_capital_sigma_is_cut_whatever_follows_it(echo: str) -> None:
    cleaned = scrub_text(echo, [SIGMA_VALUE])
    assert MASK in cleaned and "7731" not in cleaned


#: Sigmas, letters around them, what the final-sigma rule skips ("'", ":", a combining mark), "İ".
_FOLDED_ALONE = ["Σ", "\u03c3", "\u03c2", "A", "b", " ", "-", "İ", "ẞ", "\u0345", "'", ":"]


@given(st.lists(st.sampled_from(_FOLDED_ALONE), max_size=8))
def test_fold_is_one_map_per_character(chars: list[str]) -> None:
    text = "".join(chars)
    assert fold(text) == "".join(fold(c) for c in chars)


def test_every_form_is_cut_from_text_and_protobufs_and_nothing_else() -> None:
    cut = cut_list([ODD])
    for form in scrub_forms(ODD):
        assert scrub_text(f"<{form}>", cut) == f"<{MASK}>"
        assert scrub_text(f"<{form}>", [ODD]) == f"<{MASK}>"  # plain values: forms worked out on the way
        message = Message(message_id="m", parts=[Part(text=f"a {form} b")])
        assert clean_proto(message, cut) is True and message.parts[0].text == f"a {MASK} b"
    assert scrub_text("nothing to see", cut) == "nothing to see"


def test_a_cut_is_sorted_longest_first_and_its_repr_names_no_text() -> None:
    cut = cut_list([CANARY, ODD])
    assert [len(t) for t in cut] == sorted((len(t) for t in cut), reverse=True)
    assert CANARY not in repr(cut) and CANARY not in str(cut) and "texts" in repr(cut)
    assert merge_cuts(cut, cut_list([CANARY])) is cut  # nothing new: the same object
    assert set(merge_cuts(cut_list([CANARY]), cut_list([ODD]))) == set(cut)


@pytest.mark.parametrize("at", [1, 4, 9, len(CANARY) - 1])
def test_a_value_split_over_consecutive_text_parts_is_cut_whole(at: int) -> None:
    message = Message(message_id="m", parts=[Part(text="S1:" + CANARY[:at]), Part(text=CANARY[at:] + ":S2")])
    assert scrub_proto(message, [CANARY]) is True
    assert [p.text for p in message.parts] == ["S1:" + MASK, ":S2"]


def test_a_value_over_three_parts_and_one_inside_a_part_are_both_cut() -> None:
    artifact_task = Task(id="T", context_id="C")
    artifact = artifact_task.artifacts.add(artifact_id="a")
    for text in (f"x {CANARY} y {CANARY[:5]}", CANARY[5:10], CANARY[10:] + " z"):
        artifact.parts.append(Part(text=text))
    assert clean_proto(artifact_task, cut_list([CANARY])) is True
    assert [p.text for p in artifact.parts] == [f"x {MASK} y {MASK}", "", " z"]
    assert CANARY not in "".join(p.text for p in artifact.parts)


def test_a_value_around_a_part_of_another_kind_is_cut() -> None:
    parts = [Part(text="a " + CANARY[:6]), Part(data=Value(string_value="x")), Part(text=CANARY[6:] + " b")]
    message = Message(message_id="m", parts=parts)
    assert scrub_proto(message, [CANARY]) is True  # a client joining the text reads it whole
    assert [p.text for p in message.parts] == ["a " + MASK, "", " b"]
    assert message.parts[1].data.string_value == "x"


def test_a_value_in_raw_bytes_and_in_metadata_keys_is_cut() -> None:
    raw = CANARY.encode()
    message = Message(message_id="m", parts=[Part(raw=b"\xff\x00" + raw + b"\xfe"), Part(raw=raw.upper())])
    message.metadata.update({CANARY: 1, "outer": {CANARY.lower(): {"deeper": CANARY}}, MASK: "taken"})
    assert clean_proto(message, cut_list([CANARY])) is True
    assert [p.raw for p in message.parts] == [b"\xff\x00" + MASK.encode() + b"\xfe", MASK.encode()]
    data = MessageToDict(message)["metadata"]
    assert data == {MASK: "taken", MASK + "#2": 1, "outer": {MASK: {"deeper": MASK}}}


def test_a_value_split_across_the_messages_and_artifacts_of_a_task_is_cut() -> None:
    task = Task(id="T", context_id="C")
    task.history.append(Message(message_id="u", role=1, parts=[Part(text="status-split")]))
    task.history.append(Message(message_id="a1", role=2, parts=[Part(text="one: " + CANARY[:7])]))
    task.status.message.CopyFrom(Message(message_id="a2", role=2, parts=[Part(text=CANARY[7:12])]))
    task.artifacts.add(artifact_id="x").parts.append(Part(text=CANARY[12:] + " :x"))
    assert clean_proto(task, cut_list([CANARY])) is True
    assert task.history[1].parts[0].text == "one: " + MASK
    assert task.status.message.parts[0].text == "" and task.artifacts[0].parts[0].text == " :x"


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        (CANARY + "\u0007", f'"{MASK}\\u0007"'),
        (CANARY + "x" * 40, f'"{MASK}xxxxxxxxxxxxxxxxxxx..."'),  # the whole value inside the 40
        ("bad: " + LONG, f'"bad: {MASK}..."'),  # cut short inside the value
        ("harmless key " + "z" * 40, None),
    ],
)
def test_scrub_quoted_cuts_values_from_quotes_even_cut_short(key: str, shown: str | None) -> None:
    quoted = json.dumps(key if len(key) <= 40 else key[:40] + "...")
    problem = f"demand key {quoted} contains control character U+0007"
    cleaned = scrub_quoted(problem, [CANARY, LONG])
    assert cleaned == (problem if shown is None else f"demand key {shown} contains control character U+0007")
    assert CANARY[:8] not in cleaned and LONG[:8] not in cleaned


def _leaves_reference(value: object, depth: int) -> object:
    """Every leaf but null masked, shapes kept (what masking does under a fulfilment key)."""
    if depth > MAX_DEPTH:
        return MASK
    if isinstance(value, Mapping):
        return {k: _leaves_reference(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_leaves_reference(v, depth + 1) for v in value]
    return None if value is None else MASK


def _mask_reference(data: object, depth: int) -> object:
    """masking._mask as it was before it skipped scalars: a call for every value."""
    if depth > MAX_DEPTH:
        return MASK
    if isinstance(data, Mapping):
        changed: dict[Any, object] | None = None
        for key, value in data.items():
            if key in FULFILMENT_KEYS:
                new = _leaves_reference(value, depth + 1)
            else:
                new = _mask_reference(value, depth + 1)
            if new is not value:
                if changed is None:
                    changed = dict(data)
                changed[key] = new
        return data if changed is None else changed
    if isinstance(data, list | tuple):
        items = [_mask_reference(v, depth + 1) for v in data]
        if all(new is old for new, old in zip(items, data, strict=True)):
            return data
        return items
    return data


_JUNK = st.recursive(
    st.one_of(st.text(max_size=3), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.sampled_from([*sorted(FULFILMENT_KEYS), "a", "b"]), inner, max_size=3),
        # Another mapping type: masking tells dicts by their exact type and the rest by `Mapping`.
        st.dictionaries(st.sampled_from([*sorted(FULFILMENT_KEYS), "a"]), inner, max_size=3).map(
            lambda d: MappingProxyType(dict(d))
        ),
    ),
    max_leaves=10,
)


def _wrapped(depth: int, inner: object) -> object:
    for i in range(depth):
        inner = [inner, 1] if i % 2 else {"a": inner, "b": "x"}
    return inner


@settings(max_examples=300, deadline=None)
@given(data=st.builds(_wrapped, st.integers(0, MAX_DEPTH + 2), _JUNK))
def test_mask_payload_is_the_walk_that_calls_for_every_value(data: object) -> None:
    got, expected = mask_payload(data), _mask_reference(data, 0)
    assert got == expected
    assert (got is data) == (expected is data)
