"""Group commit (audit/group.py): concurrent releases share transactions, every event ends in the chain,
a release decided on a catalog that changed since is refused, and a full disk refuses every waiter."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from keybroker.core.audit.group import GroupCommit
from keybroker.core.audit.log import AuditLog
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import CatalogError
from keybroker.core.models import AuditDecision, SecretRecord
from tests.core.audit.test_log import MemoryHead
from tests.fakes import FakeClock


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.db", clock=FakeClock())


def _entry(n: int) -> dict[str, str | None]:
    return {
        "decision": AuditDecision.RELEASED.value,
        "agent": "peer",
        "key": f"k{n}",
        "secret_id": None,
        "scope": "always",
        "task_id": None,
        "context_id": None,
        "caller": None,
        "detail": "preflight",
    }


@pytest.mark.asyncio
async def test_a_burst_of_releases_shares_commits_and_the_chain_verifies(catalog: Catalog) -> None:
    head = MemoryHead()
    log = AuditLog(catalog, head)
    seen: list[int] = []
    log.subscribe(lambda e: seen.append(e.seq))
    group = GroupCommit(log, catalog)
    answers = await asyncio.gather(*(group.append([_entry(n), _entry(n + 1000)]) for n in range(40)))
    assert all(a is not None and len(a) == 2 for a in answers)
    assert log.count() == 80 and sorted(seen) == list(range(1, 81))
    assert 1 <= group.commits < 40, group.commits
    report = log.verify()
    assert report.ok, report.problems
    assert head.value == (80, report.head)
    # Each caller's own events, in order, and every event once.
    keys = [e.key for a in answers if a is not None for e in a]
    assert sorted(keys) == sorted([f"k{n}" for n in range(40)] + [f"k{n + 1000}" for n in range(40)])


@pytest.mark.asyncio
async def test_a_release_decided_before_the_catalog_changed_is_refused(catalog: Catalog) -> None:
    log = AuditLog(catalog, MemoryHead())
    group = GroupCommit(log, catalog)
    stamp = catalog.change_stamp()
    assert await group.append([_entry(1)], stamp=stamp) is not None
    assert catalog.change_stamp() == stamp  # its own commit changed nothing a decision reads
    # Another process writes (the CLI revoking a grant): data_version moves.
    other = sqlite3.connect(catalog.path)
    other.execute("CREATE TABLE IF NOT EXISTS scratch (x)")
    other.execute("INSERT INTO scratch VALUES (1)")
    other.commit()
    other.close()
    assert await group.append([_entry(2)], stamp=stamp) is None
    # And a write in this process (a revoke through the admin path) moves the counter.
    fresh = catalog.change_stamp()
    catalog.delete_grants(agent="nobody")
    assert await group.append([_entry(3)], stamp=fresh) is None
    assert [e.key for e in log.events()] == ["k1"]
    assert log.verify().ok


@pytest.mark.asyncio
async def test_a_full_disk_refuses_every_waiting_release_and_appends_nothing(catalog: Catalog) -> None:
    log = AuditLog(catalog, MemoryHead())
    pages = catalog.query("PRAGMA page_count")[0][0]
    catalog.query(f"PRAGMA max_page_count = {pages}")
    for n in range(100_000):
        try:
            log.append(AuditDecision.LISTED, detail=f"filler {n}")
        except CatalogError:
            break
    count = log.count()
    group = GroupCommit(log, catalog)
    waiting = (group.append([_entry(n)] * 3) for n in range(5))
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, CatalogError) for o in outcomes), outcomes
    assert log.count() == count
    assert log.verify().ok
    catalog.query("PRAGMA max_page_count = 1073741823")
    assert await group.append([_entry(9)]) is not None
    assert log.verify().ok


def _held(group: GroupCommit, monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Make `group`'s commits wait on the commit thread until the second event is set; the first is set
    when one starts."""
    started, release = threading.Event(), threading.Event()
    commit = group._commit

    def slow_commit(batch: list[object]) -> None:
        started.set()
        release.wait(5)
        commit(batch)  # type: ignore[arg-type]

    monkeypatch.setattr(group, "_commit", slow_commit)
    return started, release


