"""Secret values in the OS vault, through one explicitly chosen backend.

Longer than 300 lines because every call comes twice, blocking and awaited, over the one orchestration
both share (the worker, timeouts, the unlocking state, naming the account in errors), and `open_vault`
builds each backend's vault (OS, memory, OpenBao).

Service `keybroker`, account = `secret_id`. The backend is anything with the three calls of backend.py:
ours (Secret Service on Linux, memory) or keyring's (macOS, Windows); keyring is not imported here. Every
backend call runs on one worker thread with a timeout (worker.py); errors are mapped into core/errors.py
(errors.py); values too large for one entry are split into chunks (chunked.py, in format.py's layout).
`open_vault()` picks the backend from `KEYBROKER_VAULT`: `system` (the OS vault, default), `openbao`
(a team vault, openbao.py) or `memory` (session only). Values only travel as `SecretValue`; nothing
here logs, raises or reprs a value.
"""

from __future__ import annotations

import codecs
import logging
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from keybroker import VAULT_SERVICE
from keybroker.core.errors import InvalidInputError, VaultError, VaultLocked, VaultTimeout, VaultUnavailable
from keybroker.core.models import MAX_VALUE_BYTES, SecretValue
from keybroker.core.vault import format as fmt
from keybroker.core.vault.backend import VaultBackend
from keybroker.core.vault.choice import (
    backend_display_name,
    default_chunking,
    ensure_real_vault,
    load_system_backend,
    secret_service_locked,
)
from keybroker.core.vault.chunked import ChunkedEntries
from keybroker.core.vault.errors import LOCKED_HINT, map_backend_error, release_backend_resources
from keybroker.core.vault.memory import MemoryKeyring
from keybroker.core.vault.worker import Tick, VaultWorker

if TYPE_CHECKING:
    from keybroker.core.vault.openbao_config import OpenBaoConfig

__all__ = ["MemoryKeyring", "Vault", "VaultState", "VaultStatus", "open_vault"]

T = TypeVar("T")
VaultState = Literal["ok", "locked", "unavailable"]

log = logging.getLogger("keybroker.vault")

MEMORY_DESCRIPTION = "session-only memory vault: values are lost when Keybroker exits"
VAULT_MODES = ("system", "memory", "openbao")
#: Reserved account (contains `#`, which user accounts cannot) read by probe() and unlock().
PROBE_ACCOUNT = "#probe"
MAX_ACCOUNT_LENGTH = 256


@dataclass(frozen=True, slots=True)
class VaultStatus:
    """What `probe()` found: backend name, state and a sentence for the user."""

    backend: str
    state: VaultState
    message: str
    is_memory: bool = False

    @property
    def ok(self) -> bool:
        """True when the vault answered and is unlocked."""
        return self.state == "ok"


