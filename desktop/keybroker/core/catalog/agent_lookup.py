"""The bridge's agent lookup by slug, remembered until the catalog changes (issue 16).

Every request through the bridge names its agent by slug; reading the row each time is one SQLite
read per request in the steady state. `RememberedAgents` answers from memory while the catalog's
`change_stamp` stays (db.py: this process's writes and SQLite's `data_version`, which another
process such as the CLI moves), so an agent added, removed, refreshed or given a new card is seen by
the next request. While another thread holds the connection (an audit group commit being synced) it
answers from memory when this process wrote nothing since, and waits otherwise.
"""

from __future__ import annotations

from keybroker.core.catalog.catalog import Catalog
from keybroker.core.models import AgentRecord

__all__ = ["RememberedAgents"]

#: Slugs remembered at most (unknown ones included); beyond it the memory starts again.
_MAX_REMEMBERED = 1024


class RememberedAgents:
    """`Catalog.find_agent`, remembered while the catalog is unchanged (module docstring)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._stamp: tuple[int, int] | None = None
        self._agents: dict[str, AgentRecord | None] = {}

    def __call__(self, slug: str) -> AgentRecord | None:
        """The agent with this slug, or None."""
        stamp = self._current()
        if stamp != self._stamp or len(self._agents) >= _MAX_REMEMBERED:
            self._agents = {}
            self._stamp = stamp
        if slug in self._agents:
            return self._agents[slug]
        record = self._catalog.find_agent(slug)
        self._agents[slug] = record
        return record

    def _current(self) -> tuple[int, int]:
        known = self._stamp
        if known is not None and known[0] == self._catalog.generation:
            stamp = self._catalog.try_change_stamp()
            if stamp is None:
                return known
            return stamp
        return self._catalog.change_stamp()
