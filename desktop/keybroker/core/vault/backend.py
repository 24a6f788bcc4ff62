"""What the vault needs from a backend, and the errors Keybroker's own backends raise.

Three calls, keyring's names and meanings: `get_password` (None when missing), `set_password` (create or
replace) and `delete_password` (`EntryNotFound`, or keyring's `PasswordDeleteError`, when missing). keyring's
backends (macOS keychain, Windows Credential Manager) satisfy the protocol structurally; Keybroker's own
(`SecretServiceKeyring` on Linux, `MemoryKeyring`) implement it without subclassing keyring's base class. So
neither the vault nor those backends import `keyring`: on Linux it is never loaded, which keeps its ~50 ms
of imports (jaraco.*, importlib metadata, entry points) off `secrets show --reveal` (DESIGN §7: 150 ms).

Optional members a backend may have, looked up with getattr: `display_name` (a short name),
`description` (one line for the tray and `doctor`), `release_thread()` (called as a vault worker thread
ends), `collection_locked()` (the lock state, asked without an unlock prompt), `accounts(service)` (every
account stored for `service`, found by the vault's own search: what `doctor` and `purge` need to find
values no catalog row names; Keybroker's own backends have it, keyring's macOS and Windows backends
cannot list, so there the catalog is all that is known), and the class method `check_viable()` (raises
when unusable here; keyring's backends use their `priority` class property for that instead). A backend
that keeps versions or shares one store between installs (OpenBao) also has `versions(service,
username)`, `get_version(service, username, version)`, `team_entries()` and `details()`;
vault/extras.py calls them.

A backend shared by several installs (OpenBao) keeps each install's entries apart: the catalog that names
them is the install's. Accounts that start with `team:` (TEAM_ACCOUNT_PREFIX) name a team's read-only
secret, which that backend lists for the teams it is set up for.

Errors are matched by class name as well as by class (`qualified_names`): a keyring backend's errors are
classified without importing keyring just to name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: keyring.errors.PasswordDeleteError: what keyring's backends raise for a missing entry.
KEYRING_DELETE_ERROR = "keyring.errors.PasswordDeleteError"
#: `team:<team>:<key>`: the account of a team's read-only secret (a backend with team paths lists them).
TEAM_ACCOUNT_PREFIX = "team:"


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
    """Root of what Keybroker's own backends raise on purpose; `hint` (optional) is the fix to show."""

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class BackendLocked(BackendError):
    """The collection or entry is locked and was not unlocked (keyring: KeyringLocked)."""


class BackendUnavailable(BackendError):
    """No connection to the vault service (keyring: InitError)."""


class EntryNotFound(BackendError):
    """delete_password found nothing to delete (keyring: PasswordDeleteError)."""


class BackendAuthRequired(BackendLocked):
    """The backend refused our credentials (an expired or revoked token): log in again."""


class BackendConflict(BackendError):
    """A check-and-set write lost: another client changed the entry since it was read."""


class BackendPermissionDenied(BackendError):
    """The backend's own policy refused the call (or the entry is read-only, a team's)."""


# What the optional members answer --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValueVersion:
    """One version of an entry in a backend that keeps versions (OpenBao's KV v2)."""

    version: int
    created: float
    """Seconds since the epoch."""
    deleted: bool = False
    destroyed: bool = False
    current: bool = False

    def to_json(self) -> dict[str, object]:
        """A JSON-ready view (never a value: a version is metadata)."""
        return {
            "version": self.version,
            "created": self.created,
            "deleted": self.deleted,
            "destroyed": self.destroyed,
            "current": self.current,
        }


@dataclass(frozen=True, slots=True)
class TeamEntry:
    """A team's read-only secret that a backend holds: its team, its key and the account to read it at."""

    team: str
    key: str

    @property
    def account(self) -> str:
        """`team:<team>:<key>` (team names hold no `:`)."""
        return team_account(self.team, self.key)


def team_account(team: str, key: str) -> str:
    """The account of `team`'s secret `key`."""
    return f"{TEAM_ACCOUNT_PREFIX}{team}:{key}"


def parse_team_account(account: str) -> TeamEntry | None:
    """The team entry an account names, or None when it is not a team account."""
    if not account.startswith(TEAM_ACCOUNT_PREFIX):
        return None
    team, sep, key = account[len(TEAM_ACCOUNT_PREFIX) :].partition(":")
    return TeamEntry(team, key) if sep and team and key else None


def qualified_names(exc: BaseException) -> set[str]:
    """`module.Class` for every class in the exception's MRO (no import of optional packages needed)."""
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}


def is_missing_entry(exc: BaseException) -> bool:
    """Whether `exc` is a backend's "no such entry" from delete_password, ours or keyring's."""
    return isinstance(exc, EntryNotFound) or KEYRING_DELETE_ERROR in qualified_names(exc)
