"""Vault on MemoryKeyring and scripted backends: chunking, validation, threading, timeouts, errors."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from keyring import errors as kerr
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.compat import properties

from keybroker.core.errors import (
    InvalidInputError,
    VaultError,
    VaultLocked,
    VaultTimeout,
    VaultUnavailable,
)
from keybroker.core.models import MASK, MAX_VALUE_BYTES, SecretValue
from keybroker.core.vault import format as fmt
from keybroker.core.vault.backend import BackendLocked, BackendUnavailable, EntryNotFound
from keybroker.core.vault.memory import MemoryKeyring
from keybroker.core.vault.vault import MEMORY_DESCRIPTION, Vault, open_vault

try:  # keyring depends on secretstorage and jeepney on Linux only
    import jeepney
    import secretstorage.exceptions as ss_exc
    from jeepney.io.blocking import DBusConnectionBase
except ImportError:  # pragma: no cover - macOS and Windows
    jeepney = None  # type: ignore[assignment]

SERVICE = "keybroker"
WINDOWS_LIMIT = 2560
TOKEN_10K = "tok_" + "A1b2C3d4E5" * 1000  # a 10 KB token: 20 KB of UTF-16
NON_ASCII = (
    "😀🔑🚀 漢字かなカナ 한국어 Ωμέγα e\u0301 n\u0303 a\u0308\u0323 \U0001f469\u200d\U0001f4bb " * 60
).strip()


# Scripted backends -------------------------------------------------------------------------------


class _TestBackend(KeyringBackend):
    """Base for test backends: never viable, so keyring's own detection never picks one."""

    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("test backend")


class RaisingKeyring(_TestBackend):
    """Raises the given exception from every call."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def get_password(self, service: str, username: str) -> str | None:
        raise self.exc

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.exc

    def delete_password(self, service: str, username: str) -> None:
        raise self.exc


class ScriptedKeyring(_TestBackend):
    """A dict-backed backend whose calls can hang, fail, sleep or raise, recording the thread of each call."""

    def __init__(self) -> None:
        self.store = MemoryKeyring()
        self.gate = threading.Event()
        self.hang: set[str] = set()
        self.sleep = 0.0
        self.fail_set_at: int | None = None  # raise on the n-th set (1-based)
        self.raise_next: list[BaseException] = []
        self.threads: list[str] = []
        self.sets = 0

    def _enter(self, username: str) -> None:
        self.threads.append(threading.current_thread().name)
        if self.raise_next:
            raise self.raise_next.pop(0)
        if username in self.hang:
            self.gate.wait()
        if self.sleep:
            time.sleep(self.sleep)

    def get_password(self, service: str, username: str) -> str | None:
        self._enter(username)
        return self.store.get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self._enter(username)
        self.sets += 1
        if self.fail_set_at is not None and self.sets == self.fail_set_at:
            raise RuntimeError("simulated crash")
        self.store.set_password(service, username, password)

    def delete_password(self, service: str, username: str) -> None:
        self._enter(username)
        self.store.delete_password(service, username)


class PlaintextKeyring(_TestBackend):
    """Looks like keyrings.alt's plaintext file backend."""

    __module__ = "keyrings.alt.file"

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        pass


@pytest.fixture
def memory() -> MemoryKeyring:
    return MemoryKeyring()


@pytest.fixture
def chunked(memory: MemoryKeyring) -> Iterator[Vault]:
    vault = Vault(memory, chunk_limit_bytes=WINDOWS_LIMIT, chunk_encoding="utf-16-le")
    yield vault
    vault.close()


@pytest.fixture
def scripted() -> Iterator[ScriptedKeyring]:
    backend = ScriptedKeyring()
    yield backend
    backend.gate.set()  # let any stuck worker thread finish


def entries(backend: MemoryKeyring) -> list[str]:
    return backend.accounts(SERVICE)


def check_stored_sizes(backend: MemoryKeyring, limit: int, encoding: str) -> None:
    for account in entries(backend):
        raw = backend.get_password(SERVICE, account)
        assert raw is not None
        assert len(raw.encode(encoding)) <= limit


