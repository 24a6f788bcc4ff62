"""Repair what a crash left between the vault and the catalog (write orders: `write.py`, `store.py`).

A `pending` row whose writer is gone: the value either reached the vault (finish: the row becomes
`ready`) or did not (undo: the row goes). A `deleting` row whose writer is gone: finish the delete.
Rows whose writer still runs (another process mid-write) are left alone. A row that cannot be settled
now (a locked vault, a full disk) is logged and left for the next start: repair runs as every command
opens its services, and a locked vault must never stop a read-only command such as `secrets list`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from keybroker.core.catalog.claims import writer_alive
from keybroker.core.errors import CatalogError, VaultError
from keybroker.core.models import AuditDecision

if TYPE_CHECKING:
    from keybroker.core.audit.log import AuditLog
    from keybroker.core.catalog.catalog import Catalog, UnsettledSecret
    from keybroker.core.vault.vault import Vault

log = logging.getLogger("keybroker.recovery")


def repair(catalog: Catalog, vault: Vault, audit: AuditLog) -> list[str]:
    """Settle every row a dead writer left behind; returns one line per repair (no values)."""
    done: list[str] = []
    now = catalog.clock.now()
    for row in catalog.unsettled_secrets():
        if writer_alive(row.pid, row.since, now):
            continue
        rec = row.record
        label = f"{rec.key!r} ({'shared' if rec.owner is None else 'agent ' + rec.owner})"
        try:
            what = _settle(catalog, vault, row, label)
        except VaultError as exc:
            # Every other row would ask the same vault (and a locked one may prompt each time): stop.
            log.warning("could not repair %s now, left for the next start: %s", label, exc)
            break
        except CatalogError as exc:
            log.warning("could not repair %s now, left for the next start: %s", label, exc)
            continue
        try:
            audit.append(
                AuditDecision.REPAIRED, agent=rec.owner, key=rec.key, secret_id=rec.secret_id, detail=what
            )
        except (VaultError, CatalogError) as exc:
            log.warning("repaired %s but could not audit it: %s", label, exc)
        log.warning("repaired after a crash: %s", what)
        done.append(what)
    return done


def _settle(catalog: Catalog, vault: Vault, row: UnsettledSecret, label: str) -> str:
    """Finish or undo one row; returns what was done."""
    rec = row.record
    if row.state == "pending":
        if vault.exists(rec.secret_id):
            catalog.set_secret_state(rec.secret_id, "ready")
            return f"finished storing {label}: its value had reached the vault"
        catalog.delete_secret(rec.secret_id)
        return f"dropped the record of {label}: its value never reached the vault"
    vault.delete(rec.secret_id)
    catalog.delete_secret(rec.secret_id)
    return f"finished deleting {label}"
