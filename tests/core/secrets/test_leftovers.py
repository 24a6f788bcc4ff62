# SPDX-License-Identifier: Apache-2.0
"""What counts as a leftover (a value no catalog row accounts for), and purge by the vault's own search."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keybroker.core.audit.head import HEAD_ACCOUNT
from keybroker.core.models import AuditDecision, SecretRecord, SecretValue
from keybroker.core.secrets.leftovers import Leftovers, find_leftovers, remove_leftovers
from keybroker.core.secrets.purge import purge_everything
from keybroker.core.vault.memory import MemoryKeyring
from keybroker.core.vault.vault import Vault
from keybroker.wiring.services import Services, open_services
from tests.core.vault.test_vault import ScriptedKeyring

TOKEN = "keybroker.api-token"


def _services(tmp_path: Path, backend: object) -> Services:
    vault = Vault(backend, service="keybroker", is_memory=False)  # type: ignore[arg-type]
    return open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=vault)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = _services(tmp_path, MemoryKeyring())
    yield svc
    svc.close()


def test_only_values_no_row_names_are_leftovers(services: Services) -> None:
    kept = services.secrets.set("KEPT", SecretValue("v")).record
    pending = SecretRecord(secret_id="sec_pending", key="P", owner=None, created=1.0, updated=1.0)
    services.catalog.insert_secret(pending, state="pending")  # a live writer's value on its way
    services.vault.set("sec_pending", SecretValue("p"))
    services.vault.set(TOKEN, SecretValue("t"))
    services.vault.set("sec_orphan", SecretValue("o"))
    for account in ("sec_orphan#1.0", "sec_orphan#1.1", f"{kept.secret_id}#2.0"):  # chunk entries
        services.vault._entries.backend.set_password("keybroker", account, "chunk")
    assert HEAD_ACCOUNT in (services.vault.accounts() or [])

    found = find_leftovers(services.catalog, services.vault, keep=(TOKEN,))
    assert found == Leftovers(True, ("sec_orphan", "sec_orphan#1.0", "sec_orphan#1.1"))
    assert found.values == 1
    assert remove_leftovers(services.catalog, services.vault, services.audit, found, keep=(TOKEN,)) == 1
    assert "sec_orphan" not in (services.vault.accounts() or [])
    assert services.vault.get(kept.secret_id) == SecretValue("v")
    assert [e.decision for e in services.audit.events()][-1] is AuditDecision.REPAIRED
    assert services.audit.verify().ok


def test_an_account_a_row_names_by_the_time_of_removal_is_kept(services: Services) -> None:
    services.vault.set("sec_late", SecretValue("v"))
    found = find_leftovers(services.catalog, services.vault)
    assert found.accounts == ("sec_late",)
    late = SecretRecord(secret_id="sec_late", key="L", owner=None, created=1.0, updated=1.0)
    services.catalog.insert_secret(late, state="ready")
    assert remove_leftovers(services.catalog, services.vault, services.audit, found) == 0
    assert services.vault.get("sec_late") == SecretValue("v")


def test_purge_removes_every_entry_the_search_finds_and_the_audit_log(services: Services) -> None:
    services.secrets.set("A", SecretValue("a"))
    services.vault.set("sec_orphan", SecretValue("o"))
    services.vault.set(TOKEN, SecretValue("t"))
    result = purge_everything(services, also=(TOKEN,))
    assert (result.secrets, result.entries, result.searched) == (1, 3, True)  # orphan, head, token
    assert services.vault.accounts() == []
    assert services.catalog.list_secrets() == [] and services.audit.count() == 0
    assert services.audit.verify().ok


def test_where_the_vault_cannot_be_searched_purge_removes_what_is_known(tmp_path: Path) -> None:
    backend = ScriptedKeyring()  # like keyring's macOS and Windows backends: no search
    svc = _services(tmp_path, backend)
    try:
        assert find_leftovers(svc.catalog, svc.vault) == Leftovers(listed=False)
        svc.secrets.set("A", SecretValue("a"))
        svc.vault.set(TOKEN, SecretValue("t"))
        result = purge_everything(svc, also=(TOKEN,))
        assert (result.secrets, result.entries, result.searched) == (1, 2, False)
        assert backend.store.accounts("keybroker") == []
    finally:
        svc.close()
