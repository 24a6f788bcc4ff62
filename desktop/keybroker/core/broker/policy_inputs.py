"""What release decisions read from the catalog (secret records, grants), remembered until it changes.

A granted request should cost no SQLite read in the steady state (issue 16). `PolicyInputs` keeps the
ready secret records and every grant, and reads them again only when the catalog's `change_stamp`
moved: a grant given or revoked, a secret stored, updated or removed, an agent added or removed, a
lock, here or in another process (the CLI; SQLite's `data_version`). Decisions themselves are not
remembered: `policy.decide` runs on these inputs each time, with the current clock, so a grant that
expires ends without any write.

The stamp is read before the rows, so a commit landing in between only makes the next call read again.
A caller that must not wait for the connection (the fast path, while a group commit syncs) may take
the last inputs (`wait=False`) when this process wrote nothing since; a release decided on them is
checked against the stamp inside the audit's write transaction (audit/group.py), which refuses it
when anything changed since, in any process.
"""

from __future__ import annotations

from keybroker.core.catalog.catalog import Catalog
from keybroker.core.models import Grant, SecretRecord

#: (this process's policy commits, SQLite's data_version): see `Database.change_stamp`.
Stamp = tuple[int, int]


class PolicyInputs:
    """The catalog rows `policy.decide` needs, re-read only when the catalog changed (module docstring)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._stamp: Stamp | None = None
        self._secrets: list[SecretRecord] = []
        self._by_key: dict[str, list[SecretRecord]] = {}
        self._grants: dict[str, list[Grant]] = {}
        self.reads = 0
        """How often the rows were read (tests count it)."""

    def refresh(self, *, wait: bool = True, local: bool = False) -> tuple[Stamp, frozenset[str]]:
        """(the stamp the inputs rest on, the secret ids whose record changed or went since last time).

        `wait=False` keeps the last inputs while another thread holds the connection, unless this
        process changed the catalog since they were read. `local` (with `wait=False`): the caller
        cares only for this process's own changes (a task's grants, which no other process gives), so
        the last inputs are kept without reading SQLite's `data_version` when it wrote nothing since."""
        known = self._stamp
        # Without waiting only when this process wrote nothing since: the stamp left to check then is
        # another process's, which the audit's transaction checks again (module docstring).
        quick = not wait and known is not None and known[0] == self._catalog.generation
        if quick and local and known is not None:
            return known, frozenset()
        stamp = self._catalog.try_change_stamp() if quick else None
        if stamp is None:
            if quick and known is not None:
                return known, frozenset()
            stamp = self._catalog.change_stamp()
        if stamp == known:
            return stamp, frozenset()
        before = {r.secret_id: r.updated for r in self._secrets}
        secrets = self._catalog.list_secrets()
        grants: dict[str, list[Grant]] = {}
        for grant in self._catalog.list_grants():
            grants.setdefault(grant.agent, []).append(grant)
        by_key: dict[str, list[SecretRecord]] = {}
        for record in secrets:
            by_key.setdefault(record.key, []).append(record)
        self._secrets, self._by_key, self._grants = secrets, by_key, grants
        self._stamp = stamp
        self.reads += 1
        after = {r.secret_id: r.updated for r in secrets}
        changed = frozenset(sid for sid, updated in before.items() if after.get(sid) != updated)
        return stamp, changed

    @property
    def stamp(self) -> Stamp | None:
        """The stamp the inputs were last read at (None: never read)."""
        return self._stamp

    def secrets(self, key: str | None = None) -> list[SecretRecord]:
        """Ready secret records (of one key), as `Catalog.list_secrets` gives them."""
        return list(self._secrets if key is None else self._by_key.get(key, ()))

    def grants_of(self, agent: str) -> list[Grant]:
        """The agent's grants, as `Catalog.list_grants(agent=...)` gives them."""
        return list(self._grants.get(agent, ()))

    def all_grants(self) -> list[Grant]:
        """Every grant, as `Catalog.list_grants()` gives them (grouped by agent)."""
        return [g for grants in self._grants.values() for g in grants]
