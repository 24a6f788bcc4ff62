"""`keybroker purge`: every Keybroker value out of the vault, every record out of the catalog."""

from __future__ import annotations

from collections.abc import Sequence

from keybroker.core.errors import VaultLocked, VaultUnavailable
from keybroker.core.models import AuditDecision
from keybroker.core.ports import Stores
from keybroker.core.vault.backend import parse_team_account


def purge_everything(svc: Stores, *, also: Sequence[str] = (), caller: str | None = None) -> int:
    """Delete each value (marking rows first so a crash finishes the job), then the catalog rows.

    A vault that refuses (locked, gone) stops the purge: the rows whose values are still there go back
    to `ready`, so what the error says is what happened, and nothing is deleted later behind the user's
    back; the values already deleted have their rows finished by the next start's repair.
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
    svc.catalog.purge()
    for account in also:
        svc.vault.delete(account)
    svc.audit.append(AuditDecision.PURGED, caller=caller, detail=f"{len(ids)} secret(s) removed")
    return len(ids)
