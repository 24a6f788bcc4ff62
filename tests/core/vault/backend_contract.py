"""The vault backend protocol's contract (vault_backend.py), as a reusable test class.

Modelled on keyring's `BackendBasicTests`, minus what only keyring's base class offers (credentials,
properties): our backends no longer derive from it. A subclass gives `make_backend()`; entries it stores are
deleted after each test (a real vault keeps them otherwise).
"""

from __future__ import annotations

import contextlib
import string
import uuid
from collections.abc import Iterator

import pytest

from keybroker.core.vault.backend import EntryNotFound, VaultBackend, is_missing_entry

DIFFICULT = string.whitespace + string.punctuation
UNICODE = "זהכיףסתםלשמועאיךתנצחקרפדעץטובבגן Съешь же ещё этих 😀🔑 漢字かなカナ e\u0301"


class VaultBackendContract:
    """get / set / delete as the vault relies on them."""

    def make_backend(self) -> VaultBackend:
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _backend(self) -> Iterator[None]:
        self.backend = self.make_backend()
        self.service = f"keybroker-contract-{uuid.uuid4().hex[:12]}"
        self.created: set[tuple[str, str]] = set()
        yield
        for service, account in self.created:
            with contextlib.suppress(EntryNotFound):
                self.backend.delete_password(service, account)
        close = getattr(self.backend, "close", None)
        if callable(close):  # a kept-open connection (SecretServiceKeyring)
            close()

    def store(self, account: str, value: str, service: str | None = None) -> None:
        service = service or self.service
        self.backend.set_password(service, account, value)
        self.created.add((service, account))

    def test_is_a_vault_backend(self) -> None:
        assert isinstance(self.backend, VaultBackend)

    @pytest.mark.parametrize("value", ["plain", "", DIFFICULT, UNICODE, "x" * 4096])
    def test_set_then_get(self, value: str) -> None:
        assert self.backend.get_password(self.service, "a") is None
        self.store("a", value)
        assert self.backend.get_password(self.service, "a") == value

    def test_replace_blank_with_a_value(self) -> None:
        self.store("a", "")
        self.store("a", "non-blank")
        assert self.backend.get_password(self.service, "a") == "non-blank"

    @pytest.mark.parametrize("account", [DIFFICULT, UNICODE])
    def test_difficult_accounts(self, account: str) -> None:
        self.store(account, "v")
        assert self.backend.get_password(self.service, account) == "v"

    def test_delete_present(self) -> None:
        self.store("a", "v")
        self.backend.delete_password(self.service, "a")
        assert self.backend.get_password(self.service, "a") is None

    def test_delete_missing_raises_entry_not_found(self) -> None:
        with pytest.raises(EntryNotFound) as info:
            self.backend.delete_password(self.service, "never-stored")
        assert is_missing_entry(info.value)

    def test_delete_one_of_several(self) -> None:
        self.store("a", "1")
        self.store("b", "2")
        self.backend.delete_password(self.service, "a")
        assert self.backend.get_password(self.service, "b") == "2"

    def test_accounts_and_services_are_separate(self) -> None:
        other = self.service + "-other"
        self.store("a", "1")
        self.store("b", "2")
        self.store("a", "3", service=other)
        assert self.backend.get_password(self.service, "a") == "1"
        assert self.backend.get_password(self.service, "b") == "2"
        assert self.backend.get_password(other, "a") == "3"
        assert self.backend.get_password(other, "b") is None

    def test_accounts_lists_what_one_service_holds(self) -> None:
        """Keybroker's own backends search the vault (doctor and purge find what no catalog row names)."""
        lister = getattr(self.backend, "accounts", None)
        assert callable(lister), "Keybroker's own backends can list a service's entries"
        assert lister(self.service) == []
        for account in ("b", UNICODE, "a#1.0"):
            self.store(account, "v")
        self.store("c", "v", service=self.service + "-other")
        assert lister(self.service) == sorted(["b", UNICODE, "a#1.0"])
        self.backend.delete_password(self.service, "b")
        assert lister(self.service) == sorted([UNICODE, "a#1.0"])
