# SPDX-License-Identifier: Apache-2.0
"""Where the OpenBao backend keeps what the user typed once into `keybroker vault login`: a token, an
AppRole secret id or a userpass password, and the token a login gave. The OS vault holds them (service
`keybroker-openbao`, one account per credential and address), never a file or the settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from keybroker.core.vault.backend import VaultBackend, is_missing_entry

CREDENTIAL_SERVICE = "keybroker-openbao"


class Credentials(Protocol):
    """Where typed credentials are kept (the OS vault), by name."""

    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str) -> None: ...
    def delete(self, name: str) -> None: ...


class BackendCredentials:
    """`Credentials` in a vault backend (the OS vault's), service `keybroker-openbao`, loaded on first use."""

    def __init__(self, load: Callable[[], VaultBackend]) -> None:
        self._load = load
        self._backend: VaultBackend | None = None

    def __repr__(self) -> str:
        return "BackendCredentials()"

    def _os_vault(self) -> VaultBackend:
        if self._backend is None:
            self._backend = self._load()
        return self._backend

    def get(self, name: str) -> str | None:
        return self._os_vault().get_password(CREDENTIAL_SERVICE, name)

    def set(self, name: str, value: str) -> None:
        self._os_vault().set_password(CREDENTIAL_SERVICE, name, value)

    def delete(self, name: str) -> None:
        try:
            self._os_vault().delete_password(CREDENTIAL_SERVICE, name)
        except Exception as exc:
            if not is_missing_entry(exc):
                raise

    def release_thread(self) -> None:
        """A vault worker thread ends: the OS vault's connection of that thread goes too."""
        release = getattr(self._backend, "release_thread", None)
        if callable(release):
            release()

    def close(self) -> None:
        """Close the OS vault's connections (if it was ever opened)."""
        close = getattr(self._backend, "close", None)
        if callable(close):
            close()
