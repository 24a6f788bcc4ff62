"""MemoryKeyring passes the vault backend contract and has nothing to do with keyring."""

from __future__ import annotations

from keybroker.core.vault.backend import VaultBackend
from keybroker.core.vault.memory import MemoryKeyring
from tests.core.vault.backend_contract import VaultBackendContract


class TestMemoryKeyringContract(VaultBackendContract):
    """The contract suite: unicode, difficult characters, missing entries, deletes."""

    def make_backend(self) -> VaultBackend:
        return MemoryKeyring()


def test_not_a_keyring_backend() -> None:
    # keyring's auto-detection only ever sees KeyringBackend subclasses: it can never pick this one.
    assert [cls.__module__ for cls in MemoryKeyring.__mro__] == ["keybroker.core.vault.memory", "builtins"]


def test_entries_are_per_instance_and_per_service() -> None:
    first, second = MemoryKeyring(), MemoryKeyring()
    first.set_password("svc", "a", "1")
    first.set_password("other", "b", "2")
    assert second.get_password("svc", "a") is None
    assert first.accounts("svc") == ["a"]
    assert "1" not in repr(first)
