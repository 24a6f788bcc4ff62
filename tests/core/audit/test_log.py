"""The hash-chained audit log: every kind of tampering is caught, appends never fork the chain."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from keybroker.core.audit.log import GENESIS, AuditLog, event_hash
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import VaultLocked
from keybroker.core.models import AuditDecision
from tests.fakes import FakeClock


class MemoryHead:
    def __init__(self) -> None:
        self.value: tuple[int, str] | None = None
        self.lock = threading.Lock()

    def read(self) -> tuple[int, str] | None:
        return self.value

    def write(self, count: int, head: str) -> None:
        self.value = (count, head)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.db", clock=FakeClock())


@pytest.fixture
def head() -> MemoryHead:
    return MemoryHead()


@pytest.fixture
def log(catalog: Catalog, head: MemoryHead) -> AuditLog:
    audit = AuditLog(catalog, head)
    for i in range(5):
        audit.append(AuditDecision.RELEASED, agent="demo", key=f"k{i}", secret_id=f"s{i}", scope="once")
    return audit


def test_intact_chain_verifies(log: AuditLog, head: MemoryHead) -> None:
    report = log.verify()
    assert report.ok, report.problems
    assert report.count == 5
    assert head.value == (5, report.head)


def test_first_event_links_to_genesis_and_hashes_cover_fields(log: AuditLog) -> None:
    first = log.events()[0]
    assert first.prev_hash == GENESIS
    fields = first.to_json()
    assert event_hash(fields) == first.hash
    fields["key"] = "other"
    assert event_hash(fields) != first.hash


def test_edited_event_is_caught(log: AuditLog, catalog: Catalog) -> None:
    with catalog.transaction() as conn:
        conn.execute("UPDATE audit SET decision = 'denied' WHERE seq = 3")
    report = log.verify()
    assert not report.ok
    assert any("event 3" in p and "edited" in p for p in report.problems)


def test_deleted_event_is_caught(log: AuditLog, catalog: Catalog) -> None:
    with catalog.transaction() as conn:
        conn.execute("DELETE FROM audit WHERE seq = 2")
    report = log.verify()
    assert not report.ok
    assert any("missing" in p or "deleted" in p for p in report.problems)


def test_reordered_events_are_caught(log: AuditLog, catalog: Catalog) -> None:
    with catalog.transaction() as conn:
        conn.execute("UPDATE audit SET seq = 100 WHERE seq = 2")
        conn.execute("UPDATE audit SET seq = 2 WHERE seq = 3")
        conn.execute("UPDATE audit SET seq = 3 WHERE seq = 100")
    report = log.verify()
    assert not report.ok


def test_truncated_end_is_caught_by_the_head(log: AuditLog, catalog: Catalog) -> None:
    with catalog.transaction() as conn:
        conn.execute("DELETE FROM audit WHERE seq = 5")
    report = log.verify()
    assert not report.ok
    assert any("removed from the end" in p for p in report.problems)


def test_an_event_deleted_from_the_middle_is_not_laundered_by_the_next_heads(
    catalog: Catalog, head: MemoryHead
) -> None:
    """Both head writers count by the newest event's number (one look-up, where `count(*)` read the
    whole table at every release): a deletion before the next release stays visible in the head too."""
    audit = AuditLog(catalog, head)
    deferred = AuditLog(Catalog(catalog.path, clock=FakeClock()), head, deferred_head=True)
    for i in range(5):
        audit.append(AuditDecision.RELEASED, key=f"k{i}")
    with catalog.transaction() as conn:
        conn.execute("DELETE FROM audit WHERE seq = 2")
    audit.append(AuditDecision.RELEASED, key="after")
    assert head.value is not None and head.value[0] == 6
    deferred.append(AuditDecision.RELEASED, key="later")
    assert deferred.flush(10)
    assert head.value is not None and head.value[0] == 7
    report = audit.verify()
    assert not report.ok
    assert any("event 3: expected sequence number 2" in p for p in report.problems)
    assert "the vault's head says 7 events, the log has 6 (events were removed before the newest one)" in (
        report.problems
    )
    deferred.close()


def test_everything_deleted_is_caught(log: AuditLog, catalog: Catalog) -> None:
    with catalog.transaction() as conn:
        conn.execute("DELETE FROM audit")
    assert not log.verify().ok


def test_missing_head_fails_unless_session_only(catalog: Catalog) -> None:
    AuditLog(catalog, None).append(AuditDecision.CREATED, key="k")
    empty = MemoryHead()
    assert not AuditLog(catalog, empty).verify().ok
    report = AuditLog(catalog, empty, head_required=False).verify()
    assert report.ok and report.warnings


def test_concurrent_appends_from_two_connections_keep_one_chain(catalog: Catalog, head: MemoryHead) -> None:
    other = Catalog(catalog.path, clock=FakeClock())
    logs = [AuditLog(catalog, head), AuditLog(other, head)]

    def work(log: AuditLog) -> None:
        for i in range(40):
            log.append(AuditDecision.RELEASED, key=f"k{i}")

    threads = [threading.Thread(target=work, args=(lg,)) for lg in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = logs[0].verify()
    assert report.ok, report.problems
    assert report.count == 80


def test_filters(log: AuditLog, catalog: Catalog) -> None:
    log.append(AuditDecision.DENIED, agent="other", key="zzz")
    assert [e.agent for e in log.events(agent="other")] == ["other"]
    assert [e.key for e in log.events(search="zzz")] == ["zzz"]
    assert len(log.events(limit=2)) == 2
    assert log.events(limit=2)[-1].key == "zzz"
    assert log.events(since=catalog.clock.now() + 1) == []


class SlowHead(MemoryHead):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, count: int, head: str) -> None:
        import time

        time.sleep(0.05)
        self.writes += 1
        super().write(count, head)


def test_deferred_head_does_not_block_appends_and_coalesces(catalog: Catalog) -> None:
    import time

    head = SlowHead()
    audit = AuditLog(catalog, head, deferred_head=True)
    started = time.perf_counter()
    for i in range(20):
        audit.append(AuditDecision.RELEASED, key=f"k{i}")
    elapsed = time.perf_counter() - started
    assert elapsed < 20 * 0.05  # appends did not wait for 20 slow head writes
    assert audit.flush(10)
    assert head.value is not None and head.value[0] == 20
    assert head.writes < 20  # bursts were coalesced
    report = audit.verify()
    assert report.ok, report.problems
    audit.close()


def test_deferred_head_sees_other_writers(catalog: Catalog, head: MemoryHead) -> None:
    other = AuditLog(Catalog(catalog.path, clock=FakeClock()), head)  # synchronous writer elsewhere
    deferred = AuditLog(catalog, head, deferred_head=True)
    deferred.append(AuditDecision.RELEASED, key="a")
    other.append(AuditDecision.RELEASED, key="b")
    deferred.append(AuditDecision.RELEASED, key="c")
    assert deferred.flush(10)
    assert deferred.verify().ok
    assert head.value is not None and head.value[0] == 3
    deferred.close()


def test_listeners_hear_every_append_and_cannot_break_it(catalog: Catalog, head: MemoryHead) -> None:
    audit = AuditLog(catalog, head)
    heard: list[str] = []
    audit.subscribe(lambda e: heard.append(e.decision.value))

    def broken(_: object) -> None:
        raise RuntimeError("boom")

    audit.subscribe(broken)
    audit.append(AuditDecision.CREATED, key="k")
    audit.append(AuditDecision.DELETED, key="k")
    assert heard == ["created", "deleted"]
    assert audit.verify().ok


class LockedHead(MemoryHead):
    def read(self) -> tuple[int, str] | None:
        raise VaultLocked("the vault is locked; could not read 'keybroker.audit-head'")


def test_verify_over_a_locked_vault_is_a_vault_error_not_a_broken_chain(catalog: Catalog) -> None:
    writer = AuditLog(catalog, MemoryHead())
    writer.append(AuditDecision.CREATED, key="k")
    with pytest.raises(VaultLocked) as info:
        AuditLog(catalog, LockedHead()).verify()
    assert info.value.exit_code == 4


def _levels_at_commit(statements: list[str], level: str) -> list[str]:
    """The `synchronous` level each COMMIT in `statements` ran under, `level` the one before them."""
    levels: list[str] = []
    for statement in statements:
        if statement.startswith("PRAGMA synchronous="):
            level = statement.partition("=")[2]
        elif statement == "COMMIT":
            levels.append(level)
    return levels


def test_events_that_let_a_value_out_are_synced_to_the_disk_before_append_returns(
    catalog: Catalog, head: MemoryHead
) -> None:
    audit = AuditLog(catalog, head)
    seen: list[str] = []
    catalog._conn.set_trace_callback(seen.append)
    try:
        # `signed_in`: an agent's own sign-in (Agent Stack's OAuth extension) hands the code over next.
        lets_out = (AuditDecision.RELEASED, AuditDecision.REVEALED, AuditDecision.SIGNED_IN)
        order = (AuditDecision.LISTED, *lets_out, AuditDecision.LISTED, AuditDecision.RELEASED)
        for decision in order:
            audit.append(decision, agent="demo", key="k")
    finally:
        catalog._conn.set_trace_callback(None)
    # The rest keep WAL's NORMAL (no sync per commit).
    assert _levels_at_commit(seen, "NORMAL") == [
        "NORMAL" if decision is AuditDecision.LISTED else "FULL" for decision in order
    ]
    # Set only when it changes: three durable commits in a row set FULL once (issue 16).
    toggles = [s for s in seen if s.startswith("PRAGMA synchronous")]
    assert toggles == [
        "PRAGMA synchronous=FULL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA synchronous=FULL",
    ]
    assert catalog.query("PRAGMA synchronous")[0][0] == 2  # FULL: the last commit was durable


class KeyringHead(MemoryHead):
    """A head store that takes as long as gnome-keyring does to write (~3 ms here) and counts writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[float] = []

    def write(self, count: int, head: str) -> None:
        import time

        time.sleep(0.003)
        self.writes.append(time.monotonic())
        super().write(count, head)


