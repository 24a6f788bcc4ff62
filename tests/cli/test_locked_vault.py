"""A locked vault never locks the user out: failed writes leave nothing behind, read-only commands work,
and `audit verify` says the vault is locked (exit 4) instead of calling the chain broken (exit 7).

These lock the rig's real gnome-keyring collection and always unlock it again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from tests.conftest import RunCli
from tests.vault import secret_service as rig

pytestmark = pytest.mark.secret_service


@pytest.fixture
def locked() -> Iterator[None]:
    password = os.environ.get(rig.PASSWORD_VARIABLE)
    if not password:
        pytest.skip(f"{rig.PASSWORD_VARIABLE} is not set: the test could not unlock the collection again")
    rig.lock()
    try:
        assert rig.is_locked()
        yield
    finally:
        rig.unlock(password)


def keys(kb: RunCli) -> list[str]:
    out = kb("secrets", "list", "--json")
    assert out.returncode == 0, out.stderr
    return [s["key"] for s in json.loads(out.stdout)]


@pytest.fixture
def stored(kb: RunCli) -> RunCli:
    assert kb("secrets", "set", "FOO", stdin="sk-test-1234\n").returncode == 0
    return kb


def test_failed_set_and_rm_on_a_locked_vault_leave_every_command_working(
    stored: RunCli, locked: None
) -> None:
    kb = stored
    new = kb("secrets", "set", "NEWKEY", stdin="sk-test-0000\n")
    assert new.returncode == 4, new.stderr
    rm = kb("secrets", "rm", "FOO")
    assert rm.returncode == 4, rm.stderr
    # The errors say which secret, by the name the user knows (the id follows for `secrets show ID`).
    assert "shared 'NEWKEY' (sec_" in new.stderr, new.stderr
    assert "shared 'FOO' (sec_" in rm.stderr, rm.stderr
    # Before: every later command exited 4 "could not look up 'sec_...'" while repairing the rows.
    assert keys(kb) == ["FOO"]  # the failed rm is true: FOO is still there; NEWKEY never was
    for args in (("agents", "list"), ("grants", "list"), ("audit",)):
        out = kb(*args)
        assert out.returncode == 0, (args, out.stderr)


def test_a_failed_rm_does_not_delete_later(stored: RunCli, locked: None) -> None:
    kb = stored
    assert kb("secrets", "rm", "FOO").returncode == 4
    password = os.environ[rig.PASSWORD_VARIABLE]
    rig.unlock(password)
    assert keys(kb) == ["FOO"]
    shown = kb("secrets", "show", "FOO", "--reveal")
    assert shown.returncode == 0 and shown.stdout.strip() == "sk-test-1234"
    decisions = [e["decision"] for e in json.loads(kb("audit", "--json").stdout)]
    assert "deleted" not in decisions and "repaired" not in decisions
    rig.lock()  # the fixture unlocks again


def test_audit_verify_on_a_locked_vault_is_a_vault_error(stored: RunCli, locked: None) -> None:
    out = stored("audit", "verify")
    assert out.returncode == 4, out.stderr
    assert "broken" not in out.stderr and "locked" in out.stderr


def test_a_purge_the_vault_refused_deletes_nothing_later(stored: RunCli, locked: None) -> None:
    kb = stored
    out = kb("purge", "--yes")
    assert out.returncode == 4, out.stderr
    assert "nothing was deleted" in out.stderr
    rig.unlock(os.environ[rig.PASSWORD_VARIABLE])
    assert keys(kb) == ["FOO"]  # not finished behind the user's back by the next start's repair
    shown = kb("secrets", "show", "FOO", "--reveal")
    assert shown.returncode == 0 and shown.stdout.strip() == "sk-test-1234"
    rig.lock()  # the fixture unlocks again
