"""A vault backend that keeps values in this process's memory: the session-only vault.

Used when the user (or a test) asks for `KEYBROKER_VAULT=memory`. It implements the vault's backend
protocol (vault_backend.py) like the OS backends, so the vault treats it the same way. It is not a keyring
`KeyringBackend`: keyring's auto-detection cannot see it, and the memory vault never imports keyring.
"""

from __future__ import annotations

import threading

from keybroker.core.vault.backend import EntryNotFound


class MemoryKeyring:
    """Values in a dict, lost when the process exits. Thread-safe."""

    display_name = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        """The stored value, or None."""
        with self._lock:
            return self._entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        """Store or replace a value."""
        if not isinstance(password, str):
            raise TypeError("password must be a str")
        with self._lock:
            self._entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        """Remove a value; EntryNotFound when there is none (as the OS backends do)."""
        with self._lock:
            if self._entries.pop((service, username), None) is None:
                raise EntryNotFound("no such entry")

    def accounts(self, service: str) -> list[str]:
        """Every account stored for `service` (the vault's own search: `doctor`, `purge`)."""
        with self._lock:
            return sorted(user for svc, user in self._entries if svc == service)

    def __repr__(self) -> str:
        with self._lock:
            count = len(self._entries)
        return f"<MemoryKeyring: {count} entries>"
