# SPDX-License-Identifier: Apache-2.0
"""Team secrets in the catalog (migration 6): a team's record beside a shared one of the same key, never
taken for "the shared one"; migrating an existing catalog keeps its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from keybroker.core.catalog.catalog import Catalog
from keybroker.core.catalog.schema import MIGRATIONS
from keybroker.core.errors import CatalogError
from keybroker.core.models import SecretRecord
from tests.fakes import FakeClock


def test_a_team_record_and_a_shared_one_share_a_key(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db", clock=FakeClock())
    shared = SecretRecord(secret_id="sec_1", key="K", owner=None)
    team = SecretRecord(secret_id="team:ops:K", key="K", owner=None, team="ops")
    other = SecretRecord(secret_id="team:dev:K", key="K", owner=None, team="dev")
    for record in (shared, team, other):
        catalog.insert_secret(record, state="ready")
    assert catalog.find_secret("K", None) == shared
    assert catalog.find_secret("K", None, team="ops") == team
    assert catalog.list_secrets(owner=None) == [shared]
    assert catalog.list_secrets(team="dev") == [other]
    assert {r.secret_id for r in catalog.list_secrets()} == {"sec_1", "team:ops:K", "team:dev:K"}
    with pytest.raises(CatalogError):  # one record per (key, owner, scheme, team)
        catalog.insert_secret(SecretRecord(secret_id="team:ops:K2", key="K", owner=None, team="ops"))
    catalog.close()


def test_an_older_catalog_is_migrated_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:2]:  # the catalog as the previous release left it
        conn.executescript(migration)
    conn.execute("PRAGMA user_version = 2")
    conn.execute(
        "INSERT INTO secrets (secret_id, key, owner, created, updated) VALUES ('sec_old', 'K', NULL, 1, 1)"
    )
    conn.commit()
    conn.close()
    catalog = Catalog(path, clock=FakeClock())
    (record,) = catalog.list_secrets()
    assert (record.secret_id, record.team) == ("sec_old", None)
    catalog.close()


def test_a_teams_record_does_not_block_creating_the_users_own_shared_one(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db", clock=FakeClock())
    team = SecretRecord(secret_id="team:ops:K", key="K", owner=None, team="ops")
    catalog.insert_secret(team, state="ready")
    assert catalog.claim_new_secret(SecretRecord(secret_id="sec_new", key="K", owner=None))
    assert not catalog.claim_new_secret(SecretRecord(secret_id="sec_again", key="K", owner=None))
    catalog.close()
