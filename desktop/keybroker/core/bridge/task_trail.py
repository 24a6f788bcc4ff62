# SPDX-License-Identifier: Apache-2.0
"""Telling a `TaskWatch` broker what the bridge sees of tasks: ids a run learns, and task ends.

"This task" grants end when their task does (DESIGN §4): from a send's result, stream events,
`tasks/get`, `ListTasks` or a cancel, every terminal state (completed, failed, canceled, rejected)
the bridge forwards is reported once per run, in 0.3 spelling (core/a2a/task_state.py).
"""

from __future__ import annotations

import logging

from a2a.types import (
    ListTasksResponse,
    Message,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatusUpdateEvent,
)

from keybroker.core.a2a.task_state import terminal_task_state
from keybroker.core.bridge.ports import TaskWatch
from keybroker.core.bridge.run_state import RunState

__all__ = ["observe", "observe_states", "task_states"]

log = logging.getLogger("keybroker.bridge")


def task_states(event: object) -> list[tuple[str, str, str]]:
    """(task id, context id, state name) of each task `event` speaks of; state "" when it has none."""
    if isinstance(event, ListTasksResponse):
        return [item for task in event.tasks for item in task_states(task)]
    if isinstance(event, Task):
        task_id, context_id, state = event.id, event.context_id, event.status.state
    elif isinstance(event, TaskStatusUpdateEvent):
        task_id, context_id, state = event.task_id, event.context_id, event.status.state
    elif isinstance(event, Message | TaskArtifactUpdateEvent):
        return [(event.task_id, event.context_id, "")] if event.task_id else []
    else:
        return []
    try:
        name = TaskState.Name(state)
    except ValueError:  # a state number this SDK does not know: not one that ends a task
        name = ""
    return [(task_id, context_id, name)] if task_id else []


def observe(tasks: TaskWatch, slug: str, event: object, run: RunState | None) -> None:
    """Report the task ids `run` learns from `event` and the terminal states it carries.

    `run` is None for calls that are not a run (`tasks/get`, cancel, list): only ends are reported.
    A failing broker never breaks the forwarding: it is logged, and the grant's ceiling still holds.
    """
    observe_states(tasks, slug, task_states(event), run)


def observe_states(
    tasks: TaskWatch, slug: str, states: list[tuple[str, str, str]], run: RunState | None
) -> None:
    """`observe` for (task id, context id, state) found already (fast_path.py reads them from JSON)."""
    for task_id, context_id, state in states:
        try:
            if run is not None and not run.tasks.bound:
                run.tasks.bound = True
                tasks.bind_run(run.run_id, task_id=task_id, context_id=context_id or None)
            ended_as = terminal_task_state(state) if state else None
            if ended_as is None:
                continue
            if run is not None:
                if task_id in run.tasks.ended:
                    continue
                run.tasks.ended.add(task_id)
            tasks.task_ended(slug, task_id, state=ended_as, run_id=run.run_id if run is not None else None)
        except Exception as exc:
            log.warning("agent %r: task %s not followed: %s", slug, task_id, type(exc).__name__)
