"""Opens the core's objects over one data home: the CLI's composition (the app's is `app.py`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keybroker.core.agents.registry import AgentRegistry
from keybroker.core.audit.head import VaultHeadStore
from keybroker.core.audit.log import AuditLog
from keybroker.core.broker.grant_book import GrantBook
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import CatalogError, VaultError
from keybroker.core.ports import Clock, SystemClock
from keybroker.core.secrets.recovery import repair
from keybroker.core.secrets.store import SecretStore
from keybroker.core.vault.vault import Vault
from keybroker.system.paths import Paths
from keybroker.system.vault_choice import open_chosen_vault

if TYPE_CHECKING:
    from keybroker.core.a2a.card_fetch import FetchedCard

log = logging.getLogger("keybroker")


def _fetch_card(url: str) -> FetchedCard:
    # Imported here: httpx and card parsing cost ~100 ms that most commands never need.
    from keybroker.core.a2a.card_fetch import fetch_card_sync

    return fetch_card_sync(url)


@dataclass
class Services:
    """Everything a command needs, wired once."""

    paths: Paths
    vault: Vault
    catalog: Catalog
    audit: AuditLog
    secrets: SecretStore
    agents: AgentRegistry
    grants: GrantBook
    repairs: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Write the last audit head, close the catalog and stop the vault worker."""
        self.audit.close()
        self.catalog.close()
        self.vault.close()


def open_services(
    *,
    environ: Mapping[str, str] | None = None,
    vault: Vault | None = None,
    clock: Clock | None = None,
    fetch: Callable[[str], FetchedCard] | None = None,
    long_running: bool = False,
) -> Services:
    """Open the data home: vault, catalog (migrated), audit; repair what a crash left behind.

    `long_running` (the app, `serve`) writes the audit head in the background, off the release path.
    """
    paths = Paths.from_env(environ)
    paths.ensure()
    vault = vault or open_chosen_vault(os.environ if environ is None else environ, paths)
    try:
        catalog = Catalog(paths.catalog_db, clock=clock or SystemClock())
    except BaseException:
        vault.close()
        raise
    vault.account_names = _secret_names(catalog)
    audit = AuditLog(
        catalog, VaultHeadStore(vault), head_required=not vault.is_memory, deferred_head=long_running
    )
    services = Services(
        paths=paths,
        vault=vault,
        catalog=catalog,
        audit=audit,
        secrets=SecretStore(catalog, vault, audit),
        agents=AgentRegistry(catalog, audit, fetch or _fetch_card),
        grants=GrantBook(catalog, audit),
    )
    try:
        services.repairs = repair(catalog, vault, audit)
    except (VaultError, CatalogError) as exc:
        # Repair is housekeeping: a locked vault or a full disk must not stop the command itself (the
        # rows stay unsettled, hidden from listings, and are repaired at a later start).
        log.warning("could not repair what a crash left behind, trying again at the next start: %s", exc)
    return services


def _secret_names(catalog: Catalog) -> Callable[[str], str | None]:
    """secret_id -> "'KEY' of agent S" / "shared 'KEY'", for the vault's error messages (any state:
    the failing write may be of a row still pending)."""

    def name(secret_id: str) -> str | None:
        rows = catalog.query("SELECT key, owner FROM secrets WHERE secret_id = ?", (secret_id,))
        if not rows:
            return None
        key, owner = rows[0][0], rows[0][1]
        return f"{key!r} of agent {owner}" if owner else f"shared {key!r}"

    return name
