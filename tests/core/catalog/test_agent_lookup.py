"""`RememberedAgents`: the bridge's agent lookup reads the row once while the catalog is unchanged, and
sees an agent changed here or by another process (the CLI) at the next lookup."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from keybroker.core.catalog.agent_lookup import RememberedAgents
from keybroker.core.catalog.catalog import Catalog
from tests.conftest import subprocess_env
from tests.core.catalog.test_catalog import agent
from tests.fakes import FakeClock


def _reads(statements: list[str]) -> int:
    return sum(1 for s in statements if "FROM agents" in s)


def test_lookups_read_the_row_once_until_the_catalog_changes(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db", clock=FakeClock())
    catalog.upsert_agent(agent("demo"))
    lookup = RememberedAgents(catalog)
    statements: list[str] = []
    catalog._conn.set_trace_callback(statements.append)
    assert [lookup("demo") for _ in range(5)] == [agent("demo")] * 5
    assert lookup("nobody") is None and lookup("nobody") is None
    assert _reads(statements) == 2  # demo once, the unknown slug once
    changed = dataclasses.replace(agent("demo"), fingerprint="e" * 64)
    catalog.upsert_agent(changed)  # a refreshed card, here
    assert lookup("demo") == changed
    # The CLI (another process) removes it: SQLite's data_version tells.
    script = (
        "import sys; from keybroker.core.catalog.catalog import Catalog; "
        "Catalog(__import__('pathlib').Path(sys.argv[1])).remove_agent('demo')"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(catalog.path)], check=True, env=subprocess_env(), timeout=60
    )
    assert lookup("demo") is None
    catalog._conn.set_trace_callback(None)
