"""One error tree for everything Keybroker raises on purpose.

Every class carries the CLI exit code from INTERFACES.md so the edge (CLI, API) maps errors by type,
never by message. Messages never contain a secret value: callers pass names and ids only.
"""

from __future__ import annotations


class KeybrokerError(Exception):
    """Root of every error Keybroker raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def add_hint(self, more: str) -> None:
        """Append what the caller knows (e.g. what was undone) to the fix the user reads."""
        self.hint = f"{self.hint}; {more}" if self.hint else more


# Usage -------------------------------------------------------------------------------------------


class UsageError(KeybrokerError):
    """The caller asked for something malformed or ambiguous."""

    exit_code = 2


class AmbiguousSecretError(UsageError):
    """A key matches secrets of several owners and none was chosen."""


class SecretBusyError(UsageError):
    """Another writer is changing this secret right now (HTTP 409): nothing was done; retry."""


class InvalidInputError(UsageError):
    """A key, value, slug or URL fails validation."""


class ReadOnlySecretError(UsageError):
    """A team's secret was to be changed or removed: the team vault manages it (read-only here)."""


class NoVersionsError(UsageError):
    """A value's versions were asked of a vault that keeps none (the OS vaults; OpenBao keeps them)."""


# Not found ---------------------------------------------------------------------------------------


class NotFoundError(KeybrokerError):
    """Something named does not exist."""

    exit_code = 3


class UnknownAgentError(NotFoundError):
    """No agent has this slug."""


class UnknownSecretError(NotFoundError):
    """No secret has this key (for this owner) or id."""


class UnknownGrantError(NotFoundError):
    """No live grant has this id."""


# Vault -------------------------------------------------------------------------------------------


class VaultError(KeybrokerError):
    """The OS vault failed an operation."""

    exit_code = 4


class VaultUnavailable(VaultError):
    """No usable OS vault: missing, a fail/null backend, or a plaintext one we refuse."""


class VaultLocked(VaultError):
    """The vault exists but is locked and was not unlocked."""


class VaultTimeout(VaultError):
    """The vault did not answer in time."""


class VaultAuthRequired(VaultLocked):
    """A team vault (OpenBao) refused Keybroker's token: expired, revoked or never valid."""


class VaultConflict(VaultError):
    """A check-and-set write lost: another client changed the value since it was read (nothing written)."""


class VaultPermissionDenied(VaultError):
    """The team vault's own policy refused the call, or the value is a team's read-only one."""


# Decisions ---------------------------------------------------------------------------------------


class PolicyDenied(KeybrokerError):
    """The user or a rule declined a release."""

    exit_code = 5


class PromptTimeout(PolicyDenied):
    """Nobody answered the prompt in time."""


class SignInDenied(PolicyDenied):
    """A sign-in was declined (by the user or the authorization server) or could not be trusted
    (a wrong `state` or `iss`, an ID token that does not verify)."""


# Bridge and agents -------------------------------------------------------------------------------


class BridgeError(KeybrokerError):
    """The bridge or an agent could not be reached or spoke nonsense."""

    exit_code = 6


class AgentUnreachable(BridgeError):
    """An agent's URL did not answer."""


class InvalidCardError(BridgeError):
    """An agent card is malformed; the message says which field."""


class InvalidDemandError(BridgeError):
    """A secret demand is malformed; the message says which field."""


class AuthServerError(BridgeError):
    """An authorization server could not be reached, or answered what OAuth 2 does not allow."""


# Audit -------------------------------------------------------------------------------------------


class AuditWriteError(KeybrokerError):
    """A value was not released because its audit event could not be written (Keybroker fails closed)."""


class AuditChainBroken(KeybrokerError):
    """The audit log's hash chain does not verify."""

    exit_code = 7


# Tasks -------------------------------------------------------------------------------------------


class TaskFailed(KeybrokerError):
    """An A2A task ended failed, rejected or canceled."""

    exit_code = 8


# Storage -----------------------------------------------------------------------------------------


class CatalogError(KeybrokerError):
    """The catalog database cannot be opened or written (full disk, corrupt file)."""


class DiskError(KeybrokerError):
    """A file Keybroker keeps (the API token file) could not be written (full disk, permissions)."""
