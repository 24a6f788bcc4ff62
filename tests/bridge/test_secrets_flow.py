# SPDX-License-Identifier: Apache-2.0
"""secrets_flow.py: the secrets extension on 1.0 protobufs."""

from __future__ import annotations

import pytest
from a2a.types import Message, Part, Role, StreamResponse, Task, TaskState, TaskStatus, TaskStatusUpdateEvent
from google.protobuf.json_format import MessageToDict

from keybroker.core.bridge.secrets_flow import (
    DECLINED_TEXT,
    RESUME_TEXT,
    RuntimeDemand,
    client_fulfilled_keys,
    client_fulfilment_problem,
    inject_fulfilments,
    resume_message,
    runtime_demand,
    waiting_status,
)
from keybroker.core.errors import InvalidDemandError
from keybroker.core.models import SecretDemand, SecretValue
from tests.bridge.support import SECRETS_URI


def _message(metadata: dict[str, object] | None = None) -> Message:
    message = Message(role=Role.ROLE_USER, message_id="m", parts=[Part(text="hi")])
    if metadata is not None:
        message.metadata.update(metadata)
    return message


def test_inject_adds_values_next_to_the_clients_own_and_other_metadata() -> None:
    message = _message(
        {
            SECRETS_URI: {"secret_fulfillments": {"mine": {"secret": "client"}}, "other": 1},
            "unrelated": {"x": "y"},
        }
    )
    added = inject_fulfilments(message, {"mine": SecretValue("ours"), "new": SecretValue("v-new")})
    assert added == {"new"}
    data = MessageToDict(message.metadata)
    assert data[SECRETS_URI]["secret_fulfillments"] == {
        "mine": {"secret": "client"},
        "new": {"secret": "v-new"},
    }
    assert data[SECRETS_URI]["other"] == 1
    assert data["unrelated"] == {"x": "y"}


def test_inject_into_a_message_without_metadata_and_with_nothing() -> None:
    message = _message()
    assert inject_fulfilments(message, {}) == frozenset()
    assert not message.HasField("metadata")
    inject_fulfilments(message, {"k": SecretValue("v")})
    assert MessageToDict(message.metadata) == {SECRETS_URI: {"secret_fulfillments": {"k": {"secret": "v"}}}}


def test_client_fulfilled_keys_and_problems() -> None:
    assert client_fulfilled_keys(_message()) == frozenset()
    good = _message({SECRETS_URI: {"secret_fulfillments": {"a": {"secret": "x"}, "b": {"secret": "y"}}}})
    assert client_fulfilled_keys(good) == {"a", "b"}
    assert client_fulfilment_problem(good) is None
    assert client_fulfilment_problem(_message({SECRETS_URI: {"secret_demands": {}}})) is None
    for bad in ({"a": "bare"}, {"a": {"secret": 1}}, {"a": {}}, "text", [1]):
        problem = client_fulfilment_problem(_message({SECRETS_URI: {"secret_fulfillments": bad}}))
        assert problem is not None and "secret_fulfillments" in problem
        assert "bare" not in problem
    assert client_fulfilment_problem(_message({SECRETS_URI: "junk"})) is not None


def _auth_required(
    metadata: dict[str, object] | None, *, state: int = TaskState.TASK_STATE_AUTH_REQUIRED
) -> TaskStatus:
    message = Message(role=Role.ROLE_AGENT, message_id="d", task_id="T", context_id="C")
    if metadata is not None:
        message.metadata.update(metadata)
    return TaskStatus(state=state, message=message)  # type: ignore[arg-type]


def test_runtime_demand_from_a_status_update_and_from_a_task() -> None:
    status = _auth_required(
        {SECRETS_URI: {"secret_demands": {"b": {"name": "B"}, "a": {"name": "A", "description": "d"}}}}
    )
    update = StreamResponse(status_update=TaskStatusUpdateEvent(task_id="T", context_id="C", status=status))
    task = StreamResponse(task=Task(id="T", context_id="C", status=status))
    for event in (update, task):
        demand = runtime_demand(event)
        assert demand == RuntimeDemand("T", "C", (SecretDemand("a", "A", "d"), SecretDemand("b", "B", None)))


@pytest.mark.parametrize(
    "status",
    [
        _auth_required(None),
        _auth_required({"other": {"secret_demands": {"a": {}}}}),
        _auth_required({SECRETS_URI: {"secret_demands": {}}}),
        _auth_required(
            {SECRETS_URI: {"secret_demands": {"a": {"name": "A"}}}}, state=TaskState.TASK_STATE_INPUT_REQUIRED
        ),
        TaskStatus(state=TaskState.TASK_STATE_AUTH_REQUIRED),
    ],
)
def test_no_runtime_demand(status: TaskStatus) -> None:
    event = StreamResponse(status_update=TaskStatusUpdateEvent(task_id="T", context_id="C", status=status))
    assert runtime_demand(event) is None
    assert runtime_demand(StreamResponse(message=Message(message_id="m"))) is None


@pytest.mark.parametrize(
    "demands",
    [
        {"bad\u0000key": {"name": "x"}},
        {"k": {"name": 5}},
        {"k": "not an object"},
        "not a mapping",
        {"": {}},
        {"k" * 129: {}},
    ],
)
def test_malformed_runtime_demands_raise(demands: object) -> None:
    event = StreamResponse(
        status_update=TaskStatusUpdateEvent(
            task_id="T", context_id="C", status=_auth_required({SECRETS_URI: {"secret_demands": demands}})
        )
    )
    with pytest.raises(InvalidDemandError):
        runtime_demand(event)


def test_resume_message_keeps_both_ids_and_has_a_text_part() -> None:
    message = resume_message("T", "C", {"k": SecretValue("v")})
    assert (message.task_id, message.context_id, message.role) == ("T", "C", Role.ROLE_USER)
    assert [p.text for p in message.parts] == [RESUME_TEXT]
    assert MessageToDict(message.metadata)[SECRETS_URI] == {"secret_fulfillments": {"k": {"secret": "v"}}}
    assert resume_message("T", "C", {}).message_id != message.message_id


def test_a_resume_with_nothing_granted_says_so_with_an_empty_fulfilment_object() -> None:
    """Declined (PROTOCOL pitfall 27): the object is there, the key is not; the agent's fallback runs."""
    message = resume_message("T", "C", {})
    assert MessageToDict(message.metadata)[SECRETS_URI] == {"secret_fulfillments": {}}
    assert [p.text for p in message.parts] == [DECLINED_TEXT]


def test_waiting_status_says_what_it_waits_for() -> None:
    event = waiting_status(
        RuntimeDemand("T", "C", (SecretDemand("gh", "GitHub token"), SecretDemand("raw", "raw")))
    )
    assert (event.task_id, event.context_id) == ("T", "C")
    assert event.status.state == TaskState.TASK_STATE_WORKING
    text = event.status.message.parts[0].text
    assert "GitHub token (gh)" in text and text.endswith("raw")
