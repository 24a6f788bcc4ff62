# SPDX-License-Identifier: Apache-2.0
"""`keybroker send`: what it prints from the events of a run."""

from __future__ import annotations

from a2a.types import (
    Artifact,
    Message,
    Part,
    Role,
    StreamResponse,
    Task,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)

from keybroker.cli.send_cmd import Outcome, _absorb


def _text_message(text: str) -> Message:
    return Message(role=Role.ROLE_AGENT, message_id="m", parts=[Part(text=text)])


def test_a_final_status_repeating_the_answer_is_printed_once() -> None:
    task = Task(
        id="t",
        context_id="c",
        artifacts=[Artifact(artifact_id="a", parts=[Part(text="3 open issues")])],
        status=TaskStatus(state=TaskState.TASK_STATE_COMPLETED, message=_text_message("3 open issues")),
    )
    out = Outcome()
    assert _absorb(StreamResponse(task=task), out) == ["3 open issues"]
    assert out.state == "completed"


def test_a_status_that_adds_something_is_printed() -> None:
    out = Outcome()
    update = TaskStatusUpdateEvent(
        task_id="t",
        context_id="c",
        status=TaskStatus(state=TaskState.TASK_STATE_WORKING, message=_text_message("fetching issues")),
    )
    assert _absorb(StreamResponse(status_update=update), out) == ["fetching issues"]
