# SPDX-License-Identifier: Apache-2.0
"""What one bridged request has done so far: a few small records, memory only (run.py reads them).

A *run* is one client request: a send or a stream (with every resume it takes), or one unary call
(`tasks/get`, cancel, list, resubscribe). Its state is split by concern so each part says what it is:

- `RunSecrets`: secret demands (Agent Stack secrets extension): what went in, what the user declined;
- `RunAuth`: the card credentials (API key, bearer) sent with each upstream request;
- `RunTasks`: what the run told a `TaskWatch` broker (ids bound, tasks ended);
- `RunCut`: every value this run released or sent, to cut from what comes back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keybroker.core.a2a.credentials import Credentials
from keybroker.core.bridge.forms import Cut, merge_cuts
from keybroker.core.bridge.released import ValueForms
from keybroker.core.models import SecretValue

if TYPE_CHECKING:  # a2a-sdk is imported only once a bridged request needs it (app.py)
    from a2a.server.context import ServerCallContext

__all__ = ["RunAuth", "RunCut", "RunSecrets", "RunState", "RunTasks"]

#: How many times one run may be resumed with secrets before the bridge hands the demand over.
MAX_RESUMES = 8


@dataclass
class RunSecrets:
    """The secrets extension in this run."""

    #: Keys the client fulfilled itself: passed through, never prompted for.
    client_keys: frozenset[str] = frozenset()
    #: Values the bridge put in (pre-flight or on resume), by key.
    injected: dict[str, SecretValue] = field(default_factory=dict)
    #: Keys declined (by the user, a rule or a timeout): not asked again in this run.
    declined: set[str] = field(default_factory=set)
    #: Keys already answered at run time: not asked for again.
    answered: set[str] = field(default_factory=set)
    #: Keys the task was resumed without (declined, or asked for again): a demand repeating only
    #: these goes to the client.
    resumed_without: set[str] = field(default_factory=set)
    resumes: int = 0

    def skip(self) -> set[str]:
        """Keys a run-time demand must not ask for again."""
        return self.declined | self.answered | self.client_keys

    @property
    def exhausted(self) -> bool:
        """True once the run has been resumed as often as it may."""
        return self.resumes >= MAX_RESUMES


@dataclass
class RunAuth:
    """The card credentials of this run: looked up once, refreshed at most once."""

    current: Credentials | None = None
    checked: bool = False
    retried: bool = False


@dataclass
class RunTasks:
    """What this run reported to a `TaskWatch` broker."""

    bound: bool = False
    ended: set[str] = field(default_factory=set)


@dataclass
class RunCut:
    """Every value this run released or sent (fulfilments, credentials), even after a lock."""

    own: ValueForms = field(default_factory=ValueForms)
    _merged: tuple[Cut, Cut, Cut] | None = field(default=None, init=False, repr=False)

    def with_known(self, known: ValueForms) -> Cut:
        """This run's values and `known`'s (the agent's), in one `Cut` (made again only after a change).

        A run's values are nearly always among the agent's too (`BridgeRun.remember` adds them to
        both): then the agent's cut is the answer, and the run's own is never made."""
        known_cut = known.cut()
        if not self.own or known.covers(self.own):
            return known_cut
        own = self.own.cut()
        merged = self._merged
        if merged is not None and merged[0] is known_cut and merged[1] is own:
            return merged[2]
        cut = merge_cuts(known_cut, own)
        self._merged = (known_cut, own, cut)
        return cut


@dataclass
class RunState:
    """One client request's state (see the module docstring)."""

    context: ServerCallContext
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    secrets: RunSecrets = field(default_factory=RunSecrets)
    auth: RunAuth = field(default_factory=RunAuth)
    tasks: RunTasks = field(default_factory=RunTasks)
    cut: RunCut = field(default_factory=RunCut)
    #: The calling process, once looked up (`caller_known`): looked up only when a value is released.
    caller: str | None = None
    caller_known: bool = False
