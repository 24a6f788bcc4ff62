# SPDX-License-Identifier: Apache-2.0
"""Folding a followed stream into what a blocking send returns (handler.py, PROTOCOL pitfall 16).

Status updates move the previous status message into history and replace the status, artifact
updates append or replace artifacts (a2a-sdk's `append_artifact_to_task`), a later Task snapshot
replaces everything: the same rules as a2a-sdk's own `TaskManager`, without its task store.
"""

from __future__ import annotations

from a2a.server.events.event_queue import Event
from a2a.server.tasks.task_manager import append_artifact_to_task
from a2a.types import Message, StreamResponse, Task, TaskArtifactUpdateEvent, TaskStatusUpdateEvent
from a2a.utils.errors import InvalidAgentResponseError

__all__ = ["Collector", "stream_payload"]


def stream_payload(event: StreamResponse) -> Event:
    """The Task, Message, status or artifact update a `StreamResponse` carries."""
    kind = event.WhichOneof("payload")
    if kind == "task":
        return event.task
    if kind == "message":
        return event.message
    if kind == "status_update":
        return event.status_update
    if kind == "artifact_update":
        return event.artifact_update
    raise InvalidAgentResponseError("the agent sent an empty stream event")


class Collector:
    """Folds followed stream events into what a blocking send returns: the Task, or a Message."""

    def __init__(self) -> None:
        self.task: Task | None = None
        self.message: Message | None = None

    def _ensure(self, task_id: str, context_id: str) -> Task:
        if self.task is None:
            self.task = Task(id=task_id, context_id=context_id)
        return self.task

    def add(self, event: Event) -> None:
        """Apply one event (a later Task replaces the whole task, as in a2a-sdk's TaskManager)."""
        if isinstance(event, Task):
            self.task = event
        elif isinstance(event, Message):
            if self.task is None:
                self.message = event
            else:
                self.task.history.append(event)
        elif isinstance(event, TaskStatusUpdateEvent):
            task = self._ensure(event.task_id, event.context_id)
            if task.status.HasField("message"):
                task.history.append(task.status.message)
            if event.HasField("metadata"):
                task.metadata.MergeFrom(event.metadata)
            task.status.CopyFrom(event.status)
        elif isinstance(event, TaskArtifactUpdateEvent):
            append_artifact_to_task(self._ensure(event.task_id, event.context_id), event)

    def result(self, slug: str) -> Task | Message:
        """The folded Task (or the Message reply); an error when the agent sent neither."""
        if self.task is not None:
            return self.task
        if self.message is not None:
            return self.message
        raise InvalidAgentResponseError(f"agent {slug!r} ended without a task or a message")
