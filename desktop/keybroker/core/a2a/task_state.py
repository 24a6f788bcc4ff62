# SPDX-License-Identifier: Apache-2.0
"""A2A task states in either version's spelling (PROTOCOL.md pitfall 1): which ones end a task."""

from __future__ import annotations

from keybroker.core.models import TERMINAL_TASK_STATES

__all__ = ["terminal_task_state"]


def terminal_task_state(state: str) -> str | None:
    """The 0.3 name of a terminal A2A task state, in either version's spelling; None for any other.

    `completed`, `TASK_STATE_COMPLETED` -> `completed`; `auth-required`, `TASK_STATE_WORKING`,
    unknown names -> None.
    """
    name = state.strip().lower()
    name = name.removeprefix("task_state_").replace("_", "-")
    return name if name in TERMINAL_TASK_STATES else None
