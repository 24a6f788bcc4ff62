"""Secrets as the user manages them: the value in the vault, the record in the catalog, the event in
the audit log, kept consistent across crashes.

Write order (see `core/secrets/recovery.py` for the repair side):
- create: catalog row `pending` -> vault value -> row `ready` + owner grant + audit; a vault write the
  vault refused (locked, unavailable) drops the row; any other failed write deletes the value and the row
  (best effort: a row whose value cannot be deleted stays `pending` for recovery);
- replace: old value read -> vault value (the vault swaps chunked values atomically) -> `updated` + owner
  grant + audit; when the catalog or audit step fails (a full disk) the old value is written back, so
  "nothing was changed" is true;
- delete: row `deleting` -> vault delete -> row gone + audit; a delete the vault refused (locked) puts
  the row back to `ready`.

Create and replace live in one place, `write_secret`, an async function over a `ValueIO`: the broker
awaits it over the async vault (a value typed into a prompt), `SecretStore.set` runs it over the
blocking vault, where it never suspends (`_run_blocking`).
"""

from __future__ import annotations

import contextlib
import logging
import secrets as _random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from keybroker.core.audit.log import AuditLog
from keybroker.core.broker.policy import owner_grant
from keybroker.core.catalog.catalog import ANY_OWNER, Catalog
from keybroker.core.errors import (
    AmbiguousSecretError,
    CatalogError,
    InvalidInputError,
    KeybrokerError,
    UnknownSecretError,
    VaultError,
    VaultLocked,
    VaultTimeout,
    VaultUnavailable,
)
from keybroker.core.models import (
    MAX_VALUE_BYTES,
    AgentRecord,
    AuditDecision,
    GrantScope,
    SecretRecord,
    SecretValue,
    validate_key,
)
from keybroker.core.ports import AsyncVault
from keybroker.core.vault.vault import Vault


class _Unspecified:
    """Sentinel: the caller named no owner (neither an agent nor shared)."""

    def __repr__(self) -> str:
        return "UNSPECIFIED"


UNSPECIFIED: _Unspecified = _Unspecified()
Owner = str | None | _Unspecified
_T = TypeVar("_T")

log = logging.getLogger("keybroker.secrets")

#: Vault errors raised before the vault stored or deleted anything: it refused the call as a whole.
_REFUSED = (VaultLocked, VaultUnavailable)


def new_secret_id() -> str:
    """An opaque, stable id; also the vault account name."""
    return "sec_" + _random.token_hex(10)


def new_grant_id() -> str:
    """An opaque grant id."""
    return "gr_" + _random.token_hex(8)


def check_value(value: SecretValue) -> SecretValue:
    """Values are at most 64 KiB of UTF-8 (INTERFACES.md)."""
    size = len(value.reveal().encode("utf-8", "surrogatepass"))
    if size > MAX_VALUE_BYTES:
        raise InvalidInputError(f"the value is {size} bytes; the limit is {MAX_VALUE_BYTES} (64 KiB)")
    return value


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What `SecretStore.set` (or `write_secret`) did."""

    record: SecretRecord
    created: bool


class ValueIO(Protocol):
    """The vault calls `write_secret` makes. `discard` raises `VaultError` when it cannot delete."""

    async def read(self, account: str) -> SecretValue | None: ...
    async def write(self, account: str, value: SecretValue) -> None: ...
    async def discard(self, account: str) -> None: ...


class AsyncValueIO:
    """`ValueIO` over the async vault: awaits the vault worker without blocking the event loop."""

    def __init__(self, vault: AsyncVault) -> None:
        self._vault = vault

    async def read(self, account: str) -> SecretValue | None:
        return await self._vault.aget(account)

    async def write(self, account: str, value: SecretValue) -> None:
        await self._vault.aset(account, value)

    async def discard(self, account: str) -> None:
        await self._vault.adelete(account)


class _BlockingValueIO:
    """`ValueIO` over the blocking vault calls: its coroutines finish without ever suspending."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    async def read(self, account: str) -> SecretValue | None:
        return self._vault.get(account)

    async def write(self, account: str, value: SecretValue) -> None:
        self._vault.set(account, value)

    async def discard(self, account: str) -> None:
        self._vault.delete(account)


