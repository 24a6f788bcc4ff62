"""The per-install API token: kept in the vault, mirrored in a 0600 file for the CLI (DESIGN §4).

The vault holds the truth; the file is a mirror that `load_or_create` rewrites whenever it disagrees.
`rotate` keeps both in step even on a full disk: the new file is staged (written and synced beside the
old one) before the vault changes, and only the rename, which needs no free space, follows the vault.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from keybroker.core.errors import DiskError
from keybroker.core.models import SecretValue
from keybroker.core.vault.vault import Vault

TOKEN_ACCOUNT = "keybroker.api-token"  # noqa: S105 - an account name


def _tmp_path(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _disk_error(path: Path, exc: OSError) -> DiskError:
    return DiskError(
        f"cannot write the API token file {path}: {exc.strerror or exc}",
        hint="free some disk space (or fix the folder's permissions) and try again",
    )


def _stage(path: Path, text: str) -> Path:
    """Write `text` to a synced 0600 temp file beside `path`; `DiskError` (and no temp file) on failure."""
    tmp = _tmp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            data = text.encode("ascii")
            if os.write(fd, data) != len(data):
                raise OSError(28, "short write (is the disk full?)")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _disk_error(path, exc) from None
    return tmp


def _commit(tmp: Path, path: Path) -> None:
    try:
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _disk_error(path, exc) from None


def _write_private(path: Path, text: str) -> None:
    _commit(_stage(path, text), path)


def load_or_create(vault: Vault, token_file: Path) -> SecretValue:
    """The token, created on first use; the file is rewritten when it disagrees with the vault."""
    token = vault.get(TOKEN_ACCOUNT)
    if token is None or not token.reveal():
        token = SecretValue(secrets.token_urlsafe(32))
        vault.set(TOKEN_ACCOUNT, token)
    try:
        on_disk = token_file.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        on_disk = ""
    if not hmac.compare_digest(on_disk.encode(), token.reveal().encode()):
        _write_private(token_file, token.reveal())
    return token


def rotate(vault: Vault, token_file: Path) -> SecretValue:
    """A new token; the old one stops working. On any failure the old token stays in both places."""
    old = vault.get(TOKEN_ACCOUNT)
    token = SecretValue(secrets.token_urlsafe(32))
    tmp = _stage(token_file, token.reveal())  # the step that needs disk space: before the vault changes
    try:
        vault.set(TOKEN_ACCOUNT, token)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        _commit(tmp, token_file)
    except DiskError:
        # The file still holds the old token: put it back in the vault too, so the two agree.
        if old is not None:
            vault.set(TOKEN_ACCOUNT, old)
        else:
            vault.delete(TOKEN_ACCOUNT)
        raise
    return token


def matches(expected: SecretValue, presented: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(expected.reveal().encode(), presented.encode())