class Vault:
    """Get, set and delete values in one vault backend, safely and off the caller's thread."""

    def __init__(
        self,
        backend: VaultBackend,
        *,
        service: str = VAULT_SERVICE,
        timeout: float = 5.0,
        unlock_timeout: float = 120.0,
        chunk_limit_bytes: int | None = None,
        chunk_encoding: str = "utf-8",
        is_memory: bool = False,
        worker: VaultWorker | None = None,
    ) -> None:
        if not isinstance(backend, MemoryKeyring):
            ensure_real_vault(backend)  # fail, null, chainer, plaintext file: VaultUnavailable
        is_memory = is_memory or isinstance(backend, MemoryKeyring)
        if not service:
            raise InvalidInputError("the vault service name is empty")
        if timeout <= 0 or unlock_timeout <= 0:
            raise InvalidInputError("vault timeouts must be positive")
        if chunk_limit_bytes is not None and chunk_limit_bytes < fmt.MIN_CHUNK_LIMIT_BYTES:
            raise InvalidInputError(f"chunk_limit_bytes must be at least {fmt.MIN_CHUNK_LIMIT_BYTES}")
        try:
            codecs.lookup(chunk_encoding)
        except LookupError:
            raise InvalidInputError(f"unknown chunk encoding {chunk_encoding!r}") from None
        self._entries = ChunkedEntries(
            backend, service=service, limit=chunk_limit_bytes, encoding=chunk_encoding
        )
        self.timeout = timeout
        self.account_names: Callable[[str], str | None] | None = None
        """secret_id -> what error messages call it (Services sets it from the catalog)."""
        self.unlock_timeout = unlock_timeout
        self.is_memory = is_memory
        self.backend_name = backend_display_name(backend)
        self._worker = worker or VaultWorker()
        release = getattr(backend, "release_thread", None)
        if callable(release):  # e.g. SecretServiceKeyring: a worker thread closes its connection as it ends
            self._worker.set_thread_exit_hook(release)
        # The vault owns its worker: an idle thread must not outlive a vault nobody closed.
        self._finalizer = weakref.finalize(self, self._worker.close, 0)
        #: Set after a locked result: the next call may show the OS unlock prompt, so it gets unlock_timeout.
        self._unlocking = False
        log.info("vault backend: %s", self.describe())

    # Description ---------------------------------------------------------------------------------

    def describe(self) -> str:
        """One line for the tray, `doctor` and logs."""
        if self.is_memory:
            return MEMORY_DESCRIPTION
        own = getattr(self._entries.backend, "description", None)
        text = own if isinstance(own, str) else f"OS vault: {self.backend_name}"
        if self.chunk_limit_bytes is not None:
            text += f"; values over {self.chunk_limit_bytes} bytes of {self.chunk_encoding} are chunked"
        return text

    @property
    def service(self) -> str:
        """The vault service the values are stored under (accounts are secret ids)."""
        return self._entries.service

    @property
    def chunk_limit_bytes(self) -> int | None:
        """Entry size over which a value is split into chunks; None: never split."""
        return self._entries.limit

    @property
    def chunk_encoding(self) -> str:
        """The encoding `chunk_limit_bytes` counts bytes of (the backend's storage encoding)."""
        return self._entries.encoding

    @property
    def unlocking(self) -> bool:
        """True while the next call gets the long unlock timeout (after a locked result)."""
        return self._unlocking

    def __repr__(self) -> str:
        return f"Vault({self.backend_name}, service={self.service!r}, memory={self.is_memory})"

    # Sync API ------------------------------------------------------------------------------------

    def get(self, account: str) -> SecretValue | None:
        """The value stored at `account`, or None when there is none (an empty value is "")."""
        _check_account(account)
        return self._run("read", account, lambda tick: self._entries.get(tick, account))

    def set(self, account: str, value: SecretValue | str) -> None:
        """Store or replace the value at `account`."""
        _check_account(account)
        text = _check_value(account, value)
        self._run("store", account, lambda tick: self._entries.set(tick, account, text), scrub=(text,))

    def delete(self, account: str) -> bool:
        """Remove the value (and its chunks); False when nothing was there."""
        _check_account(account)
        return self._run("delete", account, lambda tick: self._entries.delete(tick, account))

    def accounts(self) -> list[str] | None:
        """Every account stored under this vault's service, found by the vault's own search (chunk
        accounts and the reserved ones included); None when the backend cannot list (keyring's macOS
        keychain and Windows Credential Manager backends: only the catalog knows what is there)."""
        return self._run("list", None, self._entries.accounts)

    def delete_entries(self, accounts: Sequence[str]) -> int:
        """Delete these entries as they are, chunk accounts included (purge, leftovers); how many were
        there. Unlike `delete`, a main entry's chunks are not looked up: list them too."""
        if any(not isinstance(account, str) or not account for account in accounts):
            raise InvalidInputError("a vault account must be a non-empty string")
        return self._run(
            "delete", None, lambda tick: sum(self._entries.delete_entry(tick, a) for a in accounts)
        )

    def exists(self, account: str) -> bool:
        """Whether a value is stored at `account`, without reading its chunks."""
        _check_account(account)
        return self._run("look up", account, lambda tick: self._entries.raw_get(tick, account) is not None)

    def call_backend(self, action: str, account: str | None, call: Callable[[VaultBackend], T]) -> T:
        """Run `call(backend)` on the worker like any vault call (timeout, errors mapped): for the optional
        members of a backend (vault/extras.py)."""
        if account is not None:
            _check_account(account)

        def job(tick: Tick) -> T:
            tick()
            return call(self._entries.backend)

        return self._run(action, account, job)

    @property
    def backend(self) -> VaultBackend:
        """The backend (for `getattr` checks of its optional members; call it through `call_backend`)."""
        return self._entries.backend

    def probe(self) -> VaultStatus:
        """Ask the backend whether it answers and is unlocked, without opening an unlock prompt if it can."""
        try:
            self._run("probe", None, self._probe_job, timeout=self.timeout)
        except VaultError as exc:
            return self._status_from(exc)
        return self._status_ok()

    def unlock(self) -> VaultStatus:
        """Make one call with the long unlock timeout, so the OS can show its unlock prompt."""
        self._unlocking = True
        try:
            self._run("unlock", None, self._unlock_job, timeout=self.unlock_timeout)
        except VaultError as exc:
            return self._status_from(exc)
        return self._status_ok()

    # Async API: same calls, awaited without blocking the event loop -------------------------------

    async def aget(self, account: str) -> SecretValue | None:
        """Async `get`."""
        _check_account(account)
        return await self._arun("read", account, lambda tick: self._entries.get(tick, account))

    async def aset(self, account: str, value: SecretValue | str) -> None:
        """Async `set`."""
        _check_account(account)
        text = _check_value(account, value)
        await self._arun("store", account, lambda tick: self._entries.set(tick, account, text), scrub=(text,))

    async def adelete(self, account: str) -> bool:
        """Async `delete`."""
        _check_account(account)
        return await self._arun("delete", account, lambda tick: self._entries.delete(tick, account))

    async def aexists(self, account: str) -> bool:
        """Async `exists`."""
        _check_account(account)
        return await self._arun(
            "look up", account, lambda tick: self._entries.raw_get(tick, account) is not None
        )

    async def aprobe(self) -> VaultStatus:
        """Async `probe`."""
        try:
            await self._arun("probe", None, self._probe_job, call_timeout=self.timeout)
        except VaultError as exc:
            return self._status_from(exc)
        return self._status_ok()

    async def aunlock(self) -> VaultStatus:
        """Async `unlock`."""
        self._unlocking = True
        try:
            await self._arun("unlock", None, self._unlock_job, call_timeout=self.unlock_timeout)
        except VaultError as exc:
            return self._status_from(exc)
        return self._status_ok()

    # Lifecycle -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker: queued calls fail, a running one may finish (joined for at most `timeout`)."""
        self._finalizer.detach()
        self._worker.close(self.timeout)

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Running jobs on the worker ------------------------------------------------------------------

    def _job(
        self, action: str, account: str | None, body: Callable[[Tick], T], scrub: tuple[str, ...]
    ) -> Callable[[Tick], T]:
        """Wrap `body` so backend errors come out mapped and the unlocking state follows the result."""

        def job(tick: Tick) -> T:
            try:
                result = body(tick)
            except Exception as exc:
                if isinstance(exc, VaultError):
                    raise
                release_backend_resources(exc)
                mapped = map_backend_error(exc, action=action, account=account, scrub=scrub)
            else:
                self._unlocking = False
                return result
            # Raised outside the except block: the backend's exception (its text may hold anything, its
            # frames the value) is neither chained nor kept alive.
            if isinstance(mapped, VaultLocked):
                self._unlocking = True
            raise mapped

        return job

    def _timeout_now(self) -> float:
        return self.unlock_timeout if self._unlocking else self.timeout

    def _label(self, action: str, account: str | None) -> str:
        return f"{action} {account!r}" if account is not None else action

    def _named(self, exc: VaultError, account: str | None) -> VaultError:
        """`exc` with the account's secret_id followed by what the user calls it (its key), when
        `account_names` knows it: "could not store 'sec_3f…'" says nothing to the person reading it."""
        if account is None or self.account_names is None or repr(account) not in exc.message:
            return exc
        try:
            name = self.account_names(account)
        except Exception:  # a lookup that fails must not hide the vault's own error
            name = None
        if name:
            exc.message = exc.message.replace(repr(account), f"{name} ({account})")
            exc.args = (exc.message,)
        return exc

    def _run(
        self,
        action: str,
        account: str | None,
        body: Callable[[Tick], T],
        *,
        scrub: tuple[str, ...] = (),
        timeout: float | None = None,
    ) -> T:
        job = self._job(action, account, body, scrub)
        label = self._label(action, account)
        try:
            return self._worker.run(job, timeout=timeout or self._timeout_now(), label=label)
        except VaultError as exc:
            raise self._named(exc, account) from exc.__cause__

    async def _arun(
        self,
        action: str,
        account: str | None,
        body: Callable[[Tick], T],
        *,
        scrub: tuple[str, ...] = (),
        call_timeout: float | None = None,
    ) -> T:
        job = self._job(action, account, body, scrub)
        try:
            return await self._worker.arun(
                job, call_timeout=call_timeout or self._timeout_now(), label=self._label(action, account)
            )
        except VaultError as exc:
            raise self._named(exc, account) from exc.__cause__

    # Jobs (these run on the worker thread; the value layout is chunked.py's) ----------------------

    def _probe_job(self, tick: Tick) -> None:
        tick()
        if secret_service_locked(self._entries.backend):
            raise VaultLocked("the vault is locked", hint=LOCKED_HINT)
        self._entries.raw_get(tick, PROBE_ACCOUNT)

    def _unlock_job(self, tick: Tick) -> None:
        # Reading any entry makes the backend unlock its collection, with the OS prompt where there is one.
        self._entries.raw_get(tick, PROBE_ACCOUNT)

    # Status --------------------------------------------------------------------------------------

    def _status_ok(self) -> VaultStatus:
        return VaultStatus(self.backend_name, "ok", self.describe(), self.is_memory)

    def _status_from(self, exc: VaultError) -> VaultStatus:
        state: VaultState = "locked" if isinstance(exc, VaultLocked) else "unavailable"
        message = exc.message
        if isinstance(exc, VaultTimeout):
            message += " (an unlock prompt may be waiting)"
        return VaultStatus(self.backend_name, state, message, self.is_memory)


