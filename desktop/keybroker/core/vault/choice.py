"""Choose the OS vault's backend explicitly, and refuse anything that is not a real vault.

keyring's own selection (a module-global backend, `PYTHON_KEYRING_BACKEND`, `keyringrc.cfg`, the chainer) is
never used: with keyrings.alt installed and no vault, it ends in a plaintext file or a `getpass` prompt
(DESIGN §6). We import the one backend class for this platform, check its viability (`check_viable()` or
keyring's `priority` raises when it cannot work here) and build it without keyring's `KEYRING_PROPERTY_*`
environment overrides.

Linux uses `SecretServiceKeyring`, our own Secret Service backend with kept-open connections (see
secret_service_keyring.py: keyring's class opens a connection per call, which crashes gnome-keyring under
load); macOS and Windows use keyring's own classes. A backend is anything with the vault's three calls
(vault_backend.py): this module never imports keyring itself, so on Linux keyring is never loaded (its
imports cost a third of `secrets show --reveal`'s start-up budget, DESIGN §7).
"""

from __future__ import annotations

import importlib
import os
import sys
from contextlib import closing
from typing import Any

from keybroker import APP_ID
from keybroker.core.errors import VaultUnavailable
from keybroker.core.vault.backend import VaultBackend

MEMORY_HINT = "or run with KEYBROKER_VAULT=memory for a session-only vault"

#: platform family -> (backend "module:Class", what to do when it is not usable)
SYSTEM_BACKENDS: dict[str, tuple[str, str]] = {
    "linux": (
        # Not keyring's SecretService.Keyring: kept connected, see secret_service_keyring.py for why.
        "keybroker.core.vault.secret_service:SecretServiceKeyring",
        "install and unlock gnome-keyring (or another Secret Service provider such as KeePassXC or "
        f"KWallet) in your desktop session, {MEMORY_HINT}",
    ),
    "darwin": (
        "keyring.backends.macOS:Keyring",
        f"run Keybroker inside a logged-in macOS session so the login keychain is reachable, {MEMORY_HINT}",
    ),
    "win32": (
        "keyring.backends.Windows:WinVaultKeyring",
        f"install pywin32 so Keybroker can reach the Windows Credential Manager, {MEMORY_HINT}",
    ),
}

#: Windows Credential Manager keeps at most 2560 bytes of UTF-16 per credential
#: (CRED_MAX_CREDENTIAL_BLOB_SIZE).
WINDOWS_CHUNK_LIMIT = 2560

_UNIX_LIKE = ("linux", "freebsd", "openbsd", "netbsd", "dragonfly", "sunos")
_REFUSED_MODULE_PREFIXES = (
    "keyrings.alt",
    "keyrings.cryptfile",
    "keyring.backends.fail",
    "keyring.backends.null",
)
_OS_VAULT_HINT = (
    f"use your OS vault (Secret Service, macOS keychain, Windows Credential Manager), {MEMORY_HINT}"
)
_REFUSED_CLASSES = {
    "keyring.backends.chainer.ChainerBackend": "keyring's chainer (it may fall back to a plaintext file)",
    "keyring.backends.fail.Keyring": "keyring's fail backend (no vault was found)",
    "keyring.backends.null.Keyring": "keyring's null backend (it stores nothing)",
}


def platform_family(platform: str | None = None) -> str | None:
    """`linux`, `darwin` or `win32` for the given `sys.platform` value, None when unsupported."""
    platform = sys.platform if platform is None else platform
    if platform.startswith(_UNIX_LIKE):
        return "linux"
    if platform in ("darwin", "win32"):
        return platform
    return None


def default_chunking(platform: str | None = None) -> tuple[int | None, str]:
    """(per-entry limit in bytes, the encoding it is counted in) for this platform's vault."""
    if platform_family(platform) == "win32":
        return WINDOWS_CHUNK_LIMIT, "utf-16-le"
    # Secret Service and the macOS keychain take far more than the 64 KiB a value may have.
    return None, "utf-8"


def refusal_reason(backend: VaultBackend) -> str | None:
    """Why `backend` is not a vault Keybroker may use (None when it is fine)."""
    for cls in type(backend).__mro__:
        qualified = f"{cls.__module__}.{cls.__qualname__}"
        if qualified in _REFUSED_CLASSES:
            return _REFUSED_CLASSES[qualified]
        if cls.__module__.startswith(_REFUSED_MODULE_PREFIXES) or "plaintext" in cls.__qualname__.lower():
            return f"{qualified} keeps values in a file, not in an OS vault"
    return None


