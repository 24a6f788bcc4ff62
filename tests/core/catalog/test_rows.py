# SPDX-License-Identifier: Apache-2.0
"""rows.py: records to rows and back, columns named after the records' fields."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from keybroker.core.catalog.catalog import Catalog
from keybroker.core.catalog.rows import AGENT_ROWS, AUDIT_ROWS, GRANT_ROWS, SECRET_ROWS, Codec, Rows
from keybroker.core.models import (
    AgentRecord,
    AuditDecision,
    AuditEvent,
    Grant,
    GrantScope,
    SecretDemand,
    SecretRecord,
    SecurityScheme,
)

AGENT = AgentRecord(
    slug="demo",
    url="http://127.0.0.1:9",
    card_url="http://127.0.0.1:9/.well-known/agent-card.json",
    name="Démo",
    description="",
    protocol_versions=("0.3", "1.0"),
    fingerprint="f" * 64,
    demands=(SecretDemand("github", "GitHub token", None), SecretDemand("x", "X", "why")),
    schemes=(SecurityScheme("key", "apiKey", "header", "X-API-Key"),),
    security=(("key",), ()),
    streaming=True,
    require_token=False,
    added=1.5,
    last_seen=2.5,
    card_json='{"name": "Démo"}',
)
SECRET = SecretRecord("sec_1", "github", "demo", "GitHub", "", "key", 1.0, 2.0, None, 3)
GRANT = Grant("g1", "demo", "sec_1", GrantScope.TASK, 1.0, 9.0, "t1", None, "f" * 64)
EVENT = AuditEvent(7, 1.0, AuditDecision.RELEASED, "demo", "github", "sec_1", "once", caller="pid 1")


@pytest.mark.parametrize(
    ("rows", "record"), [(AGENT_ROWS, AGENT), (SECRET_ROWS, SECRET), (GRANT_ROWS, GRANT), (AUDIT_ROWS, EVENT)]
)
def test_a_record_comes_back_as_it_went_in(rows: Rows[object], record: object) -> None:
    row = rows.row(record)
    assert len(row) == len(rows.names)
    assert all(isinstance(v, str | int | float | type(None)) for v in row)  # what SQLite holds
    assert rows.record(row) == record


TABLES = [("agents", AGENT_ROWS), ("secrets", SECRET_ROWS), ("grants", GRANT_ROWS), ("audit", AUDIT_ROWS)]


@pytest.mark.parametrize(("table", "rows"), TABLES)
def test_every_field_has_its_column_in_the_migrated_catalog(
    tmp_path: Path, table: str, rows: Rows[object]
) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    try:
        columns = [r[1] for r in catalog.query(f"PRAGMA table_info({table})")]
    finally:
        catalog.close()
    # Columns are read and written by name: each field needs its column, in any order.
    assert set(rows.names) <= set(columns), set(rows.names) - set(columns)


def test_a_codec_for_a_field_the_record_lacks_is_refused() -> None:
    @dataclass(frozen=True)
    class Small:
        a: int

    with pytest.raises(ValueError, match=r"\['b'\]"):
        Rows(Small, {"b": Codec(int, int)})


def test_columns_after_the_records_are_not_read() -> None:
    row = (*SECRET_ROWS.row(SECRET), "pending", 123, 4.5)
    assert SECRET_ROWS.record(row) == SECRET
