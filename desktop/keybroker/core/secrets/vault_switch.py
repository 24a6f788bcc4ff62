# SPDX-License-Identifier: Apache-2.0
"""Moving the values to another vault backend (`keybroker vault use`): copied, verified, audited, and
taken off the old side only when the user asks.

`copy_values` copies each value (and this install's own entries: the API token, the audit head) and reads
it back from the new vault. Any failure takes back what was copied (the new vault's previous values are
put back), so a switch is whole or nothing: the caller saves the new choice only after it succeeds.
`remove_old` deletes the copied values from the vault that was left, checking each is gone, and says
what it could not delete. Team secrets are not copied: they live in the team vault's team paths.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from keybroker.core.audit.head import HEAD_ACCOUNT
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import KeybrokerError, VaultError
from keybroker.core.models import SecretValue
from keybroker.core.vault.vault import Vault

log = logging.getLogger("keybroker.secrets")

#: This install's own entries that move with the values (system/api_token.py's account, the audit head).
INSTALL_ACCOUNTS = ("keybroker.api-token", HEAD_ACCOUNT)


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What `copy_values` copied, and the records whose value the old vault did not hold."""

    copied: tuple[str, ...]
    missing: tuple[str, ...]
    previous: tuple[tuple[str, SecretValue | None], ...] = field(default=(), repr=False)
    """The new vault's values before the copy, to take it back (`undo`)."""

    def undo(self, new: Vault) -> list[str]:
        """Take the copy back (a later step of the switch failed); returns the accounts left as copied."""
        return _take_back(new, list(self.previous))


def accounts_to_move(catalog: Catalog) -> list[str]:
    """Every value the catalog knows of (team secrets excluded), then this install's own entries."""
    ids = [r.secret_id for r in catalog.list_secrets() if r.team is None]
    return [*ids, *INSTALL_ACCOUNTS]


def copy_values(old: Vault, new: Vault, accounts: Sequence[str]) -> CopyResult:
    """Copy and verify each account's value; on any failure, take every copy back and raise."""
    copied: list[tuple[str, SecretValue | None]] = []
    missing: list[str] = []
    try:
        for account in accounts:
            value = old.get(account)
            if value is None:
                missing.append(account)
                continue
            previous = new.get(account)
            copied.append((account, previous))
            new.set(account, value)
            if new.get(account) != value:
                raise VaultError(f"the copy of {account!r} does not read back the same from {new.describe()}")
    except BaseException as exc:
        left = _take_back(new, copied)
        if isinstance(exc, KeybrokerError):
            undone = "the copies were taken back" if not left else f"could not take back {left}"
            exc.add_hint(f"nothing was switched; {undone}")
        raise
    return CopyResult(
        tuple(a for a, _ in copied),
        tuple(m for m in missing if m not in INSTALL_ACCOUNTS),
        tuple(copied),
    )


def _take_back(new: Vault, copied: list[tuple[str, SecretValue | None]]) -> list[str]:
    left: list[str] = []
    for account, previous in reversed(copied):
        try:
            if previous is None:
                new.delete(account)
            else:
                new.set(account, previous)
        except KeybrokerError as exc:
            log.warning("could not take back the copy of %s: %s", account, exc.message)
            left.append(account)
    return left


def remove_old(old: Vault, accounts: Sequence[str]) -> list[str]:
    """Delete `accounts` from the vault that was left; returns those still there (never raises for one)."""
    left: list[str] = []
    for account in accounts:
        try:
            old.delete(account)
            if old.exists(account):
                left.append(account)
        except KeybrokerError as exc:
            log.warning("could not remove %s from the old vault: %s", account, exc.message)
            left.append(account)
    return left
