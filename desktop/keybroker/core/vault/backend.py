"""What the vault needs from a backend, and the errors Keybroker's own backends raise.

Three calls, keyring's names and meanings: `get_password` (None when missing), `set_password` (create or
replace) and `delete_password` (`EntryNotFound`, or keyring's `PasswordDeleteError`, when missing). keyring's
backends (macOS keychain, Windows Credential Manager) satisfy the protocol structurally; Keybroker's own
(`SecretServiceKeyring` on Linux, `MemoryKeyring`) implement it without subclassing keyring's base class. So
neither the vault nor those backends import `keyring`: on Linux it is never loaded, which keeps its ~50 ms
of imports (jaraco.*, importlib metadata, entry points) off `secrets show --reveal` (DESIGN §7: 150 ms).

Optional members a backend may have, looked up with getattr: `display_name` (a short name),
`release_thread()` (called as a vault worker thread ends), `collection_locked()` (the lock state, asked
without an unlock prompt), `accounts(service)` (every account stored for `service`, found by the vault's
own search: what `doctor` and `purge` need to find values no catalog row names; Keybroker's own backends
have it, keyring's macOS and Windows backends cannot list, so there the catalog is all that is known),
and the class method `check_viable()` (raises when unusable here; keyring's backends use their
`priority` class property for that instead).

Errors are matched by class name as well as by class (`qualified_names`): a keyring backend's errors are
classified without importing keyring just to name them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

#: keyring.errors.PasswordDeleteError: what keyring's backends raise for a missing entry.
KEYRING_DELETE_ERROR = "keyring.errors.PasswordDeleteError"


@runtime_checkable
class VaultBackend(Protocol):
    """The calls the vault makes; service and account (`username`) name one entry."""

    def get_password(self, service: str, username: str) -> str | None:
        """The entry's value, or None when there is none."""

    def set_password(self, service: str, username: str, password: str) -> None:
        """Create or replace the entry."""

    def delete_password(self, service: str, username: str) -> None:
        """Remove the entry; EntryNotFound (or keyring's PasswordDeleteError) when there is none."""


# Errors of Keybroker's own backends (vault_errors.py maps them, with keyring's equivalents) -------------


class BackendError(Exception):
    """Root of what Keybroker's own backends raise on purpose."""


class BackendLocked(BackendError):
    """The collection or entry is locked and was not unlocked (keyring: KeyringLocked)."""


class BackendUnavailable(BackendError):
    """No connection to the vault service (keyring: InitError)."""


class EntryNotFound(BackendError):
    """delete_password found nothing to delete (keyring: PasswordDeleteError)."""


def qualified_names(exc: BaseException) -> set[str]:
    """`module.Class` for every class in the exception's MRO (no import of optional packages needed)."""
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}


def is_missing_entry(exc: BaseException) -> bool:
    """Whether `exc` is a backend's "no such entry" from delete_password, ours or keyring's."""
    return isinstance(exc, EntryNotFound) or KEYRING_DELETE_ERROR in qualified_names(exc)
