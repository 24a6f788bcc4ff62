# SPDX-License-Identifier: Apache-2.0
"""Team secrets: catalog records for the read-only secrets a team vault lists, kept in step with it.

A team's secret (`<teams_path>/<team>/<KEY>` in OpenBao) gets a record with no owner and its team; its
`secret_id` is the vault account that reads it (`team:<team>:<KEY>`), so the value is never copied. It
is released like a shared value (a prompt per agent the first time, policy.py), and it cannot be
changed or removed here (store.py refuses). Which secrets a user sees is OpenBao's policy: a team the
token may not list is reported and its records are left as they were.

`sync_team_secrets` adds records for new entries and removes those whose entry is gone (their grants
go with them), each audited; it runs when the app starts, on `keybroker vault sync` and before
`keybroker secrets list`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from keybroker.core.audit.log import AuditLog
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import InvalidInputError
from keybroker.core.models import AuditDecision, SecretRecord, validate_key
from keybroker.core.vault.extras import team_listing
from keybroker.core.vault.vault import Vault

log = logging.getLogger("keybroker.secrets")


@dataclass(frozen=True, slots=True)
class TeamSync:
    """What a sync changed (`team/KEY` each) and the teams it could not list, why in a sentence."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    removed_ids: tuple[str, ...] = ()
    """The secret_ids of the records removed (a running broker forgets their values)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {"added": list(self.added), "removed": list(self.removed), "problems": list(self.problems)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TeamSync:
        """The sync `to_json` described (the management API's answer)."""
        return cls(tuple(data["added"]), tuple(data["removed"]), tuple(data["problems"]))


def sync_team_secrets(
    catalog: Catalog, vault: Vault, audit: AuditLog, *, caller: str | None = None
) -> TeamSync:
    """Bring the team records in step with what the vault lists (module docstring)."""
    listing = team_listing(vault)
    listed = {e.account: e for e in listing.entries}
    added: list[str] = []
    removed: list[str] = []
    removed_ids: list[str] = []
    problems = list(listing.problems)
    for record in (r for r in catalog.list_secrets() if r.team is not None):
        gone_team = record.team not in listing.configured
        gone_entry = record.team in listing.teams and record.secret_id not in listed
        if gone_team or gone_entry:
            catalog.delete_secret(record.secret_id)
            why = "its team is no longer set up" if gone_team else "it is no longer in the team vault"
            audit.append(
                AuditDecision.DELETED,
                key=record.key,
                secret_id=record.secret_id,
                caller=caller,
                detail=f"team {record.team}: {why}",
            )
            removed.append(f"{record.team}/{record.key}")
            removed_ids.append(record.secret_id)
    now = catalog.clock.now()
    for account, entry in listed.items():
        if catalog.find_secret_by_id(account) is not None:
            continue
        try:
            validate_key(entry.key)
        except InvalidInputError as exc:
            problems.append(f"team {entry.team}: skipped an entry whose name is not a valid key ({exc})")
            continue
        record = SecretRecord(
            secret_id=account,
            key=entry.key,
            owner=None,
            name=entry.key,
            created=now,
            updated=now,
            team=entry.team,
        )
        catalog.insert_secret(record, state="ready")
        audit.append(
            AuditDecision.CREATED,
            key=entry.key,
            secret_id=account,
            caller=caller,
            detail=f"team {entry.team}: listed by the team vault",
        )
        added.append(f"{entry.team}/{entry.key}")
    if added or removed:
        log.info("team secrets: %d added, %d removed", len(added), len(removed))
    return TeamSync(tuple(added), tuple(removed), tuple(problems), tuple(removed_ids))
