# SPDX-License-Identifier: Apache-2.0
"""One writer per secret: in-process write locks, and row claims another real process holds."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from keybroker.core.catalog.catalog import Catalog
from keybroker.core.catalog.claims import STALE_AFTER_SECONDS, WriteLocks, identity
from keybroker.core.errors import SecretBusyError, UnknownSecretError
from keybroker.core.models import SecretRecord, SecretValue
from keybroker.core.secrets.store import SecretStore
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.conftest import subprocess_env
from tests.fakes import FakeClock

IDENT = identity("github", None, None)

# Claims the row named on the command line in the catalog at argv[1], says so, and holds it until
# its stdin closes: a second Keybroker process in the middle of a write.
HOLDER = """
import sys
from pathlib import Path
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.ports import SystemClock
class At:
    def now(self):
        return float(sys.argv[4])
catalog = Catalog(Path(sys.argv[1]), clock=At() if sys.argv[4] else SystemClock())
print(catalog.claim_secret(sys.argv[2], deleting=sys.argv[3] == "delete"), flush=True)
sys.stdin.read()
"""


def record(secret_id: str = "sec_a", key: str = "github") -> SecretRecord:
    return SecretRecord(secret_id=secret_id, key=key, owner=None, name=key, created=1.0, updated=1.0)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


class Holder:
    """Another process holding a claim on one secret row (made at `at` on a test's fake clock)."""

    def __init__(self, db: Path, secret_id: str, *, delete: bool = False, at: float | None = None) -> None:
        what = "delete" if delete else "replace"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db), secret_id, what, "" if at is None else str(at)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
        )
        assert self.proc.stdout is not None
        self.answer = self.proc.stdout.readline().strip()

    def exit(self) -> None:
        self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0


def test_a_row_another_live_process_claimed_is_busy_until_it_exits(services: Services) -> None:
    store: SecretStore = services.secrets
    stored = store.set("github", SecretValue("old-CANARY-1")).record
    holder = Holder(services.catalog.path, stored.secret_id)
    assert holder.answer == "claimed"
    try:
        with pytest.raises(SecretBusyError) as err:
            store.set("github", SecretValue("new-CANARY-2"))
        assert err.value.exit_code == 2 and "another Keybroker process" in err.value.message
        with pytest.raises(SecretBusyError):
            store.remove(stored)
        with pytest.raises(SecretBusyError):
            store.update(stored, value=SecretValue("new-CANARY-3"))
        # Nothing changed meanwhile, and the row stayed listed (a replace does not hide it).
        assert services.vault.get(stored.secret_id) == SecretValue("old-CANARY-1")
        assert [r.secret_id for r in store.list()] == [stored.secret_id]
    finally:
        holder.exit()
    # Its writer is gone: the claim is taken over.
    assert not store.set("github", SecretValue("new-CANARY-2")).created
    assert services.vault.get(stored.secret_id) == SecretValue("new-CANARY-2")
    store.remove(stored)
    assert store.list() == []


def test_a_create_meeting_a_row_another_process_is_writing_is_busy_and_stores_nothing(
    services: Services,
) -> None:
    store = services.secrets
    stored = store.set("github", SecretValue("old-CANARY-1")).record
    holder = Holder(services.catalog.path, stored.secret_id, delete=True)  # mid-delete: row `deleting`
    assert holder.answer == "claimed"
    try:
        assert services.catalog.find_secret("github", None) is None  # hidden while being deleted
        with pytest.raises(SecretBusyError):
            store.set("github", SecretValue("new-CANARY-2"))
        rows = services.catalog.query("SELECT secret_id, state FROM secrets")
        assert [tuple(r) for r in rows] == [(stored.secret_id, "deleting")]
    finally:
        holder.exit()


def test_a_claim_on_a_deleted_row_is_gone_and_a_remove_says_so(services: Services) -> None:
    store = services.secrets
    stored = store.set("github", SecretValue("v-CANARY")).record
    store.remove(stored)
    assert services.catalog.claim_secret(stored.secret_id) == "gone"
    with pytest.raises(UnknownSecretError, match="deleted meanwhile"):
        store.remove(stored)


def test_a_claim_older_than_the_stale_limit_is_taken_over(tmp_path: Path) -> None:
    clock = FakeClock()
    catalog = Catalog(tmp_path / "catalog.db", clock=clock)
    catalog.insert_secret(record(), state="ready")
    # A live pid (the test runner's parent) that has held the row for too long: presumed reused.
    with catalog.transaction() as conn:
        conn.execute(
            "UPDATE secrets SET state_pid = ?, state_since = ? WHERE secret_id = 'sec_a'",
            (1, clock.now()),
        )
    assert catalog.claim_secret("sec_a") == "busy"
    clock.advance(STALE_AFTER_SECONDS + 1)
    assert catalog.claim_secret("sec_a") == "claimed"
    catalog.release_claim("sec_a")
    assert catalog.query("SELECT state, state_pid FROM secrets")[0] == ("ready", None)


def test_claim_new_secret_refuses_an_identity_in_any_state(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db", clock=FakeClock())
    assert catalog.claim_new_secret(record("sec_a"))
    assert not catalog.claim_new_secret(record("sec_b"))  # the same key, owner and scheme
    assert catalog.query("SELECT secret_id, state FROM secrets")[0] == ("sec_a", "pending")
    assert catalog.claim_new_secret(record("sec_c", key="other"))


def test_write_locks_serialise_threads_of_one_identity_only() -> None:
    locks = WriteLocks()
    order: list[str] = []
    first_in, go = threading.Event(), threading.Event()

    def first() -> None:
        with locks.hold(IDENT):
            order.append("first in")
            first_in.set()
            go.wait()
            order.append("first out")

    def second() -> None:
        with locks.hold(IDENT):
            order.append("second in")

    a = threading.Thread(target=first)
    a.start()
    first_in.wait()
    with locks.hold(identity("slack", None, None)):  # another identity is not held up
        order.append("other")
    b = threading.Thread(target=second)
    b.start()
    while not _waiting(locks):  # `second` has come for the lock `first` holds
        time.sleep(0.001)
    go.set()
    a.join()
    b.join()
    assert order == ["first in", "other", "first out", "second in"]
    assert repr(locks) == "WriteLocks(held=0)"


def _waiting(locks: WriteLocks) -> bool:
    return any(slot.users > 1 for slot in locks._slots.values())


@pytest.mark.asyncio
async def test_on_the_event_loop_a_held_identity_is_busy_and_ahold_waits_for_it() -> None:
    locks = WriteLocks()
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with locks.hold(IDENT):
            held.set()
            release.wait()

    thread = threading.Thread(target=holder)
    thread.start()
    await asyncio.to_thread(held.wait)
    with pytest.raises(SecretBusyError), locks.hold(IDENT):  # never blocks the loop the holder may need
        pass
    entered = asyncio.Event()

    async def waiter() -> None:
        async with locks.ahold(IDENT):
            entered.set()

    task = asyncio.create_task(waiter())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not entered.is_set()
    release.set()
    await task
    thread.join()
    assert entered.is_set() and repr(locks) == "WriteLocks(held=0)"


@pytest.mark.asyncio
async def test_a_cancelled_ahold_leaves_nothing_held() -> None:
    locks = WriteLocks()
    with locks.hold(IDENT, identity("z", None, None)):
        task = asyncio.create_task(_enter(locks))
        for _ in range(3):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert repr(locks) == "WriteLocks(held=0)"
    async with locks.ahold(IDENT):
        pass


async def _enter(locks: WriteLocks) -> None:
    async with locks.ahold(IDENT):
        pass
