"""The SQLite catalog: schema, round trips, constraints, full disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from keybroker.core.catalog.catalog import Catalog
from keybroker.core.catalog.schema import SCHEMA_VERSION
from keybroker.core.errors import CatalogError, UnknownAgentError
from keybroker.core.models import (
    AgentRecord,
    Grant,
    GrantScope,
    SecretDemand,
    SecretRecord,
    SecurityScheme,
)
from tests.fakes import FakeClock


def agent(slug: str = "demo") -> AgentRecord:
    return AgentRecord(
        slug=slug,
        url="http://127.0.0.1:9000",
        card_url="http://127.0.0.1:9000/.well-known/agent-card.json",
        name="Demo",
        description="d",
        protocol_versions=("0.3",),
        fingerprint="f" * 64,
        demands=(SecretDemand("github", "GitHub token", None), SecretDemand("slack", "Slack", "bot")),
        schemes=(SecurityScheme("key", "apiKey", "header", "X-API-Key"),),
        security=(("key",),),
        streaming=True,
        added=1.0,
        last_seen=2.0,
        card_json='{"name": "Demo"}',
    )


def secret(secret_id: str = "sec_1", key: str = "github", owner: str | None = None) -> SecretRecord:
    return SecretRecord(
        secret_id=secret_id, key=key, owner=owner, name="GitHub token", created=1.0, updated=1.0
    )


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "data" / "catalog.db", clock=FakeClock())


def test_new_catalog_is_migrated_wal_and_private(catalog: Catalog) -> None:
    assert catalog.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert catalog.query("PRAGMA journal_mode")[0][0] == "wal"
    assert catalog.path.stat().st_mode & 0o777 == 0o600
    tables = {r[0] for r in catalog.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"agents", "secrets", "grants", "audit"} <= tables


def test_reopening_keeps_data_and_does_not_migrate_twice(catalog: Catalog) -> None:
    catalog.upsert_agent(agent())
    catalog.close()
    again = Catalog(catalog.path)
    assert again.get_agent("demo") == agent()


def test_newer_schema_is_refused(catalog: Catalog) -> None:
    catalog.query(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    catalog.close()
    with pytest.raises(CatalogError, match="newer Keybroker"):
        Catalog(catalog.path)


def test_agent_round_trip_and_unknown_slug(catalog: Catalog) -> None:
    catalog.upsert_agent(agent())
    assert catalog.get_agent("demo") == agent()
    assert [a.slug for a in catalog.list_agents()] == ["demo"]
    with pytest.raises(UnknownAgentError) as err:
        catalog.get_agent("nope")
    assert err.value.exit_code == 3
    with pytest.raises(UnknownAgentError):
        catalog.remove_agent("nope")


def test_pending_secrets_are_invisible_until_ready(catalog: Catalog) -> None:
    catalog.insert_secret(secret(), state="pending")
    assert catalog.list_secrets() == []
    assert catalog.find_secret("github", None) is None
    assert [u.state for u in catalog.unsettled_secrets()] == ["pending"]
    catalog.set_secret_state("sec_1", "ready")
    assert catalog.find_secret("github", None) == secret()
    assert catalog.unsettled_secrets() == []


def test_one_secret_per_key_owner_and_scheme(catalog: Catalog) -> None:
    catalog.upsert_agent(agent())
    catalog.insert_secret(secret("a"), state="ready")
    catalog.insert_secret(secret("b", owner="demo"), state="ready")
    with pytest.raises(CatalogError, match="constraint"):
        catalog.insert_secret(secret("c"), state="ready")
    assert {s.secret_id for s in catalog.list_secrets(key="github")} == {"a", "b"}
    assert [s.secret_id for s in catalog.list_secrets(owner=None)] == ["a"]
    assert [s.secret_id for s in catalog.list_secrets(owner="demo")] == ["b"]


def test_grants_go_with_their_secret_and_agent(catalog: Catalog) -> None:
    catalog.upsert_agent(agent())
    catalog.insert_secret(secret("a"), state="ready")
    g = Grant("g1", "demo", "a", GrantScope.ALWAYS, created=1.0, card_fingerprint="f" * 64)
    catalog.add_grant(g)
    assert catalog.list_grants(agent="demo") == [g]
    catalog.delete_secret("a")
    assert catalog.list_grants() == []
    catalog.insert_secret(secret("a"), state="ready")
    catalog.add_grant(g)
    catalog.remove_agent("demo")
    assert catalog.list_grants() == []


def test_lock_style_delete_keeps_always(catalog: Catalog) -> None:
    catalog.insert_secret(secret("a"), state="ready")
    for i, scope in enumerate(GrantScope):
        catalog.add_grant(Grant(f"g{i}", "demo", "a", scope, created=float(i)))
    ended = catalog.delete_grants(keep_always=True)
    assert GrantScope.ALWAYS not in {g.scope for g in ended}
    assert [g.scope for g in catalog.list_grants()] == [GrantScope.ALWAYS]


def test_full_disk_is_a_clear_error_and_loses_nothing(catalog: Catalog) -> None:
    catalog.upsert_agent(agent("first"))
    pages = catalog.query("PRAGMA page_count")[0][0]
    catalog.query(f"PRAGMA max_page_count = {pages}")
    big = agent("second")
    big = AgentRecord(
        **{**{f: getattr(big, f) for f in big.__dataclass_fields__}, "card_json": "x" * 200_000}
    )
    with pytest.raises(CatalogError) as err:
        catalog.upsert_agent(big)
    assert "full" in str(err.value)
    assert err.value.hint and "disk space" in err.value.hint
    assert [a.slug for a in catalog.list_agents()] == ["first"]


def test_unreadable_catalog_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CatalogError, match="catalog"):
        Catalog(path)


def test_two_connections_do_not_lose_writes(catalog: Catalog) -> None:
    other = Catalog(catalog.path)
    catalog.insert_secret(secret("a", key="k1"), state="ready")
    other.insert_secret(secret("b", key="k2"), state="ready")
    assert {s.secret_id for s in catalog.list_secrets()} == {"a", "b"}
    assert isinstance(catalog.query("SELECT 1")[0], tuple | sqlite3.Row)
