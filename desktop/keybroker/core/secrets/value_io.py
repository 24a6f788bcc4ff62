"""A value's way to and from the vault as `write_secret` (write.py) sees it: one `ValueIO`, async or blocking.

The broker awaits a write over the async vault (a value typed into a prompt); `SecretStore.set` runs the
same coroutine over the blocking vault, where it never suspends (`run_blocking`).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from keybroker.core.errors import InvalidInputError, VaultLocked, VaultUnavailable
from keybroker.core.models import MAX_VALUE_BYTES, SecretValue
from keybroker.core.ports import AsyncVault
from keybroker.core.vault.vault import Vault

_T = TypeVar("_T")

#: Vault errors raised before the vault stored or deleted anything: it refused the call as a whole.
REFUSED = (VaultLocked, VaultUnavailable)


def check_value(value: SecretValue) -> SecretValue:
    """Values are at most 64 KiB of UTF-8 (INTERFACES.md)."""
    size = len(value.reveal().encode("utf-8", "surrogatepass"))
    if size > MAX_VALUE_BYTES:
        raise InvalidInputError(f"the value is {size} bytes; the limit is {MAX_VALUE_BYTES} (64 KiB)")
    return value


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


class BlockingValueIO:
    """`ValueIO` over the blocking vault calls: its coroutines finish without ever suspending."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    async def read(self, account: str) -> SecretValue | None:
        return self._vault.get(account)

    async def write(self, account: str, value: SecretValue) -> None:
        self._vault.set(account, value)

    async def discard(self, account: str) -> None:
        self._vault.delete(account)


def run_blocking(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """The result of a coroutine that never suspends (one over `BlockingValueIO`), without a loop.

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
