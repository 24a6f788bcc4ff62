"""Rows a crash left between the vault and the catalog are settled at the next start."""

from __future__ import annotations

import pytest

from keybroker.core.catalog import Catalog
from keybroker.core.models import AuditDecision, SecretRecord, SecretValue
from keybroker.core.recovery import repair
from keybroker.core.services import Services

DEAD_PID = 2**22 + 12345  # above the default pid_max: never a live process


def orphan(catalog: Catalog, secret_id: str, state: str, pid: int = DEAD_PID) -> SecretRecord:
    rec = SecretRecord(secret_id=secret_id, key=f"key-{secret_id}", owner=None, created=1.0, updated=1.0)
    catalog.insert_secret(rec, state="pending")
    with catalog.transaction() as conn:
        conn.execute(
            "UPDATE secrets SET state = ?, state_pid = ?, state_since = ? WHERE secret_id = ?",
            (state, pid, catalog.clock.now(), secret_id),
        )
    return rec


def test_value_in_vault_but_record_pending_is_finished(services: Services) -> None:
    rec = orphan(services.catalog, "sec_a", "pending")
    services.vault.set("sec_a", SecretValue("v"))
    done = repair(services.catalog, services.vault, services.audit)
    assert len(done) == 1 and "finished storing" in done[0]
    assert services.catalog.find_secret(rec.key, None) is not None
    assert services.audit.events()[-1].decision is AuditDecision.REPAIRED


def test_record_pending_without_value_is_dropped(services: Services) -> None:
    rec = orphan(services.catalog, "sec_b", "pending")
    done = repair(services.catalog, services.vault, services.audit)
    assert "never reached the vault" in done[0]
    assert services.catalog.find_secret(rec.key, None) is None
    assert services.catalog.unsettled_secrets() == []


def test_interrupted_delete_is_finished(services: Services) -> None:
    orphan(services.catalog, "sec_c", "deleting")
    services.vault.set("sec_c", SecretValue("v"))
    repair(services.catalog, services.vault, services.audit)
    assert services.vault.get("sec_c") is None
    assert services.catalog.all_secret_ids() == []


def test_a_live_writer_is_left_alone(services: Services) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        orphan(services.catalog, "sec_d", "pending", pid=proc.pid)
        assert repair(services.catalog, services.vault, services.audit) == []
        assert len(services.catalog.unsettled_secrets()) == 1
    finally:
        proc.kill()
        proc.wait()
    assert len(repair(services.catalog, services.vault, services.audit)) == 1


@pytest.mark.parametrize("state", ["pending", "deleting"])
def test_stale_rows_of_a_reused_pid_are_repaired(services: Services, clock: object, state: str) -> None:
    import os

    orphan(services.catalog, "sec_e", state, pid=os.getppid())
    clock.advance(3600)  # type: ignore[attr-defined]
    assert len(repair(services.catalog, services.vault, services.audit)) == 1
