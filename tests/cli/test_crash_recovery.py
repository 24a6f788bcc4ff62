"""A process killed between the vault write and the catalog write is repaired at the next start."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import RunCli, subprocess_env

pytestmark = pytest.mark.secret_service

# The child stores or deletes a secret and SIGKILLs itself at the named step, like a crash or `kill -9`.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from keybroker.core.catalog.catalog import Catalog
    from keybroker.core.vault.vault import Vault
    from keybroker.core.models import SecretValue
    from keybroker.wiring.services import open_services

    action, step = sys.argv[1], sys.argv[2]

    def die(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)

    svc = open_services()
    if step == "after-vault-write":      # value in the vault, row still pending
        Catalog.set_secret_state = die
    elif step == "before-vault-write":   # row pending, value never written
        Vault.set = die
    elif step == "before-vault-delete":  # row marked deleting, value still there
        Vault.delete = die
    if action == "set":
        svc.secrets.set("CRASHY", SecretValue("crash-value"))
    else:
        svc.secrets.remove(svc.secrets.resolve("CRASHY"))
    print("not killed")
    """
)


def crash(step: str, action: str = "set") -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, action, step],
        env=subprocess_env({"KEYBROKER_VAULT": "system"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr


@pytest.fixture
def kb(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> RunCli:
    monkeypatch.setenv("KEYBROKER_VAULT", "system")
    return run_cli


def test_killed_after_the_vault_write_is_finished(kb: RunCli) -> None:
    crash("after-vault-write")
    listed = json.loads(kb("secrets", "list", "--json").stdout)
    assert [s["key"] for s in listed] == ["CRASHY"]
    assert kb("secrets", "show", "CRASHY", "--reveal").stdout == "crash-value"
    events = json.loads(kb("audit", "--json").stdout)
    assert events[-2]["decision"] == "repaired" and "reached the vault" in events[-2]["detail"]
    assert kb("audit", "verify").returncode == 0


def test_killed_before_the_vault_write_is_undone(kb: RunCli) -> None:
    crash("before-vault-write")
    assert json.loads(kb("secrets", "list", "--json").stdout) == []
    assert kb("secrets", "set", "CRASHY", stdin="again").returncode == 0
    assert kb("secrets", "show", "CRASHY", "--reveal").stdout == "again"


def test_killed_mid_delete_is_finished(kb: RunCli) -> None:
    assert kb("secrets", "set", "CRASHY", stdin="v").returncode == 0
    secret_id = json.loads(kb("secrets", "list", "--json").stdout)[0]["secret_id"]
    crash("before-vault-delete", action="rm")
    assert json.loads(kb("secrets", "list", "--json").stdout) == []
    # the value is gone from the vault too: a new secret with the same id would not find it
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from keybroker.core.vault.vault import open_vault; "
            f"v = open_vault(); print(v.exists({secret_id!r}))",
        ],
        env=subprocess_env({"KEYBROKER_VAULT": "system"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip() == "False", probe.stderr
