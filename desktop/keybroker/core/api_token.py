"""The per-install API token: kept in the vault, mirrored in a 0600 file for the CLI (DESIGN §4)."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from keybroker.core.models import SecretValue
from keybroker.core.vault import Vault

TOKEN_ACCOUNT = "keybroker.api-token"  # noqa: S105 - an account name


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


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
    """A new token; the old one stops working."""
    token = SecretValue(secrets.token_urlsafe(32))
    vault.set(TOKEN_ACCOUNT, token)
    _write_private(token_file, token.reveal())
    return token


def matches(expected: SecretValue, presented: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(expected.reveal().encode(), presented.encode())
