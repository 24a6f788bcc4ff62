"""Creating and replacing a secret's value in the one crash-safe write order, audited.

Write order (see `core/secrets/recovery.py` for the repair side, undo.py for taking a write back); the
writer holds the secret's write lock and claims its row first (core/catalog/claims.py), so writes of
one secret never interleave, in this process or across processes:
- create: catalog row `pending` (only where no row of that key, owner and scheme exists) -> vault value
  -> row `ready` + owner grant + audit; a vault write the vault refused (locked, unavailable) drops the
  row; any other failed write deletes the value and the row (best effort: a row whose value cannot be
  deleted stays `pending` for recovery);
- replace: row claimed -> old value read -> vault value (the vault swaps chunked values atomically) ->
  `updated` + owner grant + audit -> claim released; when the catalog or audit step fails (a full disk)
  the old value is written back, so "nothing was changed" is true.

Create and replace live in one place, `write_secret`, an async function over a `ValueIO` (value_io.py):
the broker awaits it over the async vault (a value typed into a prompt), `SecretStore.set` runs it over
the blocking vault, where it never suspends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from keybroker.core.audit.log import AuditLog
from keybroker.core.broker.grant_rules import owner_grant
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import KeybrokerError, SecretBusyError, UnknownSecretError
from keybroker.core.models import AuditDecision, GrantScope, SecretRecord, SecretValue, validate_key
from keybroker.core.secrets.records import (
    agent_demand_name,
    default_name,
    new_grant_id,
    new_secret_id,
    owner_label,
)
from keybroker.core.secrets.undo import forget_pending, put_back, read_previous, undo_create
from keybroker.core.secrets.value_io import ValueIO, check_value

_T = TypeVar("_T")

log = logging.getLogger("keybroker.secrets")


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What `SecretStore.set` (or `write_secret`) did."""

    record: SecretRecord
    created: bool


async def write_secret(
    catalog: Catalog,
    audit: AuditLog,
    io: ValueIO,
    key: str,
    value: SecretValue,
    *,
    owner: str | None,
    owner_grant: bool,
    scheme: str | None = None,
    name: str | None = None,
    description: str | None = None,
    caller: str | None = None,
    detail: str | None = None,
    existing: SecretRecord | None = None,
    on_value_changed: Callable[[str], None] | None = None,
) -> StoreResult:
    """Create or replace a value in the crash-safe write order (module docstring); audited.

    The caller holds the write lock of (key, owner, scheme) (`catalog.writes`, claims.py). The value
    replaced is `existing` when given, else the one stored under (key, owner, scheme); it keeps its
    `secret_id`. A create that meets a row another process just made replaces that one instead.
    `owner_grant`: a value stored for an agent carries that agent's revocable ALWAYS grant (`secrets
    set --agent`); a value typed into a prompt gets the scope the user chose instead, granted by the
    caller. `on_value_changed(secret_id)` is called right before and after a replacing vault write
    (the broker drops its cached value, and reads in flight are not cached). `detail` goes into the
    audit event. `SecretBusyError` (nothing done) when another process holds the secret.
    """
    validate_key(key)
    check_value(value)
    agent = catalog.get_agent(owner) if owner is not None else None
    found = existing if existing is not None else catalog.find_secret(key, owner, scheme)
    for _ in range(2):
        if found is None:
            now = catalog.clock.now()
            record = SecretRecord(
                secret_id=new_secret_id(),
                key=key,
                owner=owner,
                name=name if name is not None else default_name(key, agent_demand_name(agent, key)),
                description=description or "",
                scheme=scheme,
                created=now,
                updated=now,
            )
            if catalog.claim_new_secret(record):
                await _create(catalog, audit, io, record, value, owner_grant, caller, detail)
                return StoreResult(record, created=True)
            # Another process made a row of this identity since: replace it if it is settled.
            found = catalog.find_secret(key, owner, scheme)
            if found is None:
                raise busy(key, owner)
        try:
            replaced = await _replace(
                catalog,
                audit,
                io,
                found,
                value,
                key=key,
                owner=owner,
                owner_grant=owner_grant,
                name=name,
                description=description,
                caller=caller,
                detail=detail,
                on_value_changed=on_value_changed,
            )
        except _RowGone:
            found = None  # deleted by another process between the lookup and the claim: create it
            continue
        return StoreResult(replaced, created=False)
    raise busy(key, owner)


