# SPDX-License-Identifier: Apache-2.0
"""How a `KeybrokerError` crosses HTTP and back: status, `code`, exit code (no FastAPI here).

The server names each error by its class (`UnknownAgentError` -> `unknown_agent`) and sends the CLI
exit code with it; the CLI's client turns the pair back into the same class. Both sides import this
module, so it stays light: the CLI loads it on every forwarded command.
"""

from __future__ import annotations

import re

from keybroker.core.errors import (
    AmbiguousSecretError,
    AuditChainBroken,
    BridgeError,
    InvalidInputError,
    KeybrokerError,
    NotFoundError,
    NoVersionsError,
    PolicyDenied,
    ReadOnlySecretError,
    SecretBusyError,
    TaskFailed,
    UsageError,
    VaultConflict,
    VaultError,
)

__all__ = [
    "INTERNAL_CODE",
    "UNAUTHORIZED_CODE",
    "error_class",
    "error_code",
    "http_status",
]

UNAUTHORIZED_CODE = "unauthorized"
INTERNAL_CODE = "internal"

#: Most specific first: the first base class an error derives from decides its HTTP status.
_STATUS: tuple[tuple[type[KeybrokerError], int], ...] = (
    (InvalidInputError, 422),
    (AmbiguousSecretError, 409),  # the request is fine; the catalog holds several matches
    (SecretBusyError, 409),  # the request is fine; another writer holds the secret right now
    (ReadOnlySecretError, 409),  # the request is fine; the secret is a team's, managed elsewhere
    (NoVersionsError, 409),  # the request is fine; this vault keeps no versions
    (VaultConflict, 409),  # the request is fine; another client changed the value meanwhile
    (UsageError, 400),
    (NotFoundError, 404),
    (VaultError, 503),
    (PolicyDenied, 403),
    (BridgeError, 502),
    (TaskFailed, 502),
    (AuditChainBroken, 500),
)

#: The class a client raises for an unknown code, by exit code.
_BY_EXIT: dict[int, type[KeybrokerError]] = {
    2: UsageError,
    3: NotFoundError,
    4: VaultError,
    5: PolicyDenied,
    6: BridgeError,
    7: AuditChainBroken,
    8: TaskFailed,
}


def http_status(exc: KeybrokerError) -> int:
    """The HTTP status for an error (500 for the catalog and anything unforeseen)."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_code(cls: type[KeybrokerError]) -> str:
    """`UnknownAgentError` -> `unknown_agent`; the root class is `internal`."""
    if cls is KeybrokerError:
        return INTERNAL_CODE
    name = cls.__name__.removesuffix("Error")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _all_classes() -> list[type[KeybrokerError]]:
    found: list[type[KeybrokerError]] = []
    todo: list[type[KeybrokerError]] = [KeybrokerError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def error_class(code: str, exit_code: int) -> type[KeybrokerError]:
    """The class the server named, if its exit code agrees; else the class for the exit code."""
    if code == UNAUTHORIZED_CODE:
        return PolicyDenied
    for cls in _all_classes():
        if error_code(cls) == code and cls.exit_code == exit_code:
            return cls
    return _BY_EXIT.get(exit_code, KeybrokerError)
