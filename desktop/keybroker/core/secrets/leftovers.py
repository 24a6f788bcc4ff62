# SPDX-License-Identifier: Apache-2.0
"""Values in the vault that no catalog row accounts for: found by the vault's own search, removed on request.

A crash, a full disk or (before claims.py) two racing writes can leave a value in the vault under an
account no secret row names: nothing lists it, nothing releases it, and only a search of the vault
finds it. `doctor` reports them and `doctor --fix` removes them (audited `repaired`, never a value).

What counts as accounted for: every secret row's `secret_id`, in any state (a `pending` row's value is
being written by a live writer, or is settled by recovery.py at the next start), the audit head, and
the accounts the caller names (the API token, which the system room owns); a chunk account
(`<account>#<gen>.<i>`) belongs to its main account. The vault is searched *before* the catalog is
read, so a value written after its row (the write order of write.py) is never taken for a leftover.

Backends that cannot list (keyring's macOS keychain and Windows Credential Manager) give `listed=False`:
there only the catalog is known, and nothing can be found or removed this way.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from keybroker.core.audit.head import HEAD_ACCOUNT
from keybroker.core.audit.log import AuditLog
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.models import AuditDecision
from keybroker.core.vault import format as fmt
from keybroker.core.vault.vault import Vault

__all__ = ["Leftovers", "find_leftovers", "remove_leftovers"]


@dataclass(frozen=True, slots=True)
class Leftovers:
    """What a search of the vault found that the catalog does not account for."""

    listed: bool
    """False when the vault cannot be searched (macOS, Windows): `accounts` is then always empty."""
    accounts: tuple[str, ...] = ()
    """The entries no row accounts for, chunk entries included, sorted."""

    @property
    def values(self) -> int:
        """How many values they make up (a value's chunks count once)."""
        return len({_owner_account(a) for a in self.accounts})

    def to_json(self) -> dict[str, object]:
        """A JSON-ready view (account names only)."""
        return {"searched": self.listed, "values": self.values, "accounts": list(self.accounts)}


def _owner_account(account: str) -> str:
    return account.partition(fmt.RESERVED_CHAR)[0]


def _accounted_for(catalog: Catalog, keep: Collection[str]) -> set[str]:
    rows = {str(r[0]) for r in catalog.query("SELECT secret_id FROM secrets")}
    # Model providers' keys (issue 14, core/llm/providers.py) are values too.
    keys = {
        str(r[0])
        for r in catalog.query("SELECT key_account FROM model_providers WHERE key_account IS NOT NULL")
    }
    return rows | keys | {HEAD_ACCOUNT, *keep}


def find_leftovers(catalog: Catalog, vault: Vault, *, keep: Collection[str] = ()) -> Leftovers:
    """Search the vault, then the catalog (in that order: see the module docstring)."""
    stored = vault.accounts()
    if stored is None:
        return Leftovers(listed=False)
    known = _accounted_for(catalog, keep)
    return Leftovers(True, tuple(sorted(a for a in stored if _owner_account(a) not in known)))


def remove_leftovers(
    catalog: Catalog,
    vault: Vault,
    audit: AuditLog,
    found: Leftovers,
    *,
    keep: Collection[str] = (),
    caller: str | None = None,
) -> int:
    """Delete what `find_leftovers` found that the catalog still does not account for; audited.

    Returns how many values went. The catalog is read again first: an account a row names by now
    is kept.
    """
    known = _accounted_for(catalog, keep)
    doomed = [a for a in found.accounts if _owner_account(a) not in known]
    if not doomed:
        return 0
    vault.delete_entries(doomed)
    values = len({_owner_account(a) for a in doomed})
    audit.append(
        AuditDecision.REPAIRED,
        caller=caller,
        detail=f"removed {values} value(s) left in the vault without a catalog record",
    )
    return values
