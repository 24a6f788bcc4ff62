"""The vault's contract on a real Secret Service (gnome-keyring on the rig's private D-Bus session).

Every test uses its own throw-away service name and removes its entries; the lock test unlocks the
collection again whatever happens. Skipped unless KEYBROKER_TEST_SECRET_SERVICE=1 (see secret_service.py).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import SecretService

from keybroker.core.errors import VaultLocked, VaultTimeout
from keybroker.core.models import MAX_VALUE_BYTES, SecretValue
from keybroker.core.vault import format as fmt
from keybroker.core.vault.choice import load_system_backend
from keybroker.core.vault.vault import Vault, open_vault
from tests.vault import secret_service as rig

_PROBLEM = rig.rig_problem()
pytestmark = [pytest.mark.secret_service, pytest.mark.skipif(_PROBLEM is not None, reason=_PROBLEM or "")]

UNICODE_VALUES = [
    "plain-ascii-token",
    "זהכיףסתםלשמועאיךתנצחקרפדעץטובבגן",
    "Съешь же ещё этих мягких французских булок",
    "😀🔑🚀 漢字かなカナ 한국어 e\u0301 a\u0308\u0323 \U0001f469\u200d\U0001f4bb",
    " \t\r\n!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ",
    "\x00nul-inside\x00",
]


def _open_fds() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


@pytest.fixture(scope="module")
def backend() -> Iterator[KeyringBackend]:
    loaded = load_system_backend()
    yield loaded
    close = getattr(loaded, "close", None)
    if close is not None:
        close()


@pytest.fixture
def service() -> Iterator[str]:
    name = f"keybroker-test-{uuid.uuid4().hex[:12]}"
    yield name
    rig.delete_all(name)


@pytest.fixture
def vault(backend: KeyringBackend, service: str) -> Iterator[Vault]:
    with Vault(backend, service=service, timeout=10.0) as opened:
        yield opened


def test_open_vault_system_uses_secret_service() -> None:
    with open_vault("system") as vault:
        assert vault.backend_name == (
            "SecretService (keybroker.core.vault.secret_service.SecretServiceKeyring)"
        )
        assert not vault.is_memory
        assert vault.chunk_limit_bytes is None
        status = vault.probe()
        assert status.state == "ok", status.message


@pytest.mark.parametrize("value", UNICODE_VALUES)
def test_unicode_round_trip(vault: Vault, service: str, value: str) -> None:
    vault.set("s-1", SecretValue(value))
    assert vault.get("s-1") == SecretValue(value)
    assert vault.exists("s-1")
    assert list(rig.accounts(service)) == ["s-1"]


def test_empty_value_is_not_missing(vault: Vault, service: str) -> None:
    vault.set("empty", SecretValue(""))
    got = vault.get("empty")
    assert got is not None
    assert got.reveal() == ""
    assert vault.get("never-stored") is None
    assert not vault.exists("never-stored")
    assert "empty" in rig.accounts(service)


def test_64_kib_value(vault: Vault) -> None:
    value = "漢😀" * 5000
    value += "x" * (MAX_VALUE_BYTES - len(value.encode()))
    assert len(value.encode()) == MAX_VALUE_BYTES
    vault.set("big", value)
    assert vault.get("big") == SecretValue(value)


def test_replace_and_delete(vault: Vault, service: str) -> None:
    assert vault.delete("missing") is False
    vault.set("s-1", "first")
    vault.set("s-1", "second")
    assert vault.get("s-1") == SecretValue("second")
    assert list(rig.accounts(service)) == ["s-1"]
    assert vault.delete("s-1") is True
    assert vault.get("s-1") is None
    assert rig.accounts(service) == {}
    assert vault.delete("s-1") is False


def test_fifty_concurrent_threads(vault: Vault, service: str) -> None:
    def one(i: int) -> bool:
        value = f"thread-value-{i}-é😀"
        vault.set(f"t-{i}", value)
        return vault.get(f"t-{i}") == SecretValue(value)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    assert all(results)
    assert len(rig.accounts(service)) == 50


@pytest.mark.asyncio
async def test_fifty_concurrent_tasks(vault: Vault, service: str) -> None:
    async def one(i: int) -> bool:
        value = f"task-value-{i}-漢字"
        await vault.aset(f"a-{i}", value)
        return await vault.aget(f"a-{i}") == SecretValue(value)

    assert all(await asyncio.gather(*(one(i) for i in range(50))))
    assert len(rig.accounts(service)) == 50
    assert all(await asyncio.gather(*(vault.adelete(f"a-{i}") for i in range(50))))
    assert rig.accounts(service) == {}


def test_entries_are_shared_with_keyrings_own_backend(vault: Vault, service: str) -> None:
    stock = SecretService.Keyring()  # what `keyring get keybroker <id>` would use
    vault.set("ours", "written by keybroker")
    assert stock.get_password(service, "ours") == fmt.inline_entry("written by keybroker")
    stock.set_password(service, "theirs", fmt.inline_entry("written by keyring"))
    assert vault.get("theirs") == SecretValue("written by keyring")
    assert vault.delete("theirs") is True
    assert stock.get_password(service, "theirs") is None


def test_one_connection_is_kept_open(vault: Vault) -> None:
    vault.set("s-1", "v")
    before = _open_fds()
    for i in range(30):
        vault.set(f"s-{i}", "v")
        vault.get(f"s-{i}")
        vault.delete(f"s-{i}")
    assert _open_fds() == before


def test_one_session_serves_every_call(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import secretstorage.collection
    import secretstorage.item

    from keybroker.core.vault import secret_service as secret_service_keyring

    opened: list[object] = []
    real_open_session = secretstorage.util.open_session

    def counting_open_session(connection: object) -> object:
        opened.append(connection)
        return real_open_session(connection)  # type: ignore[arg-type]

    for module in (secretstorage.util, secretstorage.item, secretstorage.collection, secret_service_keyring):
        monkeypatch.setattr(module, "open_session", counting_open_session)
    with Vault(load_system_backend(), service=service) as writer:
        writer.set("s-1", "v")
    opened.clear()
    with Vault(load_system_backend(), service=service) as reader:  # a fresh connection that only reads
        for _ in range(10):
            assert reader.get("s-1") == SecretValue("v")
    assert len(opened) == 1  # one Diffie-Hellman session per connection, not one per read


def test_a_dropped_connection_is_reopened(backend: KeyringBackend, vault: Vault) -> None:
    vault.set("s-1", "v")
    close = getattr(backend, "close", None)
    assert close is not None, "the Secret Service backend keeps connections open"
    close()  # as if the bus connection broke
    assert vault.get("s-1") == SecretValue("v")


def test_chunked_value_with_a_small_limit(backend: KeyringBackend, service: str) -> None:
    value = "😀漢字 combining e\u0301 — " * 200
    with Vault(backend, service=service, chunk_limit_bytes=512, chunk_encoding="utf-16-le") as vault:
        vault.set("s-1", value)
        stored = rig.accounts(service)
        assert len(stored) > 10
        assert all(len(raw.decode("utf-8").encode("utf-16-le")) <= 512 for raw in stored.values())
        assert vault.get("s-1") == SecretValue(value)

        vault.set("s-1", value[::-1])  # chunked over chunked: only the new generation remains
        assert vault.get("s-1") == SecretValue(value[::-1])
        assert len(rig.accounts(service)) == len(stored)

        vault.set("s-1", "short")
        assert list(rig.accounts(service)) == ["s-1"]
        vault.set("s-1", value)
        assert vault.delete("s-1") is True
        assert rig.accounts(service) == {}


def test_locked_collection_is_reported_promptly(vault: Vault) -> None:
    password = os.environ.get(rig.PASSWORD_VARIABLE)
    if not password:
        pytest.skip(f"{rig.PASSWORD_VARIABLE} is not set: the test could not unlock the collection again")
    vault.set("s-1", "before-lock")
    open_fds = _open_fds()
    rig.lock()
    try:
        assert rig.is_locked()
        assert vault.probe().state == "locked"  # asked without opening a prompt
        started = time.monotonic()
        with pytest.raises((VaultLocked, VaultTimeout)) as info:
            vault.get("s-1")  # the backend's unlock prompt cannot show without a display
        assert time.monotonic() - started < 15
        assert info.value.exit_code == 4
        assert "before-lock" not in str(info.value)
        with pytest.raises((VaultLocked, VaultTimeout)):
            asyncio.run(vault.aget("s-1"))
        # keyring leaves its D-Bus connection open when it raises KeyringLocked; the vault closes it.
        assert _open_fds() == open_fds
    finally:
        rig.unlock(password)
    assert not rig.is_locked()
    assert vault.get("s-1") == SecretValue("before-lock")
    assert vault.probe().state == "ok"


def test_accounts_lists_values_and_their_chunks_and_delete_entries_removes_them(
    backend: KeyringBackend, service: str
) -> None:
    with Vault(backend, service=service, chunk_limit_bytes=512) as vault:
        vault.set("s-1", "x" * 2000)
        vault.set("s-2", "short")
        listed = vault.accounts()
        assert listed is not None and listed == sorted(rig.accounts(service))
        assert "s-2" in listed and "s-1" in listed and len(listed) > 3  # s-1's chunks too
        assert vault.delete_entries(listed) == len(listed)
        assert vault.accounts() == [] and rig.accounts(service) == {}
        assert vault.delete_entries(["s-1"]) == 0