def ensure_real_vault(backend: VaultBackend, *, hint: str | None = None) -> None:
    """Raise VaultUnavailable for a fail, null, chainer or plaintext-file backend."""
    reason = refusal_reason(backend)
    if reason is not None:
        raise VaultUnavailable(
            f"no usable OS vault: Keybroker refuses {reason}",
            hint=hint or _OS_VAULT_HINT,
        )


def load_backend(path: str, *, hint: str | None = None) -> VaultBackend:
    """Import `module:Class`, check it is a vault backend, viable here and a real vault, and build it."""
    module_name, _, class_name = path.partition(":")
    hint = hint or f"check the OS vault, {MEMORY_HINT}"
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise VaultUnavailable(f"no usable OS vault: cannot load {path} ({exc})", hint=hint) from None
    if not (isinstance(cls, type) and issubclass(cls, VaultBackend)):
        raise VaultUnavailable(f"no usable OS vault: {path} is not a vault backend", hint=hint)
    try:
        _check_viable(cls)
    except Exception as exc:
        raise VaultUnavailable(f"no usable OS vault: {path} cannot work here ({exc})", hint=hint) from None
    try:
        backend = _construct(cls)
    except Exception as exc:
        raise VaultUnavailable(f"no usable OS vault: {path} failed to start ({exc})", hint=hint) from None
    ensure_real_vault(backend, hint=hint)
    return backend


def load_system_backend(platform: str | None = None) -> VaultBackend:
    """The OS vault's backend for this platform, or VaultUnavailable with the fix in its hint."""
    family = platform_family(platform)
    if family is None:
        raise VaultUnavailable(
            f"no usable OS vault: Keybroker has no vault backend for platform {platform or sys.platform!r}",
            hint=f"use Linux (Secret Service), macOS or Windows, {MEMORY_HINT}",
        )
    path, hint = SYSTEM_BACKENDS[family]
    return load_backend(path, hint=hint)


def _check_viable(cls: type) -> None:
    """Raise when the backend cannot work here: our backends' `check_viable()`, else keyring's `priority`."""
    check = getattr(cls, "check_viable", None)
    if callable(check):
        check()
        return
    keyring_class: Any = cls  # keyring's backends: `priority` is a class property that raises when unusable
    keyring_class.priority  # noqa: B018 - evaluated for its exception only


def _construct(cls: type[VaultBackend]) -> VaultBackend:
    """Build a backend, then undo what keyring's environment variables changed on it."""
    backend = cls()
    for key in os.environ:
        if key.startswith("KEYRING_PROPERTY_"):
            vars(backend).pop(key.removeprefix("KEYRING_PROPERTY_").lower(), None)
    if hasattr(cls, "keychain"):  # macOS: KEYCHAIN_PATH is read at import time; keyring ignores it anyway
        vars(backend)["keychain"] = None
    if hasattr(cls, "appid"):  # Secret Service: the `application` attribute of the items we create
        vars(backend)["appid"] = APP_ID
    return backend


def backend_display_name(backend: VaultBackend) -> str:
    """e.g. `SecretService (keyring.backends.SecretService.Keyring)`."""
    cls = type(backend)
    short = getattr(cls, "display_name", None)
    if not isinstance(short, str):
        short = cls.__module__.rpartition(".")[2]
    return f"{short} ({cls.__module__}.{cls.__qualname__})"


def secret_service_locked(backend: VaultBackend) -> bool | None:
    """Whether a Secret Service backend's collection is locked, asked without opening a prompt.

    None for other backends (they can only tell by trying, which may prompt). A missing default collection
    counts as locked: the backend would open a prompt to create one.
    """
    collection_locked = getattr(backend, "collection_locked", None)
    if callable(collection_locked):  # SecretServiceKeyring: on its kept-open connection
        return bool(collection_locked())
    # keyring's own Secret Service backend (given to Vault directly): if it exists, its module is loaded.
    stock = sys.modules.get("keyring.backends.SecretService")
    if stock is None or not isinstance(backend, stock.Keyring):
        return None
    import secretstorage
    from secretstorage.exceptions import ItemNotFoundException

    path = getattr(backend, "preferred_collection", None) or "/org/freedesktop/secrets/aliases/default"
    with closing(secretstorage.dbus_init()) as connection:
        try:
            return bool(secretstorage.Collection(connection, path).is_locked())
        except ItemNotFoundException:
            return True
