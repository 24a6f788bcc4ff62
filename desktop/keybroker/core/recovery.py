"""Repair what a crash left between the vault and the catalog (see `core/secret_store.py`).

A `pending` row whose writer is gone: the value either reached the vault (finish: the row becomes
`ready`) or did not (undo: the row goes). A `deleting` row whose writer is gone: finish the delete.
Rows whose writer still runs (another process mid-write) are left alone.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from keybroker.core.models import AuditDecision

if TYPE_CHECKING:
    from keybroker.core.audit import AuditLog
    from keybroker.core.catalog import Catalog, UnsettledSecret
    from keybroker.core.vault import Vault

log = logging.getLogger("keybroker.recovery")

#: A writer that has held a row this long is presumed dead even if its pid was reused.
STALE_AFTER_SECONDS = 120.0


def _writer_alive(row: UnsettledSecret, now: float) -> bool:
    if row.pid is None or row.since is None or now - row.since > STALE_AFTER_SECONDS:
        return False
    if row.pid == os.getpid():
        return False
    try:
        os.kill(row.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def repair(catalog: Catalog, vault: Vault, audit: AuditLog) -> list[str]:
    """Settle every row a dead writer left behind; returns one line per repair (no values)."""
    done: list[str] = []
    now = catalog.clock.now()
    for row in catalog.unsettled_secrets():
        if _writer_alive(row, now):
            continue
        rec = row.record
        label = f"{rec.key!r} ({'shared' if rec.owner is None else 'agent ' + rec.owner})"
        if row.state == "pending":
            if vault.exists(rec.secret_id):
                catalog.set_secret_state(rec.secret_id, "ready")
                what = f"finished storing {label}: its value had reached the vault"
            else:
                catalog.delete_secret(rec.secret_id)
                what = f"dropped the record of {label}: its value never reached the vault"
        else:
            vault.delete(rec.secret_id)
            catalog.delete_secret(rec.secret_id)
            what = f"finished deleting {label}"
        audit.append(
            AuditDecision.REPAIRED, agent=rec.owner, key=rec.key, secret_id=rec.secret_id, detail=what
        )
        log.warning("repaired after a crash: %s", what)
        done.append(what)
    return done
