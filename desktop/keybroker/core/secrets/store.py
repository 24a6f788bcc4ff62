"""Secrets as the user manages them: the value in the vault, the record in the catalog, the event in
the audit log, kept consistent across crashes.

Create and replace go through `write_secret` (write.py, which gives their write order; undo.py takes a
failed one back); `SecretStore.set` runs it over the blocking vault. Delete order (see
`core/secrets/recovery.py` for the repair side): row claimed as `deleting` -> vault delete -> row gone +
audit; a delete the vault refused (locked) puts the row back to `ready`. Every change holds the
secret's write lock (core/catalog/claims.py), so changes of one secret never interleave.
"""

from __future__ import annotations

import builtins
import logging

from keybroker.core.audit.log import AuditLog
from keybroker.core.catalog.catalog import ANY_OWNER, Catalog
from keybroker.core.catalog.claims import identity
from keybroker.core.errors import (
    AmbiguousSecretError,
    KeybrokerError,
    ReadOnlySecretError,
    UnknownSecretError,
    VaultError,
)
from keybroker.core.models import AuditDecision, SecretRecord, SecretValue
from keybroker.core.secrets.records import owner_label
from keybroker.core.secrets.teams import TeamSync, sync_team_secrets
from keybroker.core.secrets.undo import restore_metadata
from keybroker.core.secrets.value_io import REFUSED, BlockingValueIO, check_value, run_blocking
from keybroker.core.secrets.write import StoreResult, busy, replace_value, write_secret
from keybroker.core.vault.backend import ValueVersion
from keybroker.core.vault.extras import value_at, value_history
from keybroker.core.vault.vault import Vault


class _Unspecified:
    """Sentinel: the caller named no owner (neither an agent nor shared)."""

    def __repr__(self) -> str:
        return "UNSPECIFIED"


UNSPECIFIED: _Unspecified = _Unspecified()
Owner = str | None | _Unspecified

log = logging.getLogger("keybroker.secrets")


