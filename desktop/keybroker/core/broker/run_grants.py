"""Grants given before a run has its ids, rebound to them when they are known.

A pre-flight prompt comes before the agent has created its task (and, for a new conversation, its
context), yet "this task" is the sensible answer. Such a grant is bound to a placeholder id for the run
(`keybroker-run:<run_id>`), which only requests of that same run carry, and rebound to the real task and
context ids as soon as the run reports them. A lock or a restart ends these grants like any other.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import replace

from keybroker.core.catalog.catalog import Catalog
from keybroker.core.models import Grant

#: Prefix of the placeholder task/context id a grant carries until its run's real id is known.
RUN_PLACEHOLDER = "keybroker-run:"


def placeholder(run_id: str) -> str:
    """The placeholder id of a run."""
    return f"{RUN_PLACEHOLDER}{run_id}"


class RunGrants:
    """Tracks placeholder-bound grants per run (bounded) and rebinds them in the catalog."""

    def __init__(self, catalog: Catalog, *, max_runs: int = 1024) -> None:
        self._catalog = catalog
        self._max_runs = max_runs
        self._runs: OrderedDict[str, list[str]] = OrderedDict()

    def remember(self, run_id: str, grants: Iterable[Grant]) -> None:
        """Note the grants of `run_id` that carry its placeholder."""
        mark = placeholder(run_id)
        ids = [g.grant_id for g in grants if mark in (g.task_id, g.context_id)]
        if not ids:
            return
        self._runs.setdefault(run_id, []).extend(ids)
        self._runs.move_to_end(run_id)
        while len(self._runs) > self._max_runs:
            self._runs.popitem(last=False)

    def bind(self, run_id: str, *, task_id: str | None = None, context_id: str | None = None) -> int:
        """Replace the run's placeholder by the ids given; returns how many grants changed."""
        grant_ids = self._runs.get(run_id)
        if not grant_ids or not (task_id or context_id):
            return 0
        mark = placeholder(run_id)
        changed = 0
        waiting: list[str] = []
        for grant_id in grant_ids:
            grant = self._catalog.find_grant(grant_id)
            if grant is None:
                continue
            new = grant
            if task_id and grant.task_id == mark:
                new = replace(new, task_id=task_id)
            if context_id and grant.context_id == mark:
                new = replace(new, context_id=context_id)
            if new != grant:
                self._catalog.add_grant(new)
                changed += 1
            if mark in (new.task_id, new.context_id):
                waiting.append(grant_id)
        if waiting:
            self._runs[run_id] = waiting
        else:
            del self._runs[run_id]
        return changed

    def forget(self, run_id: str) -> None:
        """Stop tracking a run (its grants stay)."""
        self._runs.pop(run_id, None)

    def clear(self) -> None:
        """Stop tracking every run (after a lock ended the grants)."""
        self._runs.clear()

    def __len__(self) -> int:
        return len(self._runs)
