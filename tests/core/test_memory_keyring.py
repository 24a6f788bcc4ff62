"""MemoryKeyring passes keyring's own backend contract and is never auto-selected."""

from __future__ import annotations

import pytest
from keyring.backends import fail, null
from keyring.testing.backend import BackendBasicTests

from keybroker.core.memory_keyring import MemoryKeyring


class TestMemoryKeyringContract(BackendBasicTests):
    """keyring's reusable contract suite: unicode, difficult characters, missing entries, deletes."""

    def init_keyring(self) -> MemoryKeyring:
        return MemoryKeyring()


def test_priority_is_below_fail_and_null() -> None:
    assert MemoryKeyring.priority < null.Keyring.priority < fail.Keyring.priority


def test_memory_keyring_ignores_keyring_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYRING_PROPERTY_SCHEME", "KeePassXC")
    assert "scheme" not in vars(MemoryKeyring())


def test_entries_are_per_instance_and_per_service() -> None:
    first, second = MemoryKeyring(), MemoryKeyring()
    first.set_password("svc", "a", "1")
    first.set_password("other", "b", "2")
    assert second.get_password("svc", "a") is None
    assert first.accounts("svc") == ["a"]
    assert "1" not in repr(first)
