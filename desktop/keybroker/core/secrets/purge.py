"""`keybroker purge`: every Keybroker entry out of the vault, every record out of the catalog.

"Every entry" is what a search of the vault finds under Keybroker's service, whatever the catalog says:
the values of the catalog's secrets, values no row names any more (leftovers.py), their chunks, the
audit head and the API token. The audit log goes too (its head in the vault is gone, and a log
without its head would no longer verify); the purge is logged, not audited. Where the vault cannot be
searched (keyring's macOS and Windows backends) the catalog's secrets, the head and `also` are all
that can be found.

Order: rows marked `deleting`, their values deleted (a crash is finished by the next start's repair),
then the catalog emptied, then whatever the vault still holds under the service. A vault that refuses
(locked, gone) stops the purge and the error says what was done.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from keybroker.core.audit.head import HEAD_ACCOUNT
from keybroker.core.errors import VaultError, VaultLocked, VaultUnavailable
from keybroker.core.ports import Stores
from keybroker.core.vault.backend import parse_team_account

log = logging.getLogger("keybroker.secrets")


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What `purge_everything` removed."""

    secrets: int
    """Secrets the catalog listed, values and records."""
    entries: int
    """Further vault entries the vault's own search found (leftovers, chunks, the head, the token)."""
    searched: bool
    """False when the vault cannot be searched: only what the catalog names could be removed."""


def purge_everything(svc: Stores, *, also: Sequence[str] = (), caller: str | None = None) -> PurgeResult:
    """Delete every value (marking rows first so a crash finishes the job), then the catalog, then what
    else the vault holds under Keybroker's service (`also`: accounts to remove where it cannot search).

    A vault that refuses while the catalog's values are deleted puts the rows whose values are still
    there back to `ready`, so what the error says is what happened; the values already deleted have
    their rows finished by the next start's repair.
    """
    # A team's secret is read-only here (the team vault keeps it): only its record goes.
    ids = [i for i in svc.catalog.all_secret_ids() if parse_team_account(i) is None]
    for secret_id in ids:
        svc.catalog.set_secret_state(secret_id, "deleting")
    for done, secret_id in enumerate(ids):
        try:
            svc.vault.delete(secret_id)
        except (VaultLocked, VaultUnavailable) as exc:
            for kept in ids[done:]:
                svc.catalog.set_secret_state(kept, "ready")
            gone = f"{done} of {len(ids)} value(s) were deleted before it" if done else "nothing was deleted"
            exc.add_hint(gone)
            raise
    svc.audit.flush()
    svc.catalog.purge(audit=True)
    try:
        stored = svc.vault.accounts()
        searched = stored is not None
        rest = stored if stored is not None else [HEAD_ACCOUNT, *also]
        entries = svc.vault.delete_entries(rest)
    except VaultError as exc:
        exc.add_hint(
            f"the {len(ids)} secret(s) and the catalog were removed; run `keybroker purge` again to "
            "remove what the vault still holds"
        )
        raise
    log.warning(
        "purged by %s: %d secret(s), %d further vault entries, the catalog and the audit log",
        caller or "an unknown caller",
        len(ids),
        entries,
    )
    return PurgeResult(len(ids), entries, searched)
