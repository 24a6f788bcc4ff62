"""The API token: vault and file never disagree, even when the disk is full."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from keybroker.core.errors import DiskError, VaultLocked
from keybroker.core.models import SecretValue
from keybroker.core.vault.vault import Vault, open_vault
from keybroker.system import api_token


@pytest.fixture
def vault() -> Iterator[Vault]:
    with open_vault("memory") as v:
        yield v


def _disk_full(fd: int, data: bytes) -> int:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_rotate_on_a_full_disk_changes_nothing(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "config" / "api-token"
    old = api_token.load_or_create(vault, token_file)
    monkeypatch.setattr(os, "write", _disk_full)
    with pytest.raises(DiskError) as info:
        api_token.rotate(vault, token_file)
    assert info.value.exit_code == 1 and "free some disk space" in (info.value.hint or "")
    assert vault.get(api_token.TOKEN_ACCOUNT) == old
    assert token_file.read_text("ascii") == old.reveal()
    assert sorted(p.name for p in token_file.parent.iterdir()) == ["api-token"]  # no api-token.tmp


def test_rotate_on_a_locked_vault_changes_nothing(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "config" / "api-token"
    old = api_token.load_or_create(vault, token_file)

    def locked(account: str, value: SecretValue) -> None:
        raise VaultLocked("the vault is locked")

    monkeypatch.setattr(vault, "set", locked)
    with pytest.raises(VaultLocked):
        api_token.rotate(vault, token_file)
    assert token_file.read_text("ascii") == old.reveal()
    assert sorted(p.name for p in token_file.parent.iterdir()) == ["api-token"]


def test_rotate_whose_rename_fails_puts_the_old_token_back_in_the_vault(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "config" / "api-token"
    old = api_token.load_or_create(vault, token_file)

    def rename_fails(self: Path, target: Path) -> Path:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Path, "replace", rename_fails)
    with pytest.raises(DiskError):
        api_token.rotate(vault, token_file)
    assert vault.get(api_token.TOKEN_ACCOUNT) == old
    assert token_file.read_text("ascii") == old.reveal()
    assert sorted(p.name for p in token_file.parent.iterdir()) == ["api-token"]


def test_rotate_replaces_both(vault: Vault, tmp_path: Path) -> None:
    token_file = tmp_path / "config" / "api-token"
    old = api_token.load_or_create(vault, token_file)
    new = api_token.rotate(vault, token_file)
    assert new != old
    assert vault.get(api_token.TOKEN_ACCOUNT) == new
    assert token_file.read_text("ascii") == new.reveal()
    assert token_file.stat().st_mode & 0o777 == 0o600


def test_a_first_token_on_a_full_disk_is_a_clear_error(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "config" / "api-token"
    monkeypatch.setattr(os, "write", _disk_full)
    with pytest.raises(DiskError):
        api_token.load_or_create(vault, token_file)
    assert list(token_file.parent.iterdir()) == []
    monkeypatch.undo()
    # The vault keeps the token it made; the file is written as soon as there is space.
    token = api_token.load_or_create(vault, token_file)
    assert token_file.read_text("ascii") == token.reveal()