def _run_blocking(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """The result of a coroutine that never suspends (one over `_BlockingValueIO`), without a loop.

    `SecretStore.set` is called with and without a running event loop (CLI, API threads, the UI), so
    it cannot use `asyncio.run`; a coroutine that awaits nothing that suspends finishes on its first
    step. One that does suspend is a programming error: it is closed and `RuntimeError` raised.
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a blocking secret write suspended")


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

    The value replaced is `existing` when given, else the one stored under (key, owner, scheme); it
    keeps its `secret_id`. `owner_grant`: a value stored for an agent carries that agent's revocable
    ALWAYS grant (`secrets set --agent`); a value typed into a prompt gets the scope the user chose
    instead, granted by the caller. `on_value_changed(secret_id)` is called right before and after a
    replacing vault write (the broker drops its cached value, and reads in flight are not cached).
    `detail` goes into the audit event.
    """
    validate_key(key)
    check_value(value)
    agent = catalog.get_agent(owner) if owner is not None else None
    found = existing if existing is not None else catalog.find_secret(key, owner, scheme)
    now = catalog.clock.now()
    if found is not None:

        def record_replace() -> SecretRecord:
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

        replaced = await replace_value(catalog, io, found, value, record_replace, on_value_changed)
        return StoreResult(replaced, created=False)
    record = SecretRecord(
        secret_id=new_secret_id(),
        key=key,
        owner=owner,
        name=name if name is not None else _default_name(key, agent_demand_name(agent, key)),
        description=description or "",
        scheme=scheme,
        created=now,
        updated=now,
    )
    catalog.insert_secret(record, state="pending")
    try:
        await io.write(record.secret_id, value)
    except BaseException as exc:
        await _forget_pending(catalog, io, record, exc)
        raise
    settled = False
    try:
        catalog.set_secret_state(record.secret_id, "ready")
        settled = True
        if owner_grant:
            _ensure_owner_grant(catalog, record)
        audit.append(
            AuditDecision.CREATED,
            agent=owner,
            key=key,
            secret_id=record.secret_id,
            scope=GrantScope.ALWAYS.value if owner_grant and owner else None,
            caller=caller,
            detail=detail,
        )
    except Exception as exc:
        await _undo_create(catalog, io, record, exc, settled=settled)
        raise
    return StoreResult(record, created=True)


@dataclass(frozen=True, slots=True)
class _Previous:
    """The value a replace overwrites, read first so a failed replace can put it back."""

    value: SecretValue | None
    known: bool
    """False when the old entry could not be read (damaged): it cannot be put back."""

    def __repr__(self) -> str:
        return f"_Previous(known={self.known})"


async def _read_previous(io: ValueIO, account: str) -> _Previous:
    try:
        return _Previous(await io.read(account), known=True)
    except (*_REFUSED, VaultTimeout):
        raise  # the write would fail the same way: nothing was changed
    except VaultError:
        # A damaged entry (chunks missing): storing a new value is how the user repairs it.
        return _Previous(None, known=False)


async def replace_value(
    catalog: Catalog,
    io: ValueIO,
    found: SecretRecord,
    value: SecretValue,
    record_step: Callable[[], _T],
    on_value_changed: Callable[[str], None] | None = None,
) -> _T:
    """Write `value` over `found`'s, then run `record_step` (catalog + audit); undo the write if it fails.

    A full disk fails the catalog step after the vault already holds the new value: the old value is
    written back (and the metadata, if the catalog took it), so the error can truthfully say nothing
    was changed; when even that fails, the error says the new value is in the vault unrecorded.
    """
    secret_id = found.secret_id
    previous = await _read_previous(io, secret_id)
    if on_value_changed is not None:
        on_value_changed(secret_id)
    await io.write(secret_id, value)
    if on_value_changed is not None:
        on_value_changed(secret_id)
    try:
        return record_step()
    except Exception as exc:
        await _put_back(catalog, io, found, previous, exc, on_value_changed)
        raise


async def _put_back(
    catalog: Catalog,
    io: ValueIO,
    found: SecretRecord,
    previous: _Previous,
    failure: Exception,
    on_value_changed: Callable[[str], None] | None,
) -> None:
    """Undo a replace whose record step failed; raises `CatalogError` when the new value must stay."""
    secret_id = found.secret_id
    try:
        if not previous.known:
            raise VaultError("the old value could not be read, so it cannot be put back")
        if previous.value is None:
            await io.discard(secret_id)
        else:
            await io.write(secret_id, previous.value)
    except Exception as restore_failure:
        log.warning("could not put back the old value of %s: %s", secret_id, restore_failure)
        raise CatalogError(
            f"the new value of {_owner_label(found)} secret {found.key!r} IS in the vault but was not "
            f"recorded: {failure}",
            hint="free some disk space, then store the value again (`keybroker secrets set`) "
            "so the change is recorded and audited",
        ) from None
    finally:
        if on_value_changed is not None:
            on_value_changed(secret_id)
    if isinstance(failure, KeybrokerError):
        failure.add_hint(
            "the old value was put back: nothing was changed"
            if _restore_metadata(catalog, found)
            else "the old value was put back; its name, description or time may have changed"
        )


def _restore_metadata(catalog: Catalog, found: SecretRecord) -> bool:
    """Put back name, description and time if the failed step changed them; True when they match."""
    try:
        now = catalog.find_secret_by_id(found.secret_id)
        if now is None or (now.name, now.description, now.updated) == (
            found.name,
            found.description,
            found.updated,
        ):
            return now is not None
        catalog.update_secret(
            found.secret_id, name=found.name, description=found.description, updated=found.updated
        )
    except KeybrokerError:
        return False
    return True


async def _undo_create(
    catalog: Catalog, io: ValueIO, record: SecretRecord, failure: Exception, *, settled: bool
) -> None:
    """The value is stored but its row could not be settled or audited (a full disk): take both back.

    A row still `pending` loses its value first: recovery drops a pending row without a value, so the
    row itself may stay if the catalog cannot delete it. A `ready` row goes first instead (a listed row
    without its value would be worse than an invisible value). Raises `CatalogError` when the value stays.
    """
    label = f"{_owner_label(record)} secret {record.key!r}"
    stays = CatalogError(
        f"the value of {label} IS in the vault but its record could not be finished: {failure}",
        hint="free some disk space; Keybroker finishes storing it at its next start "
        "(`keybroker secrets list` shows it then)",
    )
    if settled:
        try:
            catalog.delete_secret(record.secret_id)
        except KeybrokerError:
            raise CatalogError(
                f"{label} was stored but its `created` event could not be recorded: {failure}",
                hint="free some disk space; `keybroker secrets rm` removes it if it is not wanted",
            ) from None
    try:
        await io.discard(record.secret_id)
    except VaultError:
        if not settled:
            raise stays from None
        # The row is gone: an unlisted value is left under an id nothing refers to.
    if not settled:
        # A pending row without a value, if it cannot go now: recovery drops it at the next start.
        with contextlib.suppress(KeybrokerError):
            catalog.delete_secret(record.secret_id)
    if isinstance(failure, KeybrokerError):
        failure.add_hint("nothing was stored")


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


async def _forget_pending(
    catalog: Catalog, io: ValueIO, record: SecretRecord, failure: BaseException
) -> None:
    """The vault write failed: best effort to leave nothing behind (recovery catches the rest).

    A vault that refused the write (locked, unavailable) stored nothing: the row goes at once, without
    asking the vault again (a locked vault would only fail or prompt again). A pending row left behind
    would make every later command try to repair it against the same locked vault.
    """
    if not isinstance(failure, _REFUSED):
        try:
            await io.discard(record.secret_id)
        except VaultError:
            return  # the value may be in the vault: the pending row stays for recovery
    catalog.delete_secret(record.secret_id)


class SecretStore:
    """Create, read, update and delete secrets; every change is audited."""

    def __init__(self, catalog: Catalog, vault: Vault, audit: AuditLog) -> None:
        self.catalog = catalog
        self.vault = vault
        self.audit = audit

    # lookup -------------------------------------------------------------------------------------

    def resolve(self, key_or_id: str, owner: Owner = UNSPECIFIED, scheme: str | None = None) -> SecretRecord:
        """Find one secret by key (and owner) or by id.

        With an owner given (a slug, or None for shared) the match is exact. Without one, a key held
        by exactly one owner means that secret; held by several, `AmbiguousSecretError` lists them.
        """
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
            owners = ", ".join(_owner_label(s) for s in matches)
            raise AmbiguousSecretError(
                f"key {key_or_id!r} is held by several owners: {owners}",
                hint="say which with --agent SLUG or --shared",
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
        """Create or replace a value, keeping its `secret_id` on replace (owner: with its ALWAYS grant)."""
        return _run_blocking(
            write_secret(
                self.catalog,
                self.audit,
                _BlockingValueIO(self.vault),
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

        if value is None:
            try:
                return record_update()
            except Exception:
                # The audit append failed (a locked vault cannot take the audit head): the error must
                # be true, so the name and description go back as they were.
                _restore_metadata(self.catalog, record)
                raise
        check_value(value)
        return _run_blocking(
            replace_value(self.catalog, _BlockingValueIO(self.vault), record, value, record_update)
        )

    def reveal(self, record: SecretRecord, *, caller: str | None = None) -> SecretValue:
        """Read a value for the user (audited)."""
        value = self.vault.get(record.secret_id)
        if value is None:
            raise VaultError(
                f"the vault holds no value for {_owner_label(record)} secret {record.key!r}",
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
        """Delete a value and its record (and, by cascade, its grants)."""
        self.catalog.set_secret_state(record.secret_id, "deleting")
        try:
            self.vault.delete(record.secret_id)
        except _REFUSED:
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


def _owner_label(record: SecretRecord) -> str:
    return "shared" if record.owner is None else f"agent {record.owner!r}"


def agent_demand_name(agent: AgentRecord | None, key: str) -> str | None:
    """The demand's display name on the agent's card, if it declares this key."""
    for demand in agent.demands if agent else ():
        if demand.key == key:
            return demand.name
    return None


def _default_name(key: str, demand_name: str | None) -> str:
    return demand_name or key
