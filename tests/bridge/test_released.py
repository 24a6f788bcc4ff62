# SPDX-License-Identifier: Apache-2.0
"""released.py: what the bridge remembers having released to an agent, bounded, forgotten on a lock."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import pytest

from keybroker.core.bridge.forms import fold, scrub_forms
from keybroker.core.bridge.ports import ReleaseHistory
from keybroker.core.bridge.released import KNOWN_LIMIT, Recall, ReleasedBook, ValueForms
from keybroker.core.bridge.run_state import RunCut
from keybroker.core.errors import KeybrokerError
from keybroker.core.models import SecretValue


def _value(i: int) -> SecretValue:
    return SecretValue(f"released-CANARY-{i:04d}")


def test_values_are_cut_in_every_form_and_remembered_once() -> None:
    forms = ValueForms()
    first = forms.add(_value(1))
    again = forms.add(SecretValue(_value(1).reveal()))
    assert first is not None and again is first
    assert len(forms) == 1
    assert set(forms.cut()) == set(scrub_forms(_value(1).reveal()))
    assert forms.add(SecretValue("abc")) is None  # too short to cut: not remembered
    assert len(forms) == 1


def test_only_the_most_recent_values_are_kept() -> None:
    forms = ValueForms(limit=3)
    for i in range(3):
        forms.add(_value(i))
    forms.add(_value(0))  # used again: the newest now
    forms.add(_value(3))  # pushes out the oldest, value 1
    cut = forms.cut()
    assert len(forms) == 3
    assert fold(_value(1).reveal()) not in cut
    assert all(fold(_value(i).reveal()) in cut for i in (0, 2, 3))


def test_the_cut_is_made_again_only_after_a_change() -> None:
    forms = ValueForms()
    forms.add(_value(1))
    cut = forms.cut()
    assert forms.cut() is cut
    forms.add(_value(1))  # known already
    assert forms.cut() is cut
    forms.add(_value(2))
    assert forms.cut() is not cut and fold(_value(2).reveal()) in forms.cut()


def test_an_entry_from_another_memory_is_shared_not_encoded_again() -> None:
    agent, run = ValueForms(limit=256), ValueForms()
    entry = agent.add(_value(1))
    assert entry is not None
    run.include(entry)
    agent.clear()
    assert len(agent) == 0 and agent.cut() == ()
    assert fold(_value(1).reveal()) in run.cut()  # a run keeps cutting its own values after a lock


def test_a_run_whose_values_the_agent_holds_cuts_with_the_agents_cut_and_makes_none_of_its_own() -> None:
    agent, run = ValueForms(limit=256), RunCut()
    agent.add(_value(9))
    for i in (1, 2):
        entry = agent.add(_value(i))
        assert entry is not None
        run.own.include(entry)
    assert run.with_known(agent) is agent.cut()
    assert run.own._cut is None  # the run's own cut was never made
    agent.add(_value(3))  # a value of another run: still the agent's cut, made again
    assert run.with_known(agent) is agent.cut() and fold(_value(3).reveal()) in agent.cut()


def test_a_run_cuts_its_own_values_when_the_agent_no_longer_holds_them() -> None:
    agent, run = ValueForms(limit=2), RunCut()
    for i in (1, 2):
        entry = agent.add(_value(i))
        assert entry is not None
        run.own.include(entry)
    agent.add(_value(3))  # pushes value 1 out of the agent's memory, not out of the run's
    cut = run.with_known(agent)
    assert all(fold(_value(i).reveal()) in cut for i in (1, 2, 3))
    assert run.with_known(agent) is cut  # merged once, kept while neither changes
    agent.clear()  # a lock
    cut = run.with_known(agent)
    assert all(fold(_value(i).reveal()) in cut for i in (1, 2))
    assert fold(_value(3).reveal()) not in cut


def test_reprs_name_no_value() -> None:
    book = ReleasedBook()
    forms = book.of("peer")
    entry = forms.add(_value(7))
    for text in (repr(book), repr(forms), repr(entry), repr(forms.cut()), str(forms.cut())):
        assert "CANARY" not in text
        assert not any(form in text for form in scrub_forms(_value(7).reveal()))


def test_the_book_keeps_one_memory_per_agent_and_a_lock_clears_them_all() -> None:
    book = ReleasedBook(limit=10)
    peer, other = book.of("peer"), book.of("other")
    assert book.of("peer") is peer
    peer.add(_value(1))
    other.add(_value(2))
    assert (book.count("peer"), book.count("other"), book.count("nobody")) == (1, 1, 0)
    done = threading.Event()

    def lock() -> None:  # the settings window locks on a worker thread
        book.clear()
        done.set()

    threading.Thread(target=lock).start()
    assert done.wait(5)
    assert (book.count("peer"), book.count("other")) == (0, 0)
    assert peer.cut() == () and other.cut() == ()
    peer.add(_value(3))
    assert book.of("peer") is peer and book.count("peer") == 1


# Recall: what was released before a restart or a lock ---------------------------------------


@dataclass(frozen=True)
class _Past:
    values: tuple[SecretValue, ...]
    complete: bool = True
    problem: str | None = None


class _History:
    """A `ReleaseHistory`: answers `past` (or raises `error`), counting the calls."""

    def __init__(self, past: _Past, error: Exception | None = None) -> None:
        self.past, self.error, self.calls = past, error, 0

    async def released_before(self, agent_slug: str, *, limit: int) -> _Past:
        self.calls += 1
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        return self.past


@pytest.mark.asyncio
async def test_recall_rebuilds_once_per_clear_and_refuses_nothing_when_complete() -> None:
    book = ReleasedBook()
    recall, forms = book.recall("peer"), book.of("peer")
    history = _History(_Past((_value(1), _value(2))))
    assert isinstance(history, ReleaseHistory)
    epochs = await asyncio.gather(*(recall.ensure(history, "peer") for _ in range(5)))
    assert history.calls == 1 and len(set(epochs)) == 1 and len(forms) == 2
    assert recall.refusal(("any-task",), "any-context") is None
    book.clear()  # a lock
    assert len(forms) == 0
    await recall.ensure(history, "peer")
    assert history.calls == 2 and len(forms) == 2
    assert "CANARY" not in repr(recall) and "complete" in repr(recall)


@pytest.mark.asyncio
async def test_an_incomplete_recall_refuses_ids_not_seen_since() -> None:
    forms = ValueForms()
    recall = Recall(forms)
    past = _Past((_value(1),), complete=False, problem="1 value(s) were replaced since")
    epoch = await recall.ensure(_History(past), "peer")
    problem = recall.refusal(("old-task",))
    assert problem is not None and "'old-task'" in problem and "replaced since" in problem
    assert "start a new task" in problem and "CANARY" not in problem
    assert "without a contextId" in str(recall.refusal((), "old-context"))
    recall.know(epoch, "new-task", "new-context")
    recall.know(epoch - 1, "stale-task")  # a run checked before a later clear adds nothing
    assert recall.refusal(("new-task",), "new-context") is None
    assert recall.refusal(("stale-task",)) is not None
    for i in range(KNOWN_LIMIT):
        recall.know(epoch, f"t{i}")
    assert recall.refusal(("new-task",)) is not None  # the oldest ids are forgotten first


@pytest.mark.asyncio
async def test_a_failing_history_or_none_at_all() -> None:
    failing = Recall(ValueForms())
    await failing.ensure(_History(_Past(()), error=KeybrokerError("the catalog is locked")), "peer")
    assert "could not be read again (the catalog is locked)" in str(failing.refusal(("old",)))
    unknown = Recall(ValueForms())
    await unknown.ensure(None, "peer")  # nothing to ask: nothing released before is known
    assert unknown.refusal(("old",)) is None
