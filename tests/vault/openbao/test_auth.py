# SPDX-License-Identifier: Apache-2.0
"""Logging in to a real `bao server -dev`: token sources, AppRole and userpass, renewal, an expired or
revoked token, and a policy denial shown as what it is. No token ever shows in an error or a repr."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from keybroker.core.errors import VaultAuthRequired, VaultPermissionDenied
from keybroker.core.models import SecretValue
from keybroker.core.vault.backend import BackendAuthRequired
from keybroker.core.vault.memory import MemoryKeyring
from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.core.vault.openbao_credentials import CREDENTIAL_SERVICE, BackendCredentials
from tests.peers.openbao import DevServer
from tests.vault.openbao.conftest import backend_for, make_backend, make_token, put_policy, vault_for

OWN_VALUES = (
    'path "secret/data/{p}/*" {{ capabilities = ["create", "read", "update"] }}\n'
    'path "secret/metadata/{p}/*" {{ capabilities = ["read", "list", "delete"] }}\n'
)


def _own_policy(bao: DevServer, prefix: str) -> str:
    name = "own-" + prefix.replace("/", "-")
    put_policy(bao, name, OWN_VALUES.format(p=prefix))
    return name


def test_an_expired_token_is_auth_required_with_the_fix(
    bao: DevServer, config: OpenBaoConfig, prefix: str
) -> None:
    token = make_token(bao, _own_policy(bao, prefix), ttl="2s", renewable=False)
    vault = vault_for(backend_for(config, token))
    vault.set("sec_a", SecretValue("before expiry"))
    time.sleep(2.5)
    with pytest.raises(VaultAuthRequired) as info:
        vault.get("sec_a")
    assert info.value.exit_code == 4
    assert "has expired" in info.value.message
    assert "keybroker vault login" in (info.value.hint or "")
    assert token not in info.value.message + (info.value.hint or "")
    status = vault.probe()
    assert status.state == "locked"  # the tray's state: the vault needs a log-in, values stay safe


def test_a_revoked_token_is_auth_required_not_permission_denied(
    bao: DevServer, config: OpenBaoConfig, prefix: str
) -> None:
    token = make_token(bao, _own_policy(bao, prefix))
    vault = vault_for(backend_for(config, token))
    vault.set("sec_a", SecretValue("v"))
    with bao.client() as admin:
        assert admin.post("/v1/auth/token/revoke", json={"token": token}).status_code == 204
    with pytest.raises(VaultAuthRequired) as info:
        vault.get("sec_a")
    assert "OpenBao refused $BAO_TOKEN (expired or revoked)" in info.value.message
    assert token not in str(info.value)


def test_a_policy_denial_is_shown_as_one(bao: DevServer, config: OpenBaoConfig, prefix: str) -> None:
    name = "read-only-" + prefix.replace("/", "-")
    put_policy(bao, name, f'path "secret/data/{prefix}/*" {{ capabilities = ["read"] }}')
    token = make_token(bao, name)
    vault = vault_for(backend_for(config, token))
    assert vault.get("sec_a") is None  # reading is allowed
    with pytest.raises(VaultPermissionDenied) as info:
        vault.set("sec_a", SecretValue("v"))
    assert info.value.exit_code == 4
    assert "permission denied" in info.value.message
    assert f"OpenBao's policy denies POST on {prefix}/laptop-1/sec_a" in info.value.message
    assert "policies" in (info.value.hint or "")


def test_a_renewable_token_is_renewed_before_it_expires(
    bao: DevServer, config: OpenBaoConfig, prefix: str
) -> None:
    token = make_token(bao, _own_policy(bao, prefix), ttl="4s", renewable=True)
    backend = backend_for(config, token)
    vault = vault_for(backend)
    vault.set("sec_a", SecretValue("v"))
    first = backend.auth.info().expires
    assert first is not None
    for _ in range(4):  # 6 s of use: past the 4 s TTL, each call renewing when half of it is gone
        time.sleep(1.5)
        assert vault.get("sec_a") == SecretValue("v")
    renewed = backend.auth.info().expires
    assert renewed is not None and renewed > first + 3


def test_approle_logs_in_and_keeps_its_token(bao: DevServer, config: OpenBaoConfig, prefix: str) -> None:
    policy = _own_policy(bao, prefix)
    with bao.client() as admin:
        admin.post("/v1/sys/auth/approle", json={"type": "approle"})  # 400 when already enabled
        role = f"kb-{prefix.replace('/', '-')}"
        assert admin.post(f"/v1/auth/approle/role/{role}", json={"token_policies": [policy]}).is_success
        role_id = admin.get(f"/v1/auth/approle/role/{role}/role-id").json()["data"]["role_id"]
        secret_id = admin.post(f"/v1/auth/approle/role/{role}/secret-id").json()["data"]["secret_id"]
    keyring = MemoryKeyring()
    approle = config.with_changes(auth="approle", role_id=role_id)
    backend = make_backend(approle, environ={}, credentials=BackendCredentials(lambda: keyring))
    with pytest.raises(BackendAuthRequired, match="no AppRole secret id"):
        backend.auth.token()
    info = backend.auth.remember(secret_id)  # `keybroker vault login`
    assert info.source == "approle login" and policy in info.policies
    vault_for(backend).set("sec_a", SecretValue("by approle"))
    kept = keyring.accounts(CREDENTIAL_SERVICE)
    assert any(k.startswith("approle-secret-id@") for k in kept)
    assert any(k.startswith("login-token@") for k in kept)
    # A second process reuses the kept token (no new login) and reads the value.
    again = make_backend(approle, environ={}, credentials=BackendCredentials(lambda: keyring))
    assert vault_for(again).get("sec_a") == SecretValue("by approle")
    assert again.auth.info().source == "approle login (kept token)"
    assert secret_id not in repr(again) + repr(again.auth) + repr(info)


def test_userpass_logs_in_again_when_its_kept_token_was_revoked(
    bao: DevServer, config: OpenBaoConfig, prefix: str
) -> None:
    policy = _own_policy(bao, prefix)
    user = f"u{prefix.rsplit('/', 1)[-1]}"
    with bao.client() as admin:
        admin.post("/v1/sys/auth/userpass", json={"type": "userpass"})
        body = {"password": "pw-for-tests", "token_policies": [policy]}
        assert admin.post(f"/v1/auth/userpass/users/{user}", json=body).is_success
    keyring = MemoryKeyring()
    creds = BackendCredentials(lambda: keyring)
    userpass = config.with_changes(auth="userpass", username=user)
    backend = make_backend(userpass, environ={}, credentials=creds)
    backend.auth.remember("pw-for-tests")
    vault = vault_for(backend)
    vault.set("sec_a", SecretValue("v"))
    old = backend.auth.token()
    with bao.client() as admin:
        assert admin.post("/v1/auth/token/revoke", json={"token": old}).status_code == 204
    assert vault.get("sec_a") == SecretValue("v")  # refused, logged in again, retried
    assert backend.auth.token() != old


def test_token_sources_in_order(bao: DevServer, config: OpenBaoConfig, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".vault-token").write_text(bao.token + "\n")
    keyring = MemoryKeyring()
    creds = BackendCredentials(lambda: keyring)
    from_file = make_backend(config, environ={"HOME": str(home)}, credentials=creds)
    assert from_file.auth.info().source == "~/.vault-token"
    kept = make_backend(config, environ={"HOME": str(home)}, credentials=creds)
    kept.auth.remember(bao.token)  # `keybroker vault login`: checked, then kept in the OS vault
    assert keyring.accounts(CREDENTIAL_SERVICE) == [f"token@{bao.url}"]
    again = make_backend(config, environ={"HOME": str(home)}, credentials=creds)
    assert again.auth.info().source == "token kept in the OS vault"
    env = make_backend(config, environ={"HOME": str(home), "VAULT_TOKEN": bao.token}, credentials=creds)
    assert env.auth.info().source == "$VAULT_TOKEN"
    # A token kept for one address is never sent to another.
    other = config.with_changes(addresses=("http://127.0.0.1:1",))
    assert BackendCredentials(lambda: keyring).get(f"token@{other.address}") is None


def test_a_wrong_typed_token_is_not_kept(bao: DevServer, config: OpenBaoConfig) -> None:
    keyring = MemoryKeyring()
    backend = make_backend(config, environ={}, credentials=BackendCredentials(lambda: keyring))
    with pytest.raises(BackendAuthRequired, match="refused the token given"):
        backend.auth.remember("s.not-a-real-token")
    assert keyring.accounts(CREDENTIAL_SERVICE) == []
