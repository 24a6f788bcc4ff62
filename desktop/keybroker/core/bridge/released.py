# SPDX-License-Identifier: Apache-2.0
"""What the bridge released to each agent, kept in memory to cut it out of what the agent sends back.

An agent may echo a value in any later answer: `tasks/get`, a cancel, a resubscription, a later
message of the same task or conversation that did not carry the value again. So the bridge keeps,
per agent slug, every value it released to that agent (pre-flight and run-time fulfilments, card
credentials), with the texts that give each away (`forms.scrub_forms`, worked out once per value),
and cuts them from every answer of that agent (handler.py).

- Bounded: the most recent `RELEASED_LIMIT` distinct values per agent; an older one is forgotten.
- Memory only, and dropped when Keybroker locks (`ReleasedBook.clear`, wired to the broker's lock by
  app.py): a lock ends every grant short of *always* and forgets what is held in memory, this too.
- Rebuilt after a restart or a lock (`Recall`), before the agent's next answer goes out: the broker
  reads the values released to it before from the vault again (`ReleaseHistory`: the audit names
  them), so answers about earlier tasks are cut as before. Nothing is written anywhere for it. When
  that cannot be complete (a value replaced or removed since it was released, a vault that cannot be
  read), the bridge refuses to answer about tasks and conversations it has not seen since: run.py
  asks `Recall.refusal` before any upstream call.
- Values stay `SecretValue`s; entries are found by a keyed hash (a random per-process key), never
  by the plain text; reprs name counts only. Locks and clears may come from another thread (the
  settings window locks on a worker thread), hence the `threading.Lock`.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets as _random
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from keybroker.core.bridge.forms import MIN_SCRUB_LENGTH, Cut, scrub_forms
from keybroker.core.bridge.ports import ReleaseHistory
from keybroker.core.errors import KeybrokerError
from keybroker.core.models import SecretValue

__all__ = ["KNOWN_LIMIT", "RELEASED_LIMIT", "Recall", "ReleasedBook", "ReleasedEntry", "ValueForms"]

#: How many distinct values per agent are remembered (the most recent ones).
RELEASED_LIMIT = 256
#: How many task and conversation ids seen since the last rebuild are remembered per agent.
KNOWN_LIMIT = 4096
#: Entries are found by a hash keyed with this, so no plain value is a dict key.
_KEY = _random.token_bytes(32)


@dataclass(frozen=True, slots=True, repr=False)
class ReleasedEntry:
    """One value and its forms to cut (worked out once)."""

    value: SecretValue
    forms: tuple[str, ...]

    def __repr__(self) -> str:
        return f"ReleasedEntry({len(self.forms)} forms)"


def _digest(plain: str) -> bytes:
    return hashlib.blake2b(plain.encode("utf-8", "surrogatepass"), key=_KEY, digest_size=16).digest()


class ValueForms:
    """Distinct values, newest last, at most `limit` (None: no bound), and the `Cut` they make."""

    def __init__(self, limit: int | None = None) -> None:
        self._limit = limit
        self._entries: OrderedDict[bytes, ReleasedEntry] = OrderedDict()
        self._cut: Cut | None = Cut()
        self._guard = threading.Lock()
        #: Counts the clears: a `Recall` rebuilds when it changed.
        self.epoch = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"ValueForms({len(self._entries)} values)"

    def add(self, value: SecretValue) -> ReleasedEntry | None:
        """Remember `value` (as the newest); its entry, or None for a value too short to cut."""
        plain = value.reveal()
        if len(plain) < MIN_SCRUB_LENGTH:
            return None
        digest = _digest(plain)
        with self._guard:
            entry = self._entries.get(digest)
            if entry is not None:
                self._entries.move_to_end(digest)
                return entry
        return self._insert(digest, ReleasedEntry(value, scrub_forms(plain)))

    def include(self, entry: ReleasedEntry) -> None:
        """Remember a value whose entry another `ValueForms` made (its forms are not worked out again)."""
        self._insert(_digest(entry.value.reveal()), entry)

    def _insert(self, digest: bytes, entry: ReleasedEntry) -> ReleasedEntry:
        with self._guard:
            known = self._entries.get(digest)
            if known is not None:
                self._entries.move_to_end(digest)
                return known
            self._entries[digest] = entry
            if self._limit is not None:
                while len(self._entries) > self._limit:
                    self._entries.popitem(last=False)
            self._cut = None
        return entry

    def cut(self) -> Cut:
        """Every form of every value, ready to cut (made again only after a change)."""
        cut = self._cut
        if cut is None:
            with self._guard:
                cut = self._cut
                if cut is None:
                    forms = (f for entry in self._entries.values() for f in entry.forms)
                    cut = self._cut = Cut.of(forms)
        return cut

    def covers(self, other: ValueForms) -> bool:
        """Whether every value of `other` is one of these (so `cut()` holds all of `other`'s forms)."""
        with self._guard:
            return other._entries.keys() <= self._entries.keys()

    def clear(self) -> None:
        """Forget every value."""
        with self._guard:
            self._entries = OrderedDict()
            self._cut = Cut()
            self.epoch += 1


class Recall:
    """One agent's values released before this process started or last locked (module docstring).

    `ensure` rebuilds them into the agent's `ValueForms` once after each start and each clear; until
    the next one, `refusal` names a task or conversation the bridge must not answer about (one not
    seen since the rebuild, when the rebuild was incomplete), and `know` records those seen since.
    Everything but `ValueForms.clear` happens on the event loop.
    """

    def __init__(self, forms: ValueForms) -> None:
        self._forms = forms
        self._epoch: int | None = None
        self._problem: str | None = None
        self._known: OrderedDict[str, None] = OrderedDict()
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        state = "complete" if self._problem is None else "incomplete"
        state = "not rebuilt" if self._epoch is None else state
        return f"Recall({state}, {len(self._known)} ids known)"

    async def ensure(self, history: ReleaseHistory | None, slug: str) -> int:
        """Rebuild the values released to `slug` before, unless done since the last clear; returns the
        epoch rebuilt for. Without a `history`, nothing released before this bridge is known."""
        if self._epoch == self._forms.epoch:
            return self._epoch
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            epoch = self._forms.epoch
            if self._epoch == epoch:
                return epoch
            problem: str | None = None
            if history is not None:
                try:
                    past = await history.released_before(slug, limit=RELEASED_LIMIT)
                except Exception as exc:  # a failing broker: nothing released before can be cut
                    reason = exc.message if isinstance(exc, KeybrokerError) else type(exc).__name__
                    problem = f"what was released to it could not be read again ({reason})"
                else:
                    for value in past.values:
                        self._forms.add(value)
                    if not past.complete:
                        problem = past.problem or "not every value released to it is known"
            self._problem = problem
            self._known.clear()
            self._epoch = epoch
            return epoch

    def refusal(self, tasks: Iterable[str] = (), context: str = "") -> str | None:
        """Why the bridge must not answer about these ids, or None when it may."""
        if self._problem is None:
            return None
        for kind, ident in [*(("task", t) for t in tasks), ("conversation", context)]:
            if ident and ident not in self._known:
                return (
                    f"{kind} {ident!r} is from before Keybroker last restarted or locked, and "
                    f"{self._problem}: the bridge could not cut those values from the agent's answer, "
                    f"so it does not pass it on (start a new task"
                    f"{', without a contextId' if kind == 'conversation' else ''})"
                )
        return None

    def know(self, epoch: int, *ids: str) -> None:
        """Ids seen since the rebuild of `epoch` (a run started before a later clear adds none)."""
        if epoch != self._epoch:
            return
        for ident in ids:
            if ident:
                self._known[ident] = None
                self._known.move_to_end(ident)
        while len(self._known) > KNOWN_LIMIT:
            self._known.popitem(last=False)


class ReleasedBook:
    """A `ValueForms` per agent slug (see the module docstring)."""

    def __init__(self, limit: int = RELEASED_LIMIT) -> None:
        self._limit = limit
        self._agents: dict[str, ValueForms] = {}
        self._recalls: dict[str, Recall] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"ReleasedBook({len(self._agents)} agents)"

    def of(self, slug: str) -> ValueForms:
        """The values released to agent `slug` (the same object for as long as the book lives)."""
        with self._guard:
            forms = self._agents.get(slug)
            if forms is None:
                forms = self._agents[slug] = ValueForms(self._limit)
            return forms

    def recall(self, slug: str) -> Recall:
        """What agent `slug` was released before this process, or a lock (one per slug)."""
        forms = self.of(slug)
        with self._guard:
            recall = self._recalls.get(slug)
            if recall is None:
                recall = self._recalls[slug] = Recall(forms)
            return recall

    def count(self, slug: str) -> int:
        """How many values agent `slug` was released and are still remembered."""
        forms = self._agents.get(slug)
        return 0 if forms is None else len(forms)

    def clear(self) -> None:
        """Keybroker locked: forget every value of every agent."""
        with self._guard:
            agents = list(self._agents.values())
        for forms in agents:
            forms.clear()