@pytest.mark.asyncio
async def test_no_task_of_the_group_runs_while_a_batch_commits(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = GroupCommit(AuditLog(catalog, MemoryHead()), catalog)
    started, release = _held(group, monkeypatch)
    before = asyncio.all_tasks()
    waiter = asyncio.ensure_future(group.append([_entry(1)]))
    await asyncio.to_thread(started.wait, 5)
    assert asyncio.all_tasks() - before == {waiter}  # the caller's own, nothing else
    release.set()
    assert await asyncio.wait_for(waiter, 5) is not None


@pytest.mark.asyncio
async def test_a_caller_that_stops_waiting_is_left_out_of_the_next_batch_and_the_others_are_answered(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(catalog, MemoryHead())
    group = GroupCommit(log, catalog)
    started, release = _held(group, monkeypatch)
    first = asyncio.ensure_future(group.append([_entry(1)]))
    await asyncio.to_thread(started.wait, 5)
    queued = [asyncio.ensure_future(group.append([_entry(n)])) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    first.cancel()  # its client went away while its record was being written: that record may land
    queued[1].cancel()  # this one's was not started: it is not written
    release.set()
    answers = await asyncio.wait_for(asyncio.gather(queued[0], queued[2]), 5)
    assert [[e.key for e in a or ()] for a in answers] == [["k2"], ["k4"]]
    assert first.cancelled() and queued[1].cancelled()
    assert [e.key for e in log.events()] == ["k1", "k2", "k4"]
    assert log.verify().ok


def test_a_batch_whose_loop_closed_mid_commit_does_not_stop_the_next_loops_releases(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's loop closing while a batch is on the disk: a later loop (a restart in one process, the
    tests) commits its own releases, and nothing queued on the closed loop is written."""
    log = AuditLog(catalog, MemoryHead())
    group = GroupCommit(log, catalog)
    started, release = _held(group, monkeypatch)
    loop = asyncio.new_event_loop()
    left: list[asyncio.Future[object]] = []

    async def leave_two() -> None:
        left.append(asyncio.ensure_future(group.append([_entry(1)])))
        await asyncio.to_thread(started.wait, 5)
        left.append(asyncio.ensure_future(group.append([_entry(2)])))  # queued behind the batch on the disk
        await asyncio.sleep(0)

    loop.run_until_complete(leave_two())
    loop.close()  # without waiting for either
    release.set()
    assert asyncio.run(asyncio.wait_for(group.append([_entry(3)]), 5)) is not None
    assert [e.key for e in log.events()] in (["k1", "k3"], ["k3", "k1"])
    assert log.verify().ok


@pytest.mark.asyncio
async def test_one_batch_chains_its_accepted_releases_in_order_and_counts_only_their_uses(
    catalog: Catalog,
) -> None:
    """A batch whose middle release is refused: the others' events follow each other with no gap, in
    the order the callers queued them, and only their uses are counted."""
    for sid in ("s1", "s2"):
        catalog.insert_secret(SecretRecord(secret_id=sid, key=sid, owner=None), state="ready")
    log = AuditLog(catalog, MemoryHead())
    group = GroupCommit(log, catalog)
    stamp = catalog.change_stamp()
    stale = (stamp[0] - 1, stamp[1])
    answers = await asyncio.gather(
        group.append([_entry(1), _entry(2)], uses=["s1", "s2"], stamp=stamp),
        group.append([_entry(3)], uses=["s1"], stamp=stale),
        group.append([_entry(4)], uses=["s1"], stamp=stamp),
        group.append([_entry(5)], uses=["s2", "s2"]),
    )
    assert group.commits == 1  # one batch
    assert answers[1] is None
    assert [[e.key for e in a] for a in answers if a is not None] == [["k1", "k2"], ["k4"], ["k5"]]
    assert [(e.seq, e.key) for e in log.events()] == [(1, "k1"), (2, "k2"), (3, "k4"), (4, "k5")]
    assert [(r.secret_id, r.use_count) for r in catalog.list_secrets()] == [("s1", 2), ("s2", 3)]
    report = log.verify()
    assert report.ok, report.problems


@pytest.mark.asyncio
async def test_a_commit_that_cannot_start_refuses_its_callers_and_the_next_release_commits(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No thread to commit on (the process is out of them): the callers hear so, nothing is appended,
    and the group is not left waiting on a batch no one will answer."""
    from keybroker.core.audit import group as group_module

    log = AuditLog(catalog, MemoryHead())
    group = GroupCommit(log, catalog)
    real = group_module.submit_to_commit_thread
    calls: list[int] = []

    def failing(*args: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("can't start new thread")
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(group_module, "submit_to_commit_thread", failing)
    outcomes = await asyncio.gather(*(group.append([_entry(n)]) for n in range(3)), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes), outcomes
    assert log.count() == 0
    assert await asyncio.wait_for(group.append([_entry(9)]), 5) is not None
    assert [e.key for e in log.events()] == ["k9"]


@pytest.mark.asyncio
async def test_a_failing_listener_after_a_commit_still_answers_its_callers_and_the_next_batch(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(catalog, MemoryHead())
    group = GroupCommit(log, catalog)

    def broken(events: object) -> None:
        raise RuntimeError("the head writer could not start")

    monkeypatch.setattr(log, "published", broken)
    first = await asyncio.wait_for(group.append([_entry(1)]), 5)
    second = await asyncio.wait_for(asyncio.gather(group.append([_entry(2)]), group.append([_entry(3)])), 5)
    assert first is not None and all(a is not None for a in second)
    assert [e.key for e in log.events()] == ["k1", "k2", "k3"]


@pytest.mark.asyncio
async def test_a_caller_goes_on_before_the_listeners_hear_of_its_commit(catalog: Catalog) -> None:
    """At concurrency 1 the listeners (and the head writer) ran between the commit and the release they
    record: now the release goes on first, and they hear of it at the loop's next turn."""
    log = AuditLog(catalog, MemoryHead())
    order: list[str] = []
    log.subscribe(lambda e: order.append(f"listener {e.key}"))
    group = GroupCommit(log, catalog)

    async def release() -> None:
        await group.append([_entry(1)])
        order.append("caller")

    await asyncio.wait_for(release(), 5)
    await asyncio.sleep(0)
    assert order == ["caller", "listener k1"]
