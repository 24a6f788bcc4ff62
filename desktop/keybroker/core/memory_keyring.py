"""A keyring backend that keeps values in this process's memory: the session-only vault.

Used when the user (or a test) asks for `KEYBROKER_VAULT=memory`. It is a real `KeyringBackend`, so the
vault treats it like any OS backend, but its priority is below keyring's own fail and null backends: keyring's
auto-detection never picks it, only an explicit choice does.
"""

from __future__ import annotations

import threading

from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    """Values in a dict, lost when the process exits. Thread-safe."""

    display_name = "memory"

    @properties.classproperty
    def priority(cls) -> float:
        """Below fail (0) and null (-1), so keyring never selects it by itself."""
        return -10

    def __init__(self) -> None:
        # KeyringBackend.__init__ only copies KEYRING_PROPERTY_* environment variables onto the instance;
        # Keybroker reads no keyring environment variables, so it is deliberately not called.
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
        """Remove a value; PasswordDeleteError when there is none (as the OS backends do)."""
        with self._lock:
            if self._entries.pop((service, username), None) is None:
                raise PasswordDeleteError("no such entry")

    def accounts(self, service: str) -> list[str]:
        """Every account stored for `service` (for tests; OS backends cannot list)."""
        with self._lock:
            return sorted(user for svc, user in self._entries if svc == service)

    def __repr__(self) -> str:
        with self._lock:
            count = len(self._entries)
        return f"<MemoryKeyring: {count} entries>"