# Round trips and chunking ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [TOKEN_10K, NON_ASCII, "short", "", " \t\n", "#V" * 3000])
def test_chunked_round_trip_under_windows_limit(chunked: Vault, memory: MemoryKeyring, value: str) -> None:
    chunked.set("s-1", SecretValue(value))
    got = chunked.get("s-1")
    assert got is not None
    assert got.reveal() == value
    check_stored_sizes(memory, WINDOWS_LIMIT, "utf-16-le")
    if len(value.encode("utf-16-le")) > WINDOWS_LIMIT:
        assert len(entries(memory)) > 1
    else:
        assert entries(memory) == ["s-1"]


def test_ten_kb_token_is_split_by_encoded_size(chunked: Vault, memory: MemoryKeyring) -> None:
    chunked.set("s-1", SecretValue(TOKEN_10K))
    # 20,008 bytes of UTF-16 in chunks of at most 2560 bytes: 8 chunks plus the header.
    assert len(entries(memory)) == 1 + 8
    header = fmt.parse_entry(memory.get_password(SERVICE, "s-1") or "", "s-1")
    assert isinstance(header, fmt.ChunkHeader)
    assert header.count == 8


def test_max_size_value_round_trips_chunked(chunked: Vault, memory: MemoryKeyring) -> None:
    value = ("漢字😀" * 10_000)[: MAX_VALUE_BYTES // 4]
    value += "x" * (MAX_VALUE_BYTES - len(value.encode()))
    assert len(value.encode()) == MAX_VALUE_BYTES
    chunked.set("big", value)
    got = chunked.get("big")
    assert got is not None
    assert got.reveal() == value
    check_stored_sizes(memory, WINDOWS_LIMIT, "utf-16-le")


def test_empty_value_round_trips_and_differs_from_missing(memory: MemoryKeyring) -> None:
    vault = Vault(memory)
    vault.set("empty", SecretValue(""))
    got = vault.get("empty")
    assert got is not None
    assert got.reveal() == ""
    assert vault.exists("empty")
    assert vault.get("missing") is None
    assert not vault.exists("missing")


def test_replace_chunked_by_short_and_back_leaves_no_stale_chunks(
    chunked: Vault, memory: MemoryKeyring
) -> None:
    chunked.set("s-1", TOKEN_10K)
    chunked.set("s-1", "short")
    assert entries(memory) == ["s-1"]
    assert chunked.get("s-1") == SecretValue("short")

    chunked.set("s-1", NON_ASCII)
    first = set(entries(memory))
    chunked.set("s-1", TOKEN_10K)  # chunked over chunked: the other generation, old chunks removed
    second = set(entries(memory))
    assert first & second == {"s-1"}
    header = fmt.parse_entry(memory.get_password(SERVICE, "s-1") or "", "s-1")
    assert isinstance(header, fmt.ChunkHeader)
    assert second == {"s-1"} | {fmt.chunk_account("s-1", header.generation, i) for i in range(header.count)}
    assert chunked.get("s-1") == SecretValue(TOKEN_10K)

    chunked.set("s-1", TOKEN_10K[:100])  # chunked value replaced by a shorter chunked one... then short
    assert entries(memory) == ["s-1"]


def test_delete_removes_all_chunks(chunked: Vault, memory: MemoryKeyring) -> None:
    chunked.set("s-1", TOKEN_10K)
    chunked.set("s-2", "other")
    assert chunked.delete("s-1") is True
    assert entries(memory) == ["s-2"]
    assert chunked.get("s-1") is None
    assert chunked.delete("s-1") is False  # deleting a missing entry is not an error


def test_interrupted_chunked_write_keeps_old_value_and_delete_sweeps(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted, chunk_limit_bytes=WINDOWS_LIMIT, chunk_encoding="utf-16-le")
    vault.set("s-1", NON_ASCII)
    old_entries = entries(scripted.store)
    # The next write dies on its header write (after all its chunks were stored).
    pieces = fmt.split_encoded(TOKEN_10K, WINDOWS_LIMIT, "utf-16-le")
    scripted.fail_set_at = scripted.sets + len(pieces) + 1
    with pytest.raises(VaultError):
        vault.set("s-1", TOKEN_10K)
    assert vault.get("s-1") == SecretValue(NON_ASCII)  # never a half or mixed value
    assert len(entries(scripted.store)) > len(old_entries)  # orphans of the dead write
    assert vault.delete("s-1") is True
    assert entries(scripted.store) == []


def test_interrupted_write_leftovers_are_overwritten_by_next_write(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted, chunk_limit_bytes=WINDOWS_LIMIT, chunk_encoding="utf-16-le")
    scripted.fail_set_at = 9  # 8 chunks stored, the header write dies
    with pytest.raises(VaultError):
        vault.set("s-1", TOKEN_10K)
    assert vault.get("s-1") is None
    scripted.fail_set_at = None
    vault.set("s-1", "x" * 3000)  # 6000 bytes: 3 chunks at the same generation, stale ones swept
    header = fmt.parse_entry(scripted.store.get_password(SERVICE, "s-1") or "", "s-1")
    assert isinstance(header, fmt.ChunkHeader)
    assert len(entries(scripted.store)) == 1 + header.count == 4
    assert vault.get("s-1") == SecretValue("x" * 3000)


def test_damaged_chunks_raise_instead_of_returning_part_of_a_value(
    chunked: Vault, memory: MemoryKeyring
) -> None:
    chunked.set("s-1", TOKEN_10K)
    chunk = next(a for a in entries(memory) if "#" in a)
    memory.set_password(SERVICE, chunk, "tampered")
    with pytest.raises(VaultError, match="damaged") as info:
        chunked.get("s-1")
    assert TOKEN_10K[:50] not in str(info.value)
    memory.delete_password(SERVICE, chunk)
    with pytest.raises(VaultError, match="damaged"):
        chunked.get("s-1")


def test_foreign_entry_is_an_error_but_can_be_replaced_and_deleted(memory: MemoryKeyring) -> None:
    vault = Vault(memory)
    memory.set_password(SERVICE, "s-1", "written by someone else")
    with pytest.raises(VaultError, match="format"):
        vault.get("s-1")
    vault.set("s-1", "ours")
    assert vault.get("s-1") == SecretValue("ours")
    memory.set_password(SERVICE, "s-1", "")
    assert vault.exists("s-1")
    assert vault.delete("s-1") is True
    assert entries(memory) == []


def test_unchunked_vault_reads_chunked_entries(memory: MemoryKeyring) -> None:
    Vault(memory, chunk_limit_bytes=WINDOWS_LIMIT, chunk_encoding="utf-16-le").set("s-1", TOKEN_10K)
    plain = Vault(memory)
    assert plain.get("s-1") == SecretValue(TOKEN_10K)
    assert plain.delete("s-1") is True
    assert entries(memory) == []


def test_unchunked_vault_overwriting_a_chunked_entry_leaves_no_chunks(memory: MemoryKeyring) -> None:
    """The old value's pieces must not outlive it in the vault, whatever limit wrote them."""
    Vault(memory, chunk_limit_bytes=WINDOWS_LIMIT, chunk_encoding="utf-16-le").set("s-1", TOKEN_10K)
    assert len(entries(memory)) > 2
    plain = Vault(memory)
    plain.set("s-1", "short now")
    assert entries(memory) == ["s-1"]
    assert plain.get("s-1") == SecretValue("short now")


def test_custom_service_is_used(memory: MemoryKeyring) -> None:
    Vault(memory, service="other").set("a", "1")
    assert memory.accounts("other") == ["a"]
    assert entries(memory) == []


# Validation and masking --------------------------------------------------------------------------


def test_values_over_64_kib_are_refused(memory: MemoryKeyring) -> None:
    vault = Vault(memory)
    vault.set("ok", "x" * MAX_VALUE_BYTES)
    with pytest.raises(InvalidInputError) as info:
        vault.set("big", "é" * (MAX_VALUE_BYTES // 2 + 1))  # 32,769 characters, 65,538 bytes
    assert info.value.exit_code == 2
    assert "big" in str(info.value)
    assert not vault.exists("big")


@pytest.mark.parametrize("value", [b"bytes", 42, None, "\ud800lone surrogate"])
def test_non_text_values_are_refused(memory: MemoryKeyring, value: object) -> None:
    with pytest.raises(InvalidInputError):
        Vault(memory).set("s-1", value)  # type: ignore[arg-type]
    assert entries(memory) == []


@pytest.mark.parametrize("account", ["", "a#1.0", "#probe", "tab\there", "x" * 257])
def test_bad_accounts_are_refused(memory: MemoryKeyring, account: str) -> None:
    vault = Vault(memory)
    with pytest.raises(InvalidInputError):
        vault.set(account, "v")
    with pytest.raises(InvalidInputError):
        vault.get(account)


def test_nothing_shows_the_value(memory: MemoryKeyring, caplog: pytest.LogCaptureFixture) -> None:
    value = "hunter2-very-secret-value"
    with caplog.at_level(logging.DEBUG):
        vault = Vault(memory)
        vault.set("s-1", SecretValue(value))
        got = vault.get("s-1")
    assert got is not None
    assert repr(got) == f"SecretValue('{MASK}')"
    assert str(got) == MASK
    assert f"{got}" == MASK
    assert value not in repr(vault)
    assert value not in repr(memory)
    assert value not in caplog.text


def test_backend_error_text_is_scrubbed_of_the_value() -> None:
    value = "s3cr3t-value-in-an-error"
    vault = Vault(RaisingKeyring(kerr.PasswordSetError(f"could not store {value}")))
    with pytest.raises(VaultError) as info:
        vault.set("s-1", value)
    assert value not in str(info.value)
    assert MASK in str(info.value)
    assert "s-1" in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None  # the backend's exception is not kept around


def test_backend_is_logged_at_info(memory: MemoryKeyring, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="keybroker.vault"):
        Vault(memory)
    assert any(r.name == "keybroker.vault" and r.levelno == logging.INFO for r in caplog.records)
    assert MEMORY_DESCRIPTION in caplog.text


# Backend choice ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend",
    [fail.Keyring(), null.Keyring(), chainer.ChainerBackend(), PlaintextKeyring()],
    ids=["fail", "null", "chainer", "plaintext"],
)
def test_non_vault_backends_are_refused(backend: KeyringBackend) -> None:
    with pytest.raises(VaultUnavailable) as info:
        Vault(backend)
    assert info.value.exit_code == 4
    assert info.value.hint
    assert "KEYBROKER_VAULT=memory" in info.value.hint
    with pytest.raises(VaultUnavailable):
        Vault(backend, is_memory=True)  # claiming to be the memory vault does not get around the check


def test_open_vault_memory() -> None:
    for vault in (open_vault("memory"), open_vault(environ={"KEYBROKER_VAULT": "memory"})):
        with vault:
            assert vault.is_memory
            assert vault.describe() == MEMORY_DESCRIPTION
            assert "memory" in vault.backend_name
            vault.set("s-1", "v")
            assert vault.get("s-1") == SecretValue("v")
            assert vault.probe().state == "ok"


def test_open_vault_mode_argument_wins_over_environment() -> None:
    with open_vault("memory", environ={"KEYBROKER_VAULT": "bogus"}) as vault:
        assert vault.is_memory


@pytest.mark.parametrize("mode", ["bogus", "plaintext", "file"])
def test_open_vault_bad_mode(mode: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        open_vault(mode)
    assert info.value.exit_code == 2
    assert "memory" in (info.value.hint or "")
    with pytest.raises(InvalidInputError):
        open_vault(environ={"KEYBROKER_VAULT": mode})


def test_open_vault_system_without_a_backend_for_the_platform() -> None:
    with pytest.raises(VaultUnavailable) as info:
        open_vault("system", platform="plan9")
    assert "KEYBROKER_VAULT=memory" in (info.value.hint or "")


def test_constructor_validation(memory: MemoryKeyring) -> None:
    with pytest.raises(InvalidInputError):
        Vault(memory, chunk_limit_bytes=100)
    with pytest.raises(InvalidInputError):
        Vault(memory, chunk_encoding="no-such-codec")
    with pytest.raises(InvalidInputError):
        Vault(memory, timeout=0)


# Error mapping -----------------------------------------------------------------------------------


ERROR_CASES: list[tuple[BaseException, type[VaultError]]] = [
    (kerr.KeyringLocked("locked"), VaultLocked),
    (kerr.InitError("init"), VaultUnavailable),
    (kerr.NoKeyringError("none"), VaultUnavailable),
    (kerr.PasswordSetError("set"), VaultError),
    (kerr.PasswordDeleteError("del"), VaultError),
    (kerr.KeyringError("generic"), VaultError),
    (ConnectionRefusedError("refused"), VaultUnavailable),
    (TimeoutError("slow"), VaultTimeout),
    (RuntimeError("boom"), VaultError),
    # What our own backends (SecretServiceKeyring, MemoryKeyring) raise instead of keyring's errors.
    (BackendLocked("locked"), VaultLocked),
    (BackendUnavailable("no bus"), VaultUnavailable),
    (EntryNotFound("gone"), VaultError),  # from a read or a write it is no "missing entry"
]

if jeepney is not None:

    def _dbus_error(name: str) -> BaseException:
        address = jeepney.DBusAddress("/x", bus_name="org.example", interface="org.example")
        call = jeepney.new_method_call(address, "M")
        return jeepney.wrappers.DBusErrorResponse(jeepney.new_error(call, name, "s", ("no",)))

    ERROR_CASES += [
        (ss_exc.LockedException("locked"), VaultLocked),
        (ss_exc.PromptDismissedException("dismissed"), VaultLocked),
        (ss_exc.SecretServiceNotAvailableException("no service"), VaultUnavailable),
        (ss_exc.ItemNotFoundException("gone"), VaultError),
        (_dbus_error("org.freedesktop.DBus.Error.ServiceUnknown"), VaultUnavailable),
        (_dbus_error("org.freedesktop.Secret.Error.IsLocked"), VaultLocked),
        (_dbus_error("org.freedesktop.DBus.Error.AccessDenied"), VaultError),
    ]


@pytest.mark.parametrize(("exc", "expected"), ERROR_CASES, ids=[type(e).__name__ for e, _ in ERROR_CASES])
def test_backend_errors_are_mapped(exc: BaseException, expected: type[VaultError]) -> None:
    vault = Vault(RaisingKeyring(exc))
    calls = [
        lambda: vault.get("s-1"),
        lambda: vault.set("s-1", "v4lue-xyz"),
        lambda: vault.exists("s-1"),
        lambda: vault.delete("s-1"),
    ]
    for call in calls:
        with pytest.raises(VaultError) as info:
            call()
        assert type(info.value) is expected
        assert info.value.exit_code == 4
        assert "s-1" in str(info.value)
        assert "v4lue-xyz" not in str(info.value)
    vault.close()


def test_delete_refused_by_backend_is_an_error(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted)
    vault.set("s-1", "v")
    original = scripted.store.delete_password

    def refuse(service: str, username: str) -> None:
        raise kerr.PasswordDeleteError("refused")

    scripted.store.delete_password = refuse  # type: ignore[method-assign]
    with pytest.raises(VaultError, match="refused to delete"):
        vault.delete("s-1")
    scripted.store.delete_password = original  # type: ignore[method-assign]
    assert vault.delete("s-1") is True


class StructuralKeyring:
    """A backend that is no KeyringBackend: the three calls only, as the vault's protocol asks."""

    def __init__(self, missing: type[Exception]) -> None:
        self.entries: dict[str, str] = {}
        self.missing = missing
        self.refuse: Exception | None = None

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[username] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.refuse is not None:
            raise self.refuse
        if self.entries.pop(username, None) is None:
            raise self.missing("no such entry")


@pytest.mark.parametrize("missing", [EntryNotFound, kerr.PasswordDeleteError])
def test_a_missing_entry_on_delete_is_ours_or_keyrings(missing: type[Exception]) -> None:
    backend = StructuralKeyring(missing)
    with Vault(backend, chunk_limit_bytes=WINDOWS_LIMIT, chunk_encoding="utf-16-le") as vault:
        vault.set("s-1", TOKEN_10K)
        assert len(backend.entries) == 9
        assert vault.delete("s-1") is True  # the sweep stops at the first missing chunk
        assert backend.entries == {}
        assert vault.delete("s-1") is False


def test_other_delete_errors_are_not_a_missing_entry() -> None:
    backend = StructuralKeyring(EntryNotFound)
    vault = Vault(backend)
    vault.set("s-1", "v")
    backend.refuse = PermissionError("not allowed")
    with pytest.raises(VaultError) as info:
        vault.delete("s-1")
    assert type(info.value) is VaultError
    assert "PermissionError" in str(info.value)
    assert backend.entries == {"s-1": fmt.inline_entry("v")}
    vault.close()


class LeakyDBusKeyring(_TestBackend):
    """Like keyring's Secret Service backend on a locked collection: opens a connection and raises."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []

    def get_password(self, service: str, username: str) -> str | None:
        ours, theirs = socket.socketpair()
        self.sockets += [ours, theirs]
        bus = DBusConnectionBase(ours)
        assert bus.sock is ours
        raise kerr.KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError


@pytest.mark.skipif(jeepney is None, reason="jeepney (D-Bus) is only installed on Linux")
def test_connections_left_open_by_a_failing_backend_are_closed() -> None:
    backend = LeakyDBusKeyring()
    vault = Vault(backend)
    with pytest.raises(VaultLocked):
        vault.get("s-1")
    ours, theirs = backend.sockets
    assert ours.fileno() == -1  # closed by the vault, not left to the garbage collector
    theirs.close()
    vault.close()


def test_probe_reports_locked_and_unavailable() -> None:
    assert Vault(RaisingKeyring(kerr.KeyringLocked("x"))).probe().state == "locked"
    status = Vault(RaisingKeyring(kerr.InitError("no dbus"))).probe()
    assert status.state == "unavailable"
    assert "no dbus" in status.message
    assert not status.ok


# Threading and timeouts --------------------------------------------------------------------------


def test_every_call_runs_on_one_worker_thread(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted, chunk_limit_bytes=WINDOWS_LIMIT, chunk_encoding="utf-16-le")
    vault.set("a", TOKEN_10K)
    vault.get("a")
    vault.delete("a")
    assert len(set(scripted.threads)) == 1
    assert scripted.threads[0] != threading.current_thread().name
    vault.close()


def test_stuck_call_times_out_quickly_and_next_call_gets_a_fresh_worker(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted, timeout=0.2)
    vault.set("ok", "v")
    scripted.hang.add("stuck")
    started = time.monotonic()
    with pytest.raises(VaultTimeout) as info:
        vault.get("stuck")
    assert time.monotonic() - started < 2.0
    assert "stuck" in str(info.value)
    assert info.value.exit_code == 4
    stuck_thread = scripted.threads[-1]

    assert vault.get("ok") == SecretValue("v")  # works at once, on a new thread
    assert scripted.threads[-1] != stuck_thread
    scripted.gate.set()
    vault.close()


def test_calls_queued_behind_a_stuck_call_run_on_the_fresh_worker(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted, timeout=0.3)
    vault.set("ok", "v")
    scripted.hang.add("stuck")
    results: dict[str, object] = {}

    def call(name: str) -> None:
        try:
            results[name] = vault.get(name)
        except VaultError as exc:
            results[name] = exc

    first = threading.Thread(target=call, args=("stuck",))
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=call, args=("ok",))
    second.start()
    first.join(5)
    second.join(5)
    assert isinstance(results["stuck"], VaultTimeout)
    assert results["ok"] == SecretValue("v")
    scripted.gate.set()


def test_timeout_counts_per_backend_call_not_per_value(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted, timeout=0.25, chunk_limit_bytes=WINDOWS_LIMIT, chunk_encoding="utf-16-le")
    vault.set("a", TOKEN_10K)  # header + 8 chunks
    scripted.sleep = 0.05  # 9 reads x 0.05 s = 0.45 s, longer than the timeout, each call well within it
    assert vault.get("a") == SecretValue(TOKEN_10K)


def test_too_many_stuck_calls_fail_fast_until_they_return(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted, timeout=0.05)
    scripted.hang.add("stuck")
    for _ in range(4):
        with pytest.raises(VaultTimeout):
            vault.get("stuck")
    started = time.monotonic()
    with pytest.raises(VaultTimeout, match="stopped answering"):
        vault.get("other")
    assert time.monotonic() - started < 0.05
    scripted.gate.set()
    deadline = time.monotonic() + 5
    while vault._worker.stuck_threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert vault.get("other") is None


@pytest.mark.parametrize(
    "locked", [kerr.KeyringLocked("Failed to unlock the collection!"), BackendLocked("Failed to unlock")]
)
def test_locked_result_gives_the_next_call_the_unlock_timeout(
    scripted: ScriptedKeyring, locked: Exception
) -> None:
    vault = Vault(scripted, timeout=0.1, unlock_timeout=5.0)
    scripted.raise_next = [locked]
    with pytest.raises(VaultLocked):
        vault.get("s-1")
    assert vault.unlocking
    scripted.sleep = 0.3  # the OS unlock prompt is showing
    assert vault.get("s-1") is None  # no VaultTimeout: the long timeout applied
    assert not vault.unlocking
    with pytest.raises(VaultTimeout):  # back to the short timeout
        vault.get("s-1")
    scripted.sleep = 0


def test_unlock_uses_the_long_timeout(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted, timeout=0.1, unlock_timeout=5.0)
    scripted.sleep = 0.3
    assert vault.unlock().state == "ok"
    assert vault.probe().state == "unavailable"  # the probe keeps the short timeout
    scripted.sleep = 0


def _alive(name: str) -> bool:
    return any(t.name == name and t.is_alive() for t in threading.enumerate())


def test_close_stops_the_worker(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted)
    vault.set("a", "v")
    worker_thread = scripted.threads[-1]
    assert _alive(worker_thread)
    vault.close()
    assert not _alive(worker_thread)
    with pytest.raises(VaultError, match="closed"):
        vault.get("a")
    vault.close()  # closing twice is fine


class ConnectedKeyring(MemoryKeyring):
    """A backend holding a per-thread resource, like SecretServiceKeyring's connections."""

    def __init__(self) -> None:
        super().__init__()
        self.released: list[str] = []

    def release_thread(self) -> None:
        self.released.append(threading.current_thread().name)


def test_worker_threads_release_backend_resources_as_they_end() -> None:
    backend = ConnectedKeyring()
    vault = Vault(backend, timeout=0.1)
    vault.set("a", "v")
    assert backend.released == []
    vault.close()
    assert len(backend.released) == 1
    assert backend.released[0].startswith("keybroker-vault-")


def test_an_unclosed_vault_does_not_leave_its_thread_behind(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted)
    vault.set("a", "v")
    worker_thread = scripted.threads[-1]
    del vault
    gc.collect()
    deadline = time.monotonic() + 5
    while _alive(worker_thread) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(worker_thread)


# Async API ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_api_round_trip(chunked: Vault) -> None:
    await chunked.aset("s-1", SecretValue(NON_ASCII))
    assert await chunked.aexists("s-1")
    assert await chunked.aget("s-1") == SecretValue(NON_ASCII)
    assert await chunked.adelete("s-1") is True
    assert await chunked.adelete("s-1") is False
    assert await chunked.aget("s-1") is None
    assert (await chunked.aprobe()).ok
    assert (await chunked.aunlock()).ok


@pytest.mark.asyncio
async def test_async_calls_never_block_the_event_loop(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted, timeout=2.0)
    scripted.sleep = 0.3
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await vault.aset("s-1", "v")
    task.cancel()
    assert ticks >= 10


@pytest.mark.asyncio
async def test_async_timeout_and_recovery(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted, timeout=0.2)
    await vault.aset("ok", "v")
    scripted.hang.add("stuck")
    started = time.monotonic()
    with pytest.raises(VaultTimeout):
        await vault.aget("stuck")
    assert time.monotonic() - started < 2.0
    assert await vault.aget("ok") == SecretValue("v")
    scripted.gate.set()


@pytest.mark.asyncio
async def test_cancelled_async_call_that_has_not_started_never_runs(scripted: ScriptedKeyring) -> None:
    vault = Vault(scripted, timeout=5.0)
    scripted.hang.add("slow")
    blocker = asyncio.create_task(vault.aget("slow"))
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(vault.aset("never", "v"))
    await asyncio.sleep(0.05)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    scripted.gate.set()
    assert await blocker is None
    assert await vault.aget("never") is None


@pytest.mark.asyncio
async def test_fifty_concurrent_async_tasks(chunked: Vault) -> None:
    async def one(i: int) -> None:
        value = f"value-{i}-" + NON_ASCII[: i * 40]
        await chunked.aset(f"s-{i}", value)
        got = await chunked.aget(f"s-{i}")
        assert got == SecretValue(value)

    await asyncio.gather(*(one(i) for i in range(50)))


def test_accounts_come_from_the_backends_search_or_none_where_it_cannot_list() -> None:
    with Vault(MemoryKeyring(), service="svc") as vault:
        vault.set("sec_1", "x")
        vault.set("sec_2", "y")
        assert vault.accounts() == ["sec_1", "sec_2"]
        assert vault.delete_entries(["sec_1", "sec_9"]) == 1
        assert vault.accounts() == ["sec_2"]
    # keyring's macOS and Windows backends have no search: only the catalog knows what is there.
    with Vault(ScriptedKeyring(), service="svc") as vault:
        vault.set("sec_1", "x")
        assert vault.accounts() is None
    locked = RaisingKeyring(kerr.KeyringLocked("locked"))
    with Vault(locked, service="svc") as vault, pytest.raises(VaultLocked):
        vault.delete_entries(["sec_1"])
