# SPDX-License-Identifier: Apache-2.0
"""What was released to an agent before, read back for the bridge to cut after a restart or a lock.

The bridge remembers the values it released to each agent only in memory (DESIGN §4), and an agent may
echo one in any later answer (`tasks/get` on a task from last week). After a restart or a lock that
memory is empty; this rebuilds it from what is kept anyway: the audit names every secret released to
the agent (`released` events), the vault holds its value. Nothing new is written anywhere.

The rebuild is *complete* only when every value released to the agent is still the one in the vault:
a secret whose value was replaced (an `updated` event saying so, or a crash repair) after it was first
released to the agent, or that is gone from the catalog or the vault, or a vault that cannot be read,
or more values than the bridge keeps, makes it incomplete, and `problem` says why (never a value). The
bridge then refuses to answer about tasks from before (bridge/released.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import VaultError
from keybroker.core.models import AuditDecision, SecretValue
from keybroker.core.ports import AsyncVault

__all__ = ["PastReleases", "past_releases"]


@dataclass(frozen=True, slots=True, repr=False)
class PastReleases:
    """The values released to one agent before now, and whether that is all of them."""

    values: Sequence[SecretValue]
    complete: bool
    problem: str | None = None

    def __repr__(self) -> str:
        return f"PastReleases({len(self.values)} values, complete={self.complete})"


def _changes_value(decision: str, detail: str | None) -> bool:
    """Whether an audit event about a secret may mean its value changed (metadata edits do not)."""
    if decision == AuditDecision.REPAIRED.value:
        return True
    return detail is None or "value" in detail  # "value replaced", "changed: name, value"


async def past_releases(catalog: Catalog, vault: AsyncVault, agent: str, *, limit: int) -> PastReleases:
    """The current values of every secret released to `agent`, most recent first (at most `limit`)."""
    released = catalog.query(
        "SELECT secret_id, MIN(ts), MAX(ts) FROM audit WHERE agent = ? AND decision = ? "
        "AND secret_id IS NOT NULL GROUP BY secret_id ORDER BY MAX(ts) DESC",
        (agent, AuditDecision.RELEASED.value),
    )
    if not released:
        return PastReleases((), complete=True)
    first = {str(row[0]): float(row[1]) for row in released}
    changes = catalog.query(
        "SELECT secret_id, ts, decision, detail FROM audit WHERE decision IN (?, ?) AND ts >= ?",
        (AuditDecision.UPDATED.value, AuditDecision.REPAIRED.value, min(first.values())),
    )
    changed = {
        str(row[0])
        for row in changes
        if str(row[0]) in first and float(row[1]) >= first[str(row[0])] and _changes_value(row[2], row[3])
    }
    problems: list[str] = []
    if changed:
        problems.append(f"{len(changed)} value(s) released to it were replaced since")
    if len(first) > limit:
        problems.append(f"more than {limit} values were released to it")
    values: list[SecretValue] = []
    gone = 0
    for secret_id in list(first)[:limit]:
        if catalog.find_secret_by_id(secret_id) is None:
            gone += 1
            continue
        try:
            value = await vault.aget(secret_id)
        except VaultError as exc:
            problems.append(f"the vault could not be read ({exc.message})")
            return PastReleases(tuple(values), complete=False, problem="; ".join(problems))
        if value is None:
            gone += 1
        else:
            values.append(value)
    if gone:
        problems.append(f"{gone} value(s) released to it were removed since")
    return PastReleases(tuple(values), complete=not problems, problem="; ".join(problems) or None)