def test_sustained_releases_write_the_vault_head_about_once_a_second_not_once_each(catalog: Catalog) -> None:
    """A bridge releasing a value every few ms wrote the OS vault (a D-Bus round trip, ~0.8 ms of the
    app's CPU and more of gnome-keyring's) after nearly every one: the writes are paced now, and the
    newest head still lands without anyone asking."""
    import time

    head = KeyringHead()
    audit = AuditLog(catalog, head, deferred_head=True)
    started = time.monotonic()
    appended = 0
    while time.monotonic() - started < 1.5:
        audit.append(AuditDecision.RELEASED, key=f"k{appended}")
        appended += 1
        time.sleep(0.003)
    assert appended > 100
    assert len(head.writes) <= 4, len(head.writes)  # once at the start, then about once a second
    gaps = [b - a for a, b in zip(head.writes, head.writes[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps
    deadline = time.monotonic() + 3
    while (head.value is None or head.value[0] != appended) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert head.value is not None and head.value[0] == appended  # the newest, unasked
    report = audit.verify()
    assert report.ok, report.problems
    audit.close()


def test_flush_and_close_write_the_newest_head_at_once(catalog: Catalog) -> None:
    import time

    head = KeyringHead()
    audit = AuditLog(catalog, head, deferred_head=True)
    audit.append(AuditDecision.RELEASED, key="first")
    assert audit.flush(10)
    audit.append(AuditDecision.RELEASED, key="second")  # within the pace's second: not yet due
    started = time.monotonic()
    assert audit.flush(10)
    assert time.monotonic() - started < 0.5
    assert head.value is not None and head.value[0] == 2
    audit.append(AuditDecision.RELEASED, key="third")
    started = time.monotonic()
    audit.close()
    assert time.monotonic() - started < 0.5
    assert head.value is not None and head.value[0] == 3


def test_a_head_behind_an_intact_log_is_a_warning_not_tampering(log: AuditLog, head: MemoryHead) -> None:
    """The running app writes the head within about a second of a release (paced): a verify from the
    CLI meanwhile, or after a crash, finds the head a few events behind, all of them chained on it."""
    assert head.value is not None
    behind = head.value
    log.append(AuditDecision.RELEASED, key="after-the-head")
    log.append(AuditDecision.RELEASED, key="and-another")
    head.value = behind  # as if the paced writer had not caught up yet
    report = log.verify()
    assert report.ok, report.problems
    assert report.warnings == (
        "the vault's head is 2 events behind the log (the running app writes it within "
        "about a second of a release)",
    )


def test_a_head_behind_that_matches_no_event_of_the_log_is_tampering(log: AuditLog, head: MemoryHead) -> None:
    assert head.value is not None
    count, _ = head.value
    log.append(AuditDecision.RELEASED, key="after-the-head")
    head.value = (count, "0" * 64)  # an event it counts is not the one the head was written for
    report = log.verify()
    assert not report.ok
    assert f"the vault's head says {count} events, the log has {count + 1}" in report.problems


def test_a_flush_hurries_one_write_and_does_not_unpace_the_releases_after_it(catalog: Catalog) -> None:
    """A flush (the app's own verify, the settings window's) asks for the newest head now: one write, not
    an end to the pace while releases go on after it."""
    import time

    head = KeyringHead()
    audit = AuditLog(catalog, head, deferred_head=True)
    audit.append(AuditDecision.RELEASED, key="first")
    assert audit.flush(10)
    time.sleep(0.05)  # the writer is idle
    assert audit.flush(10)  # nothing waits to be written: nothing to hurry
    before = len(head.writes)
    started = time.monotonic()
    flushed = False
    n = 0
    while time.monotonic() - started < 1.5:
        audit.append(AuditDecision.RELEASED, key=f"k{n}")
        n += 1
        if not flushed and time.monotonic() - started > 0.5:
            audit.flush(0.01)  # mid-burst: one write now (it cannot wait for the end of the burst)
            flushed = True
        time.sleep(0.001)  # faster than a head write: the writer is never idle
    # Paced (about one a second) but for the hurried one: not a write per release.
    assert len(head.writes) - before <= 5, len(head.writes) - before
    assert audit.flush(10) and head.value is not None and head.value[0] == n + 1
    audit.close()
