# SPDX-License-Identifier: Apache-2.0
"""The group commit's own thread (audit/commit_thread.py): one long-lived thread serves every loop, in order,
and neither a caller that stops waiting, a loop that closes, nor a job that kills it stops the next job."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from keybroker.core.audit import commit_thread
from keybroker.core.audit.commit_thread import THREAD_NAME, submit_to_commit_thread
from keybroker.core.audit.group import GroupCommit
from keybroker.core.audit.log import AuditLog
from keybroker.core.catalog.catalog import Catalog
from tests.core.audit.test_group import _entry
from tests.core.audit.test_log import MemoryHead
from tests.fakes import FakeClock

T = TypeVar("T")


def _where() -> str:
    return threading.current_thread().name


async def run_on_commit_thread(fn: Callable[[], T]) -> T:
    """`fn()` on the commit thread; its result or its exception, here (unanswered once cancelled)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: Exception | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    submit_to_commit_thread(fn, loop, settle)
    return await future


def test_jobs_from_several_loops_run_in_order_on_the_one_thread() -> None:
    seen: list[int] = []

    async def jobs(first: int) -> list[str]:
        names = []
        for n in range(first, first + 3):
            names.append(await run_on_commit_thread(lambda n=n: (seen.append(n), _where())[1]))
        return names

    names = asyncio.run(jobs(0)) + asyncio.run(jobs(3))
    assert set(names) == {THREAD_NAME}
    assert seen == list(range(6))
    assert commit_thread._thread is not None and commit_thread._thread.daemon


def test_an_exception_reaches_the_caller_and_the_thread_serves_on() -> None:
    async def main() -> str:
        with pytest.raises(ZeroDivisionError):
            await run_on_commit_thread(lambda: 1 / 0)
        return await run_on_commit_thread(_where)

    assert asyncio.run(main()) == THREAD_NAME


def test_a_caller_that_stops_waiting_and_a_closed_loop_do_not_stop_the_next_job() -> None:
    ran, go = threading.Event(), threading.Event()

    def slow() -> str:
        go.wait(5)
        ran.set()
        return "late"

    async def leave_early() -> None:
        waiter = asyncio.ensure_future(run_on_commit_thread(slow))
        await asyncio.sleep(0.05)
        waiter.cancel()  # the caller goes (its client went away); the job is the thread's now

    asyncio.run(leave_early())  # ... and its loop closes before the job ends
    go.set()
    assert ran.wait(5)
    assert asyncio.run(run_on_commit_thread(lambda: "next")) == "next"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the job's own doing
def test_a_job_that_ends_the_thread_is_followed_by_a_new_one() -> None:
    def fatal() -> None:
        raise SystemExit  # not an Exception: the thread ends, its caller is never answered

    async def main() -> str:
        gone = asyncio.ensure_future(run_on_commit_thread(fatal))
        first = commit_thread._thread
        assert first is not None
        await asyncio.to_thread(first.join, 5)
        assert not first.is_alive()
        gone.cancel()
        return await asyncio.wait_for(run_on_commit_thread(_where), 5)

    assert asyncio.run(main()) == THREAD_NAME


@pytest.mark.asyncio
async def test_group_commits_run_on_the_commit_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Catalog(tmp_path / "catalog.db", clock=FakeClock())
    log = AuditLog(catalog, MemoryHead())
    group = GroupCommit(log, catalog)
    threads: list[str] = []
    commit = group._commit

    def watched(batch: list[object]) -> None:
        threads.append(_where())
        commit(batch)  # type: ignore[arg-type]

    monkeypatch.setattr(group, "_commit", watched)
    answers = await asyncio.gather(*(group.append([_entry(n)]) for n in range(5)))
    assert all(a is not None for a in answers)
    assert threads and set(threads) == {THREAD_NAME}
    assert log.verify().ok
