# SPDX-License-Identifier: Apache-2.0
"""The OpenBao backend on a real `bao server -dev`: the backend contract the Secret Service passes, and
how its entries sit in KV v2 (one secret per value, this install's own entries apart)."""

from __future__ import annotations

import uuid

import pytest

from keybroker.core.errors import VaultError
from keybroker.core.models import SecretValue
from keybroker.core.vault.backend import VaultBackend
from keybroker.core.vault.extras import vault_details
from keybroker.core.vault.openbao import OpenBaoBackend
from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.core.vault.vault import open_vault
from tests.core.vault.backend_contract import VaultBackendContract
from tests.peers.openbao import DevServer
from tests.vault.openbao.conftest import backend_for, kv_get, kv_put, vault_for


class TestOpenBaoContract(VaultBackendContract):
    """The contract suite (unicode, difficult accounts, deletes, services kept apart) on KV v2."""

    server: DevServer

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _server(cls, bao: DevServer) -> None:
        # Class-scoped, so it runs before the contract's own (function-scoped) fixture builds the backend.
        cls.server = bao

    def make_backend(self) -> VaultBackend:
        config = OpenBaoConfig(addresses=(self.server.url,), prefix=f"kbtest/{uuid.uuid4().hex[:10]}")
        return backend_for(config, self.server.token)


def test_open_vault_openbao_round_trip(bao: DevServer, config: OpenBaoConfig) -> None:
    with open_vault("openbao", environ={"BAO_TOKEN": bao.token}, openbao=config) as vault:
        assert vault.describe().startswith(f"team vault: OpenBao at {bao.url}")
        assert vault.probe().ok
        vault.set("sec_one", SecretValue("first value"))
        assert vault.get("sec_one") == SecretValue("first value")
        assert vault.delete("sec_one") is True
        assert vault.get("sec_one") is None
        assert vault.delete("sec_one") is False


def test_each_value_is_one_kv_secret_readable_by_an_admin(
    root_backend: OpenBaoBackend, bao: DevServer, prefix: str
) -> None:
    vault = vault_for(root_backend)
    vault.set("sec_abc", SecretValue("s3cret value"))
    read = kv_get(bao, f"{prefix}/laptop-1/sec_abc")
    assert read.json()["data"]["data"] == {"value": "s3cret value"}
    vault.set("keybroker.audit-head", SecretValue("3:abcd"))
    head = kv_get(bao, f"{prefix}/laptop-1/keybroker.audit-head")
    assert head.json()["data"]["data"] == {"value": "3:abcd"}
    assert vault.accounts() == ["keybroker.audit-head", "sec_abc"]  # what `purge` and `doctor` search


def test_two_installs_under_one_prefix_keep_their_entries_apart(
    bao: DevServer, config: OpenBaoConfig
) -> None:
    # Each install's catalog names its own values: another install's purge or leftover search must
    # never find them (`Vault.accounts` lists this install's folder only).
    first = vault_for(backend_for(config, bao.token))
    second = vault_for(backend_for(config.with_changes(install="laptop-2"), bao.token))
    first.set("sec_first", SecretValue("one value"))
    first.set("keybroker.audit-head", SecretValue("7:first"))
    second.set("keybroker.audit-head", SecretValue("2:second"))
    assert second.get("sec_first") is None
    assert first.get("keybroker.audit-head") == SecretValue("7:first")
    assert second.get("keybroker.audit-head") == SecretValue("2:second")
    assert second.accounts() == ["keybroker.audit-head"]


def test_a_value_kept_under_another_field_is_a_clear_error(
    root_backend: OpenBaoBackend, bao: DevServer, prefix: str
) -> None:
    kv_put(bao, f"{prefix}/laptop-1/sec_odd", api_key="x", other="y")
    with pytest.raises(VaultError) as info:
        vault_for(root_backend).get("sec_odd")
    assert "no `value` field (fields: api_key, other)" in info.value.message
    assert "value=" in (info.value.hint or "")


def test_details_name_the_identity_and_never_the_token(root_backend: OpenBaoBackend, bao: DevServer) -> None:
    details = vault_details(vault_for(root_backend))
    assert details["backend"] == "openbao"
    assert details["address"] == bao.url
    assert details["token from"] == "$BAO_TOKEN"
    assert details["policies"] == "root"
    assert details["token expires"] == "never"
    shown = repr(details) + repr(root_backend) + repr(root_backend.auth) + repr(root_backend.http)
    assert bao.token not in shown