class SecretStore:
    """Create, read, update and delete secrets; every change is audited."""

    def __init__(self, catalog: Catalog, vault: Vault, audit: AuditLog) -> None:
        self.catalog = catalog
        self.vault = vault
        self.audit = audit

    # lookup -------------------------------------------------------------------------------------

    def resolve(
        self,
        key_or_id: str,
        owner: Owner = UNSPECIFIED,
        scheme: str | None = None,
        *,
        team: str | None = None,
    ) -> SecretRecord:
        """Find one secret by key (and owner) or by id.

        With an owner given (a slug, or None for shared) the match is exact; with `team`, that team's
        secret. Without either, a key held by exactly one owner means that secret; held by several,
        `AmbiguousSecretError` lists them.
        """
        if team is not None:
            found = self.catalog.find_secret(key_or_id, None, scheme, team=team)
            by_id = self.catalog.find_secret_by_id(key_or_id)
            if found is None and by_id is not None and by_id.team == team:
                found = by_id
            if found is None:
                raise UnknownSecretError(
                    f"no secret {key_or_id!r} of team {team!r}", hint="`keybroker vault sync` lists them anew"
                )
            return found
        if not isinstance(owner, _Unspecified):
            if owner is not None and not self.catalog.list_secrets(owner=owner):
                self.catalog.get_agent(owner)  # an unknown slug (that owns nothing) exits 3
            found = self.catalog.find_secret(key_or_id, owner, scheme)
            if found is None and scheme is None:
                matches = [
                    s for s in self.catalog.list_secrets(owner=owner, key=key_or_id) if s.scheme is not None
                ]
                found = matches[0] if len(matches) == 1 else None
            if found is None:
                whose = "shared" if owner is None else f"owned by agent {owner!r}"
                raise UnknownSecretError(f"no {whose} secret with key {key_or_id!r}")
            return found
        matches = self.catalog.list_secrets(key=key_or_id)
        if scheme is not None:
            matches = [s for s in matches if s.scheme == scheme]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            owners = ", ".join(owner_label(s) for s in matches)
            raise AmbiguousSecretError(
                f"key {key_or_id!r} is held by several owners: {owners}",
                hint="say which with --agent SLUG, --shared or --team NAME"
                if any(s.team is not None for s in matches)
                else "say which with --agent SLUG or --shared",
            )
        by_id = self.catalog.find_secret_by_id(key_or_id)
        if by_id is not None:
            return by_id
        raise UnknownSecretError(
            f"no secret with key or id {key_or_id!r}", hint="see `keybroker secrets list`"
        )

    def list(self, *, owner: Owner = UNSPECIFIED) -> list[SecretRecord]:
        """Ready secrets, optionally of one owner."""
        return self.catalog.list_secrets(owner=ANY_OWNER if isinstance(owner, _Unspecified) else owner)

    # changes ------------------------------------------------------------------------------------

    def set(
        self,
        key: str,
        value: SecretValue,
        *,
        owner: str | None = None,
        scheme: str | None = None,
        name: str | None = None,
        description: str | None = None,
        caller: str | None = None,
    ) -> StoreResult:
        """Create or replace a value, keeping its `secret_id` on replace (owner: with its ALWAYS grant).

        Writes of one (key, owner, scheme) wait for each other (claims.py): two creates at once make
        one secret, the second replacing the first's value."""
        with self.catalog.writes.hold(identity(key, owner, scheme)):
            return run_blocking(
                write_secret(
                    self.catalog,
                    self.audit,
                    BlockingValueIO(self.vault),
                    key,
                    value,
                    owner=owner,
                    owner_grant=True,
                    scheme=scheme,
                    name=name,
                    description=description,
                    caller=caller,
                )
            )

    def update(
        self,
        record: SecretRecord,
        *,
        name: str | None = None,
        description: str | None = None,
        value: SecretValue | None = None,
        caller: str | None = None,
    ) -> SecretRecord:
        """Change metadata and/or the value (a new value is put back out if recording it fails)."""
        _refuse_team(record, "changed")
        changed = [
            what
            for what, given in (("name", name), ("description", description), ("value", value))
            if given is not None
        ]

        def record_update() -> SecretRecord:
            self.catalog.update_secret(record.secret_id, name=name, description=description)
            self.audit.append(
                AuditDecision.UPDATED,
                agent=record.owner,
                key=record.key,
                secret_id=record.secret_id,
                caller=caller,
                detail="changed: " + (", ".join(changed) or "nothing"),
            )
            return self.catalog.get_secret(record.secret_id)

        with self.catalog.writes.hold(identity(record.key, record.owner, record.scheme)):
            if value is None:
                try:
                    return record_update()
                except Exception:
                    # The audit append failed (a locked vault cannot take the audit head): the error
                    # must be true, so the name and description go back as they were.
                    restore_metadata(self.catalog, record)
                    raise
            check_value(value)
            return run_blocking(
                replace_value(self.catalog, BlockingValueIO(self.vault), record, value, record_update)
            )

    def history(self, record: SecretRecord) -> builtins.list[ValueVersion]:
        """Every version the vault keeps of the value (a team vault; the OS vaults keep none)."""
        return value_history(self.vault, record.secret_id)

    def restore(self, record: SecretRecord, version: int, *, caller: str | None = None) -> SecretRecord:
        """Make an earlier version the current value: written as a new version, audited `updated`. Held
        and claimed like any write (claims.py): a secret another writer holds is `SecretBusyError`."""
        _refuse_team(record, "restored")
        value = value_at(self.vault, record.secret_id, version)
        if value is None:
            raise UnknownSecretError(
                f"version {version} of {owner_label(record)} secret {record.key!r} is deleted or not kept",
                hint=f"`keybroker secrets history {record.key}` lists the versions kept",
            )
        check_value(value)

        def record_restore() -> SecretRecord:
            self.catalog.update_secret(record.secret_id)
            self.audit.append(
                AuditDecision.UPDATED,
                agent=record.owner,
                key=record.key,
                secret_id=record.secret_id,
                caller=caller,
                detail=f"value restored from version {version}",
            )
            return self.catalog.get_secret(record.secret_id)

        with self.catalog.writes.hold(identity(record.key, record.owner, record.scheme)):
            return run_blocking(
                replace_value(self.catalog, BlockingValueIO(self.vault), record, value, record_restore)
            )

    def sync_teams(self, *, caller: str | None = None) -> TeamSync:
        """Bring the records of team secrets in step with what the team vault lists (teams.py)."""
        return sync_team_secrets(self.catalog, self.vault, self.audit, caller=caller)

    def reveal(self, record: SecretRecord, *, caller: str | None = None) -> SecretValue:
        """Read a value for the user (audited)."""
        value = self.vault.get(record.secret_id)
        if value is None:
            raise VaultError(
                f"the vault holds no value for {owner_label(record)} secret {record.key!r}",
                hint="set it again with `keybroker secrets set`",
            )
        self.audit.append(
            AuditDecision.REVEALED,
            agent=record.owner,
            key=record.key,
            secret_id=record.secret_id,
            caller=caller,
        )
        return value

    def remove(self, record: SecretRecord, *, caller: str | None = None, detail: str | None = None) -> None:
        """Delete a value and its record (and, by cascade, its grants).

        The row is claimed first (claims.py): a secret another writer holds is `SecretBusyError`, one
        deleted meanwhile `UnknownSecretError`; nothing is deleted then. A team's secret is refused."""
        _refuse_team(record, "removed")
        with self.catalog.writes.hold(identity(record.key, record.owner, record.scheme)):
            self._remove(record, caller=caller, detail=detail)

    def _remove(self, record: SecretRecord, *, caller: str | None, detail: str | None) -> None:
        claim = self.catalog.claim_secret(record.secret_id, deleting=True)
        if claim == "gone":
            raise UnknownSecretError(f"{owner_label(record)} secret {record.key!r} was deleted meanwhile")
        if claim == "busy":
            raise busy(record.key, record.owner)
        try:
            self.vault.delete(record.secret_id)
        except REFUSED:
            # Nothing was deleted: the secret stays as it was, so "could not delete" is true and it
            # stays listed (a `deleting` row would be finished later, after the failure was reported).
            try:
                self.catalog.set_secret_state(record.secret_id, "ready")
            except KeybrokerError as exc:  # the vault's refusal is the error to report
                log.warning("could not put %s back to ready: %s", record.secret_id, exc)
            raise
        try:
            self.catalog.delete_secret(record.secret_id)
        except KeybrokerError as exc:
            exc.add_hint("the value is already gone from the vault; the record goes at the next start")
            raise
        self.audit.append(
            AuditDecision.DELETED,
            agent=record.owner,
            key=record.key,
            secret_id=record.secret_id,
            caller=caller,
            detail=detail,
        )


def _refuse_team(record: SecretRecord, what: str) -> None:
    if record.team is not None:
        raise ReadOnlySecretError(
            f"{record.key!r} is a secret of team {record.team!r}: it cannot be {what} here",
            hint="team secrets are managed in the team vault (OpenBao) by whoever runs the team's path; "
            "store your own value with `keybroker secrets set KEY` to use it instead",
        )
