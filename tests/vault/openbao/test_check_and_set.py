# SPDX-License-Identifier: Apache-2.0
"""Check-and-set on every write, with two real clients on one `bao server -dev`: of two writers of one
entry, one wins and the other gets a clear conflict; nothing is overwritten unseen or written twice."""

from __future__ import annotations

import threading

import pytest

from keybroker.core.errors import VaultConflict
from keybroker.core.models import SecretValue
from keybroker.core.vault import format as fmt
from keybroker.core.vault.backend import BackendConflict
from keybroker.core.vault.extras import value_at, value_history
from keybroker.core.vault.openbao_config import OpenBaoConfig
from tests.peers.openbao import DevServer
from tests.vault.openbao.conftest import backend_for, make_token, put_policy, vault_for

SERVICE = "keybroker"


def _entry(value: str) -> str:
    return fmt.inline_entry(value)


def test_the_second_of_two_interleaved_writers_gets_a_conflict(bao: DevServer, config: OpenBaoConfig) -> None:
    laptop_a, laptop_b = backend_for(config, bao.token), backend_for(config, bao.token)
    laptop_a.set_password(SERVICE, "sec_k", _entry("v1"))
    assert laptop_a.get_password(SERVICE, "sec_k") == _entry("v1")
    assert laptop_b.get_password(SERVICE, "sec_k") == _entry("v1")
    laptop_a.set_password(SERVICE, "sec_k", _entry("from A"))
    with pytest.raises(BackendConflict) as info:
        laptop_b.set_password(SERVICE, "sec_k", _entry("from B"))
    assert "changed by another client (now version 2; this write expected version 1)" in str(info.value)
    # A's value stands, B's was not written: two versions, no third.
    assert laptop_b.get_password(SERVICE, "sec_k") == _entry("from A")
    assert [v.version for v in laptop_a.versions(SERVICE, "sec_k")] == [1, 2]


def test_a_conflict_reaches_the_caller_as_vault_conflict_exit_4(
    bao: DevServer, config: OpenBaoConfig
) -> None:
    # Two laptops, two tokens of one policy: the losing write is refused with the fix, nothing written.
    put_policy(bao, "kb-cas", 'path "secret/*" { capabilities = ["create", "read", "update", "list"] }')
    vault_a = vault_for(backend_for(config, make_token(bao, "kb-cas")))
    vault_b = vault_for(backend_for(config, make_token(bao, "kb-cas")))
    vault_a.set("sec_k", SecretValue("one"))
    assert vault_b.get("sec_k") == SecretValue("one")  # B has seen version 1
    vault_a.set("sec_k", SecretValue("two"))  # version 2
    # B writes on what it last read (the vault's own writes read right before; this one does not).
    with pytest.raises(VaultConflict) as info:
        vault_b.call_backend("store", "sec_k", lambda b: b.set_password(SERVICE, "sec_k", _entry("three")))
    assert "conflict: could not store 'sec_k'" in info.value.message
    assert "secrets history" in (info.value.hint or "")
    assert info.value.exit_code == 4
    assert vault_b.get("sec_k") == SecretValue("two")
    assert [v.version for v in value_history(vault_b, "sec_k")] == [1, 2]


def test_a_write_whose_answer_was_lost_is_not_written_twice(bao: DevServer, config: OpenBaoConfig) -> None:
    # What a retry after a lost answer meets: the entry already holds exactly the value being written.
    writer, other = backend_for(config, bao.token), backend_for(config, bao.token)
    writer.set_password(SERVICE, "sec_r", _entry("v1"))
    other.get_password(SERVICE, "sec_r")
    writer.set_password(SERVICE, "sec_r", _entry("v2"))
    other.set_password(SERVICE, "sec_r", _entry("v2"))  # expects version 1, finds its own value at 2
    assert [v.version for v in other.versions(SERVICE, "sec_r")] == [1, 2]


def test_a_deleted_entry_is_written_again_without_a_conflict(bao: DevServer, config: OpenBaoConfig) -> None:
    first, second = backend_for(config, bao.token), backend_for(config, bao.token)
    first.set_password(SERVICE, "sec_d", _entry("old"))
    second.get_password(SERVICE, "sec_d")
    first.delete_password(SERVICE, "sec_d")
    second.set_password(SERVICE, "sec_d", _entry("new"))  # its version 1 is gone with the entry
    assert first.get_password(SERVICE, "sec_d") == _entry("new")


def test_racing_writers_lose_nothing_and_write_nothing_twice(
    bao: DevServer, config: OpenBaoConfig, prefix: str
) -> None:
    """Two vaults write one entry at once, round after round: every write either stands as exactly one
    version of the history or failed with VaultConflict; no value is lost silently or doubled."""
    with bao.client() as admin:  # KV v2 keeps 10 versions unless told otherwise: keep them all here
        kept = admin.post(f"/v1/secret/metadata/{prefix}/laptop-1/sec_race", json={"max_versions": 100})
        assert kept.status_code == 204, kept.text
    vaults = [vault_for(backend_for(config, bao.token)) for _ in range(2)]
    vaults[0].set("sec_race", SecretValue("start"))
    won: list[str] = []
    lost: list[str] = []
    record = threading.Lock()

    def write(index: int, rounds: int, barrier: threading.Barrier) -> None:
        for n in range(rounds):
            value = f"writer{index}-round{n}"
            barrier.wait()
            try:
                vaults[index].set("sec_race", SecretValue(value))
            except VaultConflict:
                with record:
                    lost.append(value)
            else:
                with record:
                    won.append(value)

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=write, args=(i, 25, barrier)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    history = value_history(vaults[0], "sec_race")
    values = [value_at(vaults[0], "sec_race", v.version) for v in history]
    written = [v.reveal() for v in values if v is not None]
    print(f"race: {len(won)} writes won, {len(lost)} lost to a conflict")
    assert len(won) + len(lost) == 50
    assert sorted(written[1:]) == sorted(won)  # each win is one version, each loss none
    assert not set(lost) & set(written)


def test_racing_audit_head_writers_keep_the_newest_head(bao: DevServer, config: OpenBaoConfig) -> None:
    """The app's head writer and a CLI command may store the head at once: a lost check-and-set is
    settled by the head's count (the newer stands), never raised at the caller."""
    from keybroker.core.audit.head import VaultHeadStore

    stores = [VaultHeadStore(vault_for(backend_for(config, bao.token))) for _ in range(2)]
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def write(index: int) -> None:
        for count in range(1, 21):
            barrier.wait()
            try:
                stores[index].write(count * 2 + index, f"hash-{count * 2 + index}")
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    count, head = stores[0].read() or (0, "")
    assert (count, head) in ((40, "hash-40"), (41, "hash-41"))
