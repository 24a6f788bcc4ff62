# SPDX-License-Identifier: Apache-2.0
"""Values left in the vault without a catalog record: `doctor` finds them by searching the vault,
`doctor --fix` removes them, and `purge` removes everything Keybroker put in the vault.

The leftovers are what racing writes used to leave (issue 12): values Keybroker stored under
`sec_...` accounts whose rows are gone, written here through Keybroker's own vault onto the rig's
real Secret Service.
"""

from __future__ import annotations

import json
import uuid

import pytest

from keybroker import VAULT_SERVICE
from keybroker.core.audit.head import HEAD_ACCOUNT
from keybroker.core.models import SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.system.api_token import TOKEN_ACCOUNT
from tests.conftest import RunCli
from tests.vault import secret_service as rig

pytestmark = pytest.mark.secret_service

CANARY = "leftover-CANARY-5b0e"


def plant(count: int, *, chunked: bool = False) -> list[str]:
    """Values in the vault under ids no catalog row names (what the PUT/DELETE race left)."""
    accounts = [f"sec_{uuid.uuid4().hex[:20]}" for _ in range(count)]
    limit = 512 if chunked else None
    with open_vault("system") as vault:
        if limit is not None:
            vault._entries.limit = limit  # stored as Windows would store it: in chunks
        for account in accounts:
            vault.set(account, SecretValue(CANARY * (60 if chunked else 1)))
    return accounts


def secret_id(kb: RunCli, key: str) -> str:
    listed = json.loads(kb("secrets", "list", "--json").stdout)
    return next(str(s["secret_id"]) for s in listed if s["key"] == key)


def test_doctor_reports_values_without_a_record_and_fix_removes_only_those(kb: RunCli) -> None:
    assert kb("secrets", "set", "KEPT", stdin="kept-value").returncode == 0
    kept = secret_id(kb, "KEPT")
    orphans = plant(2) + plant(1, chunked=True)
    assert set(orphans) <= set(rig.accounts(VAULT_SERVICE))

    doctor = kb("doctor")
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    assert "leftovers: 3 value(s) in the vault without a catalog record" in doctor.stdout
    assert all(o in doctor.stdout for o in orphans) and kept not in doctor.stdout
    assert "keybroker doctor --fix" in doctor.stdout
    report = json.loads(kb("doctor", "--json").stdout)
    assert report["leftovers"]["searched"] and report["leftovers"]["values"] == 3
    assert {a.partition("#")[0] for a in report["leftovers"]["accounts"]} == set(orphans)

    fixed = kb("doctor", "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "leftovers: removed 3 value(s)" in fixed.stdout
    left = set(rig.accounts(VAULT_SERVICE))
    assert not any(a.partition("#")[0] in orphans for a in left)
    assert kept in left and HEAD_ACCOUNT in left
    assert kb("secrets", "show", "KEPT", "--reveal").stdout.strip() == "kept-value"
    events = json.loads(kb("audit", "--json").stdout)
    repaired = [e["detail"] for e in events if e["decision"] == "repaired"]
    assert repaired == ["removed 3 value(s) left in the vault without a catalog record"]
    again = kb("doctor")
    assert again.returncode == 0 and "leftovers: none" in again.stdout
    assert kb("audit", "verify").returncode == 0
    for out in (doctor, fixed, again):
        assert CANARY not in out.stdout + out.stderr


def test_purge_removes_everything_keybroker_put_in_the_vault_whatever_the_catalog_says(kb: RunCli) -> None:
    assert kb("secrets", "set", "A", stdin="a-value").returncode == 0
    assert kb("secrets", "set", "B", stdin="b-value").returncode == 0
    assert kb("token").returncode == 0
    orphans = plant(3) + plant(1, chunked=True)
    assert {TOKEN_ACCOUNT, HEAD_ACCOUNT, *orphans} <= set(rig.accounts(VAULT_SERVICE))

    purge = kb("purge", "--yes")
    assert purge.returncode == 0, purge.stderr
    assert "purged 2 secret(s)" in purge.stderr
    assert rig.accounts(VAULT_SERVICE) == {}  # the leftovers, their chunks, the audit head and the token
    assert json.loads(kb("secrets", "list", "--json").stdout) == []
    assert kb("audit", "verify").returncode == 0
    assert json.loads(kb("audit", "--json").stdout) == []
    doctor = kb("doctor")
    assert doctor.returncode == 0 and "leftovers: none" in doctor.stdout
