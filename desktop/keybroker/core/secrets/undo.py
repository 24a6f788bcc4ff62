"""Taking back a secret write that failed halfway, so the error can say what was (not) changed.

`write_secret` and `replace_value` (write.py) call these when a step after the vault write fails (a
full disk, a locked vault that cannot take the audit head); see write.py for the write order.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import CatalogError, KeybrokerError, VaultError, VaultTimeout
from keybroker.core.models import SecretRecord, SecretValue
from keybroker.core.secrets.records import owner_label
from keybroker.core.secrets.value_io import REFUSED, ValueIO

log = logging.getLogger("keybroker.secrets")


@dataclass(frozen=True, slots=True)
class Previous:
    """The value a replace overwrites, read first so a failed replace can put it back."""

    value: SecretValue | None
    known: bool
    """False when the old entry could not be read (damaged): it cannot be put back."""

    def __repr__(self) -> str:
        return f"Previous(known={self.known})"


async def read_previous(io: ValueIO, account: str) -> Previous:
    """The value at `account` before a replace; raises when the vault refuses (nothing changed yet)."""
    try:
        return Previous(await io.read(account), known=True)
    except (*REFUSED, VaultTimeout):
        raise  # the write would fail the same way: nothing was changed
    except VaultError:
        # A damaged entry (chunks missing): storing a new value is how the user repairs it.
        return Previous(None, known=False)


async def put_back(
    catalog: Catalog,
    io: ValueIO,
    found: SecretRecord,
    previous: Previous,
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
            f"the new value of {owner_label(found)} secret {found.key!r} IS in the vault but was not "
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
            if restore_metadata(catalog, found)
            else "the old value was put back; its name, description or time may have changed"
        )


def restore_metadata(catalog: Catalog, found: SecretRecord) -> bool:
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


async def undo_create(
    catalog: Catalog, io: ValueIO, record: SecretRecord, failure: Exception, *, settled: bool
) -> None:
    """The value is stored but its row could not be settled or audited (a full disk): take both back.

    A row still `pending` loses its value first: recovery drops a pending row without a value, so the
    row itself may stay if the catalog cannot delete it. A `ready` row goes first instead (a listed row
    without its value would be worse than an invisible value). Raises `CatalogError` when the value stays.
    """
    label = f"{owner_label(record)} secret {record.key!r}"
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


async def forget_pending(catalog: Catalog, io: ValueIO, record: SecretRecord, failure: BaseException) -> None:
    """The vault write failed: best effort to leave nothing behind (recovery catches the rest).

    A vault that refused the write (locked, unavailable) stored nothing: the row goes at once, without
    asking the vault again (a locked vault would only fail or prompt again). A pending row left behind
    would make every later command try to repair it against the same locked vault.
    """
    if not isinstance(failure, REFUSED):
        try:
            await io.discard(record.secret_id)
        except VaultError:
            return  # the value may be in the vault: the pending row stays for recovery
    catalog.delete_secret(record.secret_id)