async def _replace(
    catalog: Catalog,
    audit: AuditLog,
    io: ValueIO,
    found: SecretRecord,
    value: SecretValue,
    *,
    key: str,
    owner: str | None,
    owner_grant: bool,
    name: str | None,
    description: str | None,
    caller: str | None,
    detail: str | None,
    on_value_changed: Callable[[str], None] | None,
) -> SecretRecord:
    """`found`'s value replaced (`replace_value`), its record updated, granted and audited (as `key`)."""

    def record_replace() -> SecretRecord:
        now = catalog.clock.now()
        catalog.update_secret(found.secret_id, name=name, description=description, updated=now)
        record = catalog.get_secret(found.secret_id)
        if owner_grant:
            _ensure_owner_grant(catalog, record)
        audit.append(
            AuditDecision.UPDATED,
            agent=owner,
            key=key,
            secret_id=record.secret_id,
            caller=caller,
            detail=f"value replaced: {detail}" if detail else "value replaced",
        )
        return record

    return await replace_value(catalog, io, found, value, record_replace, on_value_changed)


async def _create(
    catalog: Catalog,
    audit: AuditLog,
    io: ValueIO,
    record: SecretRecord,
    value: SecretValue,
    owner_grant: bool,
    caller: str | None,
    detail: str | None,
) -> None:
    """The value of a claimed `pending` row into the vault, then the row `ready`, granted, audited."""
    try:
        await io.write(record.secret_id, value)
    except BaseException as exc:
        await forget_pending(catalog, io, record, exc)
        raise
    settled = False
    try:
        catalog.set_secret_state(record.secret_id, "ready")
        settled = True
        if owner_grant:
            _ensure_owner_grant(catalog, record)
        audit.append(
            AuditDecision.CREATED,
            agent=record.owner,
            key=record.key,
            secret_id=record.secret_id,
            scope=GrantScope.ALWAYS.value if owner_grant and record.owner else None,
            caller=caller,
            detail=detail,
        )
    except Exception as exc:
        await undo_create(catalog, io, record, exc, settled=settled)
        raise


async def replace_value(
    catalog: Catalog,
    io: ValueIO,
    found: SecretRecord,
    value: SecretValue,
    record_step: Callable[[], _T],
    on_value_changed: Callable[[str], None] | None = None,
) -> _T:
    """Write `value` over `found`'s, then run `record_step` (catalog + audit); undo the write if it fails.

    The row is claimed first (claims.py), so no other process deletes or replaces it meanwhile:
    `SecretBusyError` when one holds it, `UnknownSecretError` when it is gone (nothing done either way).
    A full disk fails the catalog step after the vault already holds the new value: the old value is
    written back (and the metadata, if the catalog took it), so the error can truthfully say nothing
    was changed; when even that fails, the error says the new value is in the vault unrecorded.
    """
    secret_id = found.secret_id
    claim = catalog.claim_secret(secret_id)
    if claim == "gone":
        raise _RowGone(f"{owner_label(found)} secret {found.key!r} was deleted meanwhile")
    if claim == "busy":
        raise busy(found.key, found.owner)
    try:
        previous = await read_previous(io, secret_id)
        if on_value_changed is not None:
            on_value_changed(secret_id)
        await io.write(secret_id, value)
        if on_value_changed is not None:
            on_value_changed(secret_id)
        try:
            return record_step()
        except Exception as exc:
            await put_back(catalog, io, found, previous, exc, on_value_changed)
            raise
    finally:
        try:
            catalog.release_claim(secret_id)
        except KeybrokerError as exc:  # a dead claim: the next writer in any process takes it over
            log.warning("could not release the claim on %s: %s", secret_id, exc)


def busy(key: str, owner: str | None) -> SecretBusyError:
    """The error for a secret another writer holds (nothing was done)."""
    whose = "shared" if owner is None else f"agent {owner!r}"
    return SecretBusyError(
        f"{whose} secret {key!r} is being changed by another Keybroker process; nothing was changed",
        hint="try again in a moment",
    )


class _RowGone(UnknownSecretError):
    """The row to replace was deleted by another process before it could be claimed."""


def _ensure_owner_grant(catalog: Catalog, record: SecretRecord) -> None:
    if record.owner is None:
        return
    agent = catalog.get_agent(record.owner)
    current = [
        g
        for g in catalog.list_grants(agent=record.owner, secret_id=record.secret_id)
        if g.scope is GrantScope.ALWAYS and g.card_fingerprint == agent.fingerprint
    ]
    if not current:
        catalog.add_grant(
            owner_grant(agent=agent, secret=record, now=catalog.clock.now(), grant_id=new_grant_id())
        )
