# SPDX-License-Identifier: Apache-2.0
"""json_cut.py cuts a JSON answer the way cutting.py cuts the same answer as a protobuf: the fast path
and the full path hand a client the same text, in 1.0 and 0.3 spelling; and an answer with nothing
to cut is left as it was (so the fast path passes the agent's own bytes on)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from a2a.compat.v0_3 import conversions
from a2a.types import Artifact, Message, Part, Role, Task, TaskState, TaskStatus
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
from google.protobuf.struct_pb2 import Struct, Value  # type: ignore[import-untyped]

from keybroker.core.bridge.cutting import clean_proto
from keybroker.core.bridge.forms import cut_list
from keybroker.core.bridge.json_cut import clean_json, json_task_states
from keybroker.core.models import MASK

VALUE = "Json-CANARY-31be07-R2468pq"
SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"
HALF = len(VALUE) // 2


def _text(text: str) -> Part:
    return Part(text=text)


def _data(payload: dict[str, Any]) -> Part:
    value = Value()
    value.struct_value.update(payload)
    return Part(data=value)


def _task(shape: str) -> Task:
    """A task whose history echoes the fulfilled message and whose answer holds VALUE in `shape`."""
    user = Message(role=Role.ROLE_USER, message_id="m1", parts=[_text("hi")])
    user.metadata.update({SECRETS_URI: {"secret_fulfillments": {"k": {"secret": VALUE}}}})
    parts: list[Part]
    artifacts: list[Artifact] = []
    status_meta = Struct()
    if shape == "split-around-data":
        parts = [_text("x " + VALUE[:HALF]), _data({"n": 1}), _text(VALUE[HALF:] + " y")]
    elif shape == "two-artifacts":
        parts = [_text("done")]
        artifacts = [
            Artifact(artifact_id="a1", parts=[_text("first " + VALUE[:HALF])]),
            Artifact(artifact_id="a2", parts=[_text(VALUE[HALF:] + " second")]),
        ]
    elif shape == "meta-key":
        parts = [_text("meta"), _data({VALUE: 1, "outer": {VALUE: True}})]
        status_meta.update({VALUE: "as a key"})
    elif shape == "raw":
        parts = [
            Part(raw=b"ab" + VALUE.encode()),
            Part(raw=VALUE.encode()[:HALF]),
            Part(raw=VALUE.encode()[HALF:]),
        ]
    elif shape == "forms":
        parts = [_text(VALUE.upper()), _text(base64.b64encode(b"u:" + VALUE.encode()).decode())]
    elif shape == "history-split":
        parts = [_text("done")]
        user2 = Message(role=Role.ROLE_AGENT, message_id="m2", parts=[_text("a " + VALUE[:HALF])])
        user3 = Message(role=Role.ROLE_AGENT, message_id="m3", parts=[_text(VALUE[HALF:] + " b")])
        status = Message(role=Role.ROLE_AGENT, message_id="m4", parts=parts)
        return Task(
            id="t1",
            context_id="c1",
            status=TaskStatus(state=TaskState.TASK_STATE_COMPLETED, message=status),
            history=[user, user2, user3],
        )
    else:
        parts = [_text("nothing given away")]
    status = Message(role=Role.ROLE_AGENT, message_id="m2", parts=parts)
    if status_meta.fields:
        status.metadata.CopyFrom(status_meta)
    return Task(
        id="t1",
        context_id="c1",
        status=TaskStatus(state=TaskState.TASK_STATE_COMPLETED, message=status),
        history=[user],
        artifacts=artifacts,
    )


SHAPES = ["split-around-data", "two-artifacts", "meta-key", "raw", "forms", "history-split", "plain"]


@pytest.mark.parametrize("shape", SHAPES)
def test_a_v10_task_is_cut_as_json_exactly_as_as_a_protobuf(shape: str) -> None:
    cut = cut_list([VALUE])
    task = _task(shape)
    as_json = {"task": MessageToDict(task)}
    clean_proto(task, cut)
    cleaned, changed = clean_json(copy.deepcopy(as_json), cut)
    assert cleaned == {"task": MessageToDict(task)}
    assert changed
    assert VALUE.lower() not in str(cleaned).lower()


@pytest.mark.parametrize("shape", SHAPES)
def test_a_v03_task_is_cut_as_json_exactly_as_as_a_protobuf(shape: str) -> None:
    cut = cut_list([VALUE])
    task = _task(shape)
    as_json = conversions.to_compat_task(task).model_dump(mode="json", by_alias=True, exclude_none=True)
    clean_proto(task, cut)
    expected = conversions.to_compat_task(task).model_dump(mode="json", by_alias=True, exclude_none=True)
    cleaned, changed = clean_json(copy.deepcopy(as_json), cut)
    assert cleaned == expected
    assert changed


def test_an_answer_with_nothing_to_mask_or_cut_is_left_as_it_was() -> None:
    task = _task("plain")
    task.history[0].ClearField("metadata")
    as_json = {"task": MessageToDict(task)}
    before = copy.deepcopy(as_json)
    cleaned, changed = clean_json(as_json, cut_list([VALUE]))
    assert not changed
    assert cleaned is as_json and cleaned == before


def test_a_fulfilment_is_masked_even_with_no_value_to_cut() -> None:
    cleaned, changed = clean_json({"task": MessageToDict(_task("plain"))}, cut_list([]))
    assert changed
    history = cleaned["task"]["history"][0]["metadata"][SECRETS_URI]
    assert history == {"secret_fulfillments": {"k": {"secret": MASK}}}


def test_a_value_ending_in_a_capital_sigma_is_cut_next_to_text_that_folds_a_character_at_a_time() -> None:
    # Every string is looked at in one joined text first: "İ" in another string once made that text
    # fold one character at a time, so the value's final sigma was a small one there and the value went out.
    value = "ΚΛΕΙΔΙ-7731-ΑΣ"
    answer = {"task": {"id": "t", "contextId": "c", "status": {"state": "completed"}, "note": "İ"}}
    answer["task"]["artifacts"] = [{"artifactId": "a", "parts": [{"data": {"echo": value}}]}]
    cleaned, changed = clean_json(answer, cut_list([value]))
    assert changed and cleaned["task"]["artifacts"][0]["parts"] == [{"data": {"echo": MASK}}]


def test_task_states_are_read_in_both_spellings() -> None:
    task = _task("plain")
    v10 = {"task": MessageToDict(task)}
    v03 = conversions.to_compat_task(task).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert json_task_states(v10) == [("t1", "c1", "TASK_STATE_COMPLETED")]
    assert json_task_states(v03) == [("t1", "c1", "completed")]
    assert json_task_states({"message": {"messageId": "m", "taskId": "t2", "contextId": "c2"}}) == [
        ("t2", "c2", "")
    ]
    assert json_task_states({"message": {"messageId": "m"}}) == []
