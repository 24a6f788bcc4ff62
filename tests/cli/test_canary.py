"""A known secret driven through every CLI path is found nowhere but the vault (and `--reveal`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import CardSite
from tests.conftest import IsolatedEnv, RunCli

pytestmark = pytest.mark.secret_service

CANARY = "kb-canary-7f3a9c1e-SECRET"
CANARY_2 = "kb-canary-second-b41d"


def files_containing(root: Path, needles: tuple[str, ...]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in needles:
                for encoding in ("utf-8", "utf-16-le"):
                    if needle.encode(encoding) in data:
                        hits.append(f"{path} ({encoding})")
    return hits


def test_canary_appears_only_where_asked(kb: RunCli, card_site: CardSite, isolated_env: IsolatedEnv) -> None:
    outputs: list[str] = []

    def run(*args: str, stdin: str | None = None, expect: int = 0) -> str:
        r = kb("--verbose", *args, stdin=stdin)
        outputs.append(r.stderr)
        assert r.returncode == expect, (args, r.returncode, r.stderr.replace(CANARY, "<CANARY>"))
        return r.stdout

    def run_quiet(*args: str, stdin: str | None = None, expect: int = 0) -> None:
        outputs.append(run(*args, stdin=stdin, expect=expect))

    run_quiet("agents", "add", card_site.url, "--slug", "demo")
    run_quiet("secrets", "set", "github", "--agent", "demo", "--name", "GitHub", stdin=CANARY + "\n")
    run_quiet("secrets", "set", "shared-key", stdin=CANARY)
    run_quiet("secrets", "list")
    run_quiet("secrets", "list", "--json")
    run_quiet("secrets", "show", "github", "--agent", "demo")
    run_quiet("secrets", "show", "github", "--agent", "demo", "--json")
    run_quiet("secrets", "update", "github", "--agent", "demo", "--description", "d")
    run_quiet("secrets", "update", "shared-key", "--value", stdin=CANARY_2)
    run_quiet("secrets", "show", "nope", expect=3)
    run_quiet("secrets", "set", "x" * 200, stdin=CANARY, expect=2)
    run_quiet("agents", "list")
    run_quiet("agents", "list", "--json")
    run_quiet("agents", "show", "demo")
    run_quiet("agents", "show", "demo", "--json")
    run_quiet("agents", "refresh", "demo")
    run_quiet("grants", "list")
    run_quiet("grants", "list", "--json")
    run_quiet("audit")
    run_quiet("audit", "--json")
    run_quiet("audit", "verify")
    run_quiet("doctor")
    run_quiet("doctor", "--json")
    run_quiet("status")
    run_quiet("lock")

    revealed = run("secrets", "show", "github", "--agent", "demo", "--reveal")
    assert revealed == CANARY
    assert run("secrets", "show", "shared-key", "--reveal") == CANARY_2

    run_quiet("agents", "rm", "demo")
    run_quiet("secrets", "rm", "github", "--agent", "demo")
    events = json.loads(kb("audit", "--json").stdout)
    assert {"created", "revealed", "updated", "deleted"} <= {e["decision"] for e in events}
    run_quiet("purge", "--yes")
    assert json.loads(kb("audit", "--json").stdout) == []  # purge takes the log and its head too

    for text in outputs:
        assert CANARY not in text and CANARY_2 not in text
    assert files_containing(isolated_env.keybroker_home, (CANARY, CANARY_2)) == []
    assert files_containing(isolated_env.home, (CANARY, CANARY_2)) == []
    # the log was written (so the check above looked at something)
    assert list((isolated_env.keybroker_home / "logs").glob("keybroker.log*"))