def _check_account(account: str) -> None:
    if not isinstance(account, str) or not account:
        raise InvalidInputError("a vault account must be a non-empty string")
    if len(account) > MAX_ACCOUNT_LENGTH:
        raise InvalidInputError(f"a vault account is at most {MAX_ACCOUNT_LENGTH} characters")
    if fmt.RESERVED_CHAR in account or any(ord(ch) < 32 or ord(ch) == 127 for ch in account):
        raise InvalidInputError(f"vault account {account!r} contains '#' or a control character")


def _check_value(account: str, value: SecretValue | str) -> str:
    """The plain text to store; InvalidInputError (naming the account only) when it is not acceptable."""
    text = value.reveal() if isinstance(value, SecretValue) else value
    if not isinstance(text, str):
        raise InvalidInputError(f"the value for {account!r} must be text")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInputError(f"the value for {account!r} is not valid Unicode text") from None
    if size > MAX_VALUE_BYTES:
        raise InvalidInputError(
            f"the value for {account!r} is {size} bytes; the limit is {MAX_VALUE_BYTES // 1024} KiB"
        )
    return text


def open_vault(
    mode: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    timeout: float = 5.0,
    unlock_timeout: float = 120.0,
    platform: str | None = None,
    openbao: OpenBaoConfig | None = None,
) -> Vault:
    """The vault for `mode` (None: `KEYBROKER_VAULT`, else `system`); `memory` is session-only, `openbao`
    the team vault of `openbao` (else of `BAO_ADDR`).

    Loading the system backend can stall (it talks to D-Bus), so it runs on the vault's worker with the
    same timeout as any call. Raises VaultUnavailable (exit 4) with the fix in `hint`, or InvalidInputError
    for an unknown mode.
    """
    env = os.environ if environ is None else environ
    chosen = (mode if mode is not None else env.get("KEYBROKER_VAULT") or "system").strip().lower()
    if chosen == "memory":
        return Vault(MemoryKeyring(), timeout=timeout, unlock_timeout=unlock_timeout, is_memory=True)
    if chosen == "openbao":
        return _open_openbao(openbao, env, timeout=timeout, unlock_timeout=unlock_timeout, platform=platform)
    if chosen != "system":
        raise InvalidInputError(
            f"unknown vault mode {chosen!r}",
            hint="KEYBROKER_VAULT must be 'system' (the OS vault), 'openbao' (a team vault) or 'memory' "
            "(a session-only vault)",
        )
    worker = VaultWorker()
    try:
        backend = worker.run(
            lambda tick: load_system_backend(platform), timeout=timeout, label="open the OS vault"
        )
    except BaseException:
        worker.close(0)
        raise
    limit, encoding = default_chunking(platform)
    return Vault(
        backend,
        timeout=timeout,
        unlock_timeout=unlock_timeout,
        chunk_limit_bytes=limit,
        chunk_encoding=encoding,
        worker=worker,
    )


def _open_openbao(
    config: OpenBaoConfig | None,
    env: Mapping[str, str],
    *,
    timeout: float,
    unlock_timeout: float,
    platform: str | None,
) -> Vault:
    """The OpenBao backend's vault; its module loads only here (the OS vault's commands never pay for it).

    A call may wait out a leader election (`failover_seconds`) before it answers: the worker's timeout
    covers that, so a failover is a slow call and not a replaced worker."""
    from keybroker.core.vault.openbao import OpenBaoBackend
    from keybroker.core.vault.openbao_config import config_from_env, install_name
    from keybroker.core.vault.openbao_credentials import BackendCredentials

    config = config_from_env(env, config, install=install_name())
    if config is None:
        raise VaultUnavailable(
            "the OpenBao backend was chosen but no OpenBao address is set",
            hint="run `keybroker vault use openbao --address URL`, or set BAO_ADDR",
        )
    credentials = BackendCredentials(lambda: load_system_backend(platform))
    backend = OpenBaoBackend(config, environ=env, credentials=credentials)
    call_timeout = max(timeout, config.failover_seconds + config.request_timeout + 1.0)
    return Vault(backend, timeout=call_timeout, unlock_timeout=max(unlock_timeout, call_timeout))
