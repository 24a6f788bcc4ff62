"""Map whatever a vault backend raises into core/errors.py, at the vault's edge.

Our backends' errors (vault_backend.py), keyring's, secretstorage and jeepney (D-Bus) errors and OS errors
all become VaultLocked, VaultUnavailable, VaultTimeout or VaultError. Optional packages' errors are matched
by class name: keyring is imported only where a keyring backend is in use (not on Linux), and mapping an
error must not load it. Messages name the action and account at most; any text that came from the backend
is scrubbed of the value being written before it is kept.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable

from keybroker.core.errors import (
    VaultAuthRequired,
    VaultConflict,
    VaultError,
    VaultLocked,
    VaultPermissionDenied,
    VaultTimeout,
    VaultUnavailable,
)
from keybroker.core.models import MASK
from keybroker.core.vault.backend import (
    BackendAuthRequired,
    BackendConflict,
    BackendError,
    BackendLocked,
    BackendPermissionDenied,
    BackendUnavailable,
    qualified_names,
)

LOCKED_HINT = "unlock your keyring (the OS may show its own prompt) and try again"
AUTH_HINT = "log in to OpenBao again with `keybroker vault login` (or set BAO_TOKEN), then try again"
CONFLICT_HINT = (
    "another Keybroker or OpenBao client changed this value at the same moment and won; nothing was "
    "written: look at `keybroker secrets history KEY`, then store your value again if it should win"
)
DENIED_HINT = "the OpenBao policies for your token do not allow this; ask whoever runs your team's OpenBao"
UNAVAILABLE_HINT = (
    "check that the OS vault is running (on Linux: gnome-keyring or another Secret Service provider), "
    "or run with KEYBROKER_VAULT=memory for a session-only vault"
)

_DBUS_LOCKED = frozenset({"org.freedesktop.Secret.Error.IsLocked"})
_DBUS_UNAVAILABLE = frozenset(
    {
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.NoReply",
        "org.freedesktop.DBus.Error.Disconnected",
        "org.freedesktop.DBus.Error.NoServer",
        "org.freedesktop.DBus.Error.Spawn.ChildExited",
        "org.freedesktop.DBus.Error.Spawn.ExecFailed",
    }
)
_LOCKED_CLASSES = frozenset(
    {
        "keyring.errors.KeyringLocked",
        "secretstorage.exceptions.LockedException",
        "secretstorage.exceptions.PromptDismissedException",
    }
)
_UNAVAILABLE_CLASSES = frozenset(
    {
        "keyring.errors.InitError",
        "keyring.errors.NoKeyringError",
        "secretstorage.exceptions.SecretServiceNotAvailableException",
    }
)
_MAX_DETAIL = 300


def _detail(exc: BaseException, scrub: Iterable[str]) -> str:
    text = str(exc)
    for secret in scrub:
        if secret:
            text = text.replace(secret, MASK)
    text = " ".join(text.split())
    if len(text) > _MAX_DETAIL:
        text = text[:_MAX_DETAIL] + "..."
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def map_backend_error(
    exc: BaseException,
    *,
    action: str,
    account: str | None = None,
    scrub: Iterable[str] = (),
) -> VaultError:
    """The VaultError to raise for `exc`, raised by the backend while doing `action` on `account`."""
    if isinstance(exc, VaultError):
        return exc
    names = qualified_names(exc)
    what = f"{action} {account!r}" if account is not None else action
    detail = _detail(exc, scrub)
    dbus_name = _dbus_error_name(exc, names)

    own_hint = getattr(exc, "hint", None) if isinstance(exc, BackendError) else None
    if isinstance(exc, BackendAuthRequired):
        message = f"the team vault refused Keybroker's token; could not {what} ({detail})"
        return VaultAuthRequired(message, hint=own_hint or AUTH_HINT)
    if isinstance(exc, BackendConflict):
        return VaultConflict(f"conflict: could not {what} ({detail})", hint=own_hint or CONFLICT_HINT)
    if isinstance(exc, BackendPermissionDenied):
        message = f"permission denied: could not {what} ({detail})"
        return VaultPermissionDenied(message, hint=own_hint or DENIED_HINT)
    if isinstance(exc, BackendLocked) or names & _LOCKED_CLASSES or dbus_name in _DBUS_LOCKED:
        return VaultLocked(f"the vault is locked; could not {what} ({detail})", hint=LOCKED_HINT)
    if (
        isinstance(exc, BackendUnavailable | ConnectionError | EOFError)
        or names & _UNAVAILABLE_CLASSES
        or dbus_name in _DBUS_UNAVAILABLE
    ):
        message = f"the vault is not available; could not {what} ({detail})"
        return VaultUnavailable(message, hint=own_hint or UNAVAILABLE_HINT)
    if isinstance(exc, TimeoutError):
        return VaultTimeout(f"the vault did not answer in time; could not {what} ({detail})")
    return VaultError(f"the vault could not {what} ({detail})", hint=own_hint)


def _dbus_error_name(exc: BaseException, names: set[str]) -> str | None:
    """The D-Bus error name of a jeepney DBusErrorResponse, else None."""
    if "jeepney.wrappers.DBusErrorResponse" not in names:
        return None
    name = getattr(exc, "name", None)
    return name if isinstance(name, str) else None


def release_backend_resources(exc: BaseException) -> None:
    """Close D-Bus connections a backend left open when it raised `exc`.

    keyring's Secret Service backend opens a connection per call and closes it only on success: when the
    collection is locked it raises KeyringLocked with the socket still open (found in its frame's locals).
    Without this, each locked call leaks a file descriptor until the garbage collector finds it.
    """
    try:
        from jeepney.io.blocking import DBusConnectionBase
    except ImportError:  # pragma: no cover - jeepney comes with keyring on Linux only
        return
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        for value in list(frame.f_locals.values()):
            if isinstance(value, DBusConnectionBase):
                value.close()
