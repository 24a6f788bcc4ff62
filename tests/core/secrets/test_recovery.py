"""Rows a crash left between the vault and the catalog are settled at the next start."""

from __future__ import annotations

from pathlib import Path

import pytest

from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import VaultError, VaultLocked
from keybroker.core.models import AuditDecision, SecretRecord, SecretValue
from keybroker.core.secrets.recovery import repair
from keybroker.core.vault.vault import Vault, open_vault
from keybroker.wiring.services import Services, open_services
from tests.fakes import FakeClock

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


class LockedVault:
    """Wraps a memory vault: every call raises `VaultLocked` while `locked`, and counts the attempts."""

    def __init__(self, inner: Vault) -> None:
        self.inner = inner
        self.locked = True
        self.attempts = 0

    def __getattr__(self, name: str) -> object:
        attr = getattr(self.inner, name)
        if name not in {"get", "set", "delete", "exists"}:
            return attr

        def call(*args: object, **kwargs: object) -> object:
            if self.locked:
                self.attempts += 1
                raise VaultLocked("the vault is locked")
            return attr(*args, **kwargs)

        return call


def test_a_locked_vault_leaves_rows_for_later_without_failing(services: Services) -> None:
    orphan(services.catalog, "sec_f", "pending")
    orphan(services.catalog, "sec_g", "deleting")
    vault = LockedVault(services.vault)
    assert repair(services.catalog, vault, services.audit) == []  # type: ignore[arg-type]
    assert vault.attempts == 1  # stops at the first refusal: a locked vault may prompt on every call
    assert len(services.catalog.unsettled_secrets()) == 2
    vault.locked = False
    assert len(repair(services.catalog, vault, services.audit)) == 2  # type: ignore[arg-type]
    assert services.catalog.unsettled_secrets() == []


def test_services_open_over_a_locked_vault_with_unsettled_rows(tmp_path: Path, clock: FakeClock) -> None:
    # The reviewer's lock-out: after a write failed on a locked vault, every command failed (exit 4)
    # while repairing at start. Read-only commands must still work.
    environ = {"KEYBROKER_HOME": str(tmp_path / "home")}
    memory = open_vault("memory")
    svc = open_services(environ=environ, vault=memory, clock=clock)
    ready = svc.secrets.set("READY", SecretValue("v")).record
    orphan(svc.catalog, "sec_h", "pending")
    svc.catalog.close()
    locked = LockedVault(memory)
    again = open_services(environ=environ, vault=locked, clock=clock)  # type: ignore[arg-type]
    try:
        assert again.repairs == []
        assert again.secrets.list() == [ready]
        assert [e.decision for e in again.audit.events()] == [AuditDecision.CREATED]
        assert len(again.catalog.unsettled_secrets()) == 1
    finally:
        again.catalog.close()
        memory.close()


def test_a_vault_error_during_repair_is_not_raised(services: Services) -> None:
    orphan(services.catalog, "sec_i", "deleting")

    def broken(account: str) -> bool:
        raise VaultError("the vault entry is damaged")

    services.vault.delete = broken  # type: ignore[method-assign,assignment]
    assert repair(services.catalog, services.vault, services.audit) == []
    assert len(services.catalog.unsettled_secrets()) == 1
