"""`keybroker purge`: every Keybroker value out of the vault, every record out of the catalog."""

from __future__ import annotations

from keybroker.core.api_token import TOKEN_ACCOUNT
from keybroker.core.models import AuditDecision
from keybroker.core.services import Services


def purge_everything(svc: Services, *, caller: str | None = None) -> int:
    """Delete each value (marking rows first so a crash finishes the job), then the catalog rows."""
    ids = svc.catalog.all_secret_ids()
    for secret_id in ids:
        svc.catalog.set_secret_state(secret_id, "deleting")
    for secret_id in ids:
        svc.vault.delete(secret_id)
    svc.catalog.purge()
    svc.vault.delete(TOKEN_ACCOUNT)
    svc.paths.token_file.unlink(missing_ok=True)
    svc.audit.append(AuditDecision.PURGED, caller=caller, detail=f"{len(ids)} secret(s) removed")
    return len(ids)
