# SPDX-License-Identifier: Apache-2.0
"""Switching between the OS vault (the rig's gnome-keyring) and a real `bao server -dev`: the values are
copied across and verified, the switch is audited, a failed switch changes nothing, and the side left
keeps its copies unless the user asks (`--remove-old`). A token typed once is kept in the OS vault."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator

import pytest

from keybroker import VAULT_SERVICE
from keybroker.core.secrets.vault_switch import INSTALL_ACCOUNTS
from keybroker.core.vault.backend import VaultBackend
from keybroker.core.vault.choice import load_system_backend
from keybroker.core.vault.openbao_config import OpenBaoConfig, install_name
from keybroker.core.vault.openbao_credentials import CREDENTIAL_SERVICE, BackendCredentials
from keybroker.system.api_token import TOKEN_ACCOUNT
from keybroker.system.paths import Paths
from tests.conftest import RunCli
from tests.peers.openbao import DevServer
from tests.vault import secret_service as rig
from tests.vault.openbao.conftest import kv_get, make_backend, make_token, put_policy

_PROBLEM = rig.rig_problem()
pytestmark = [pytest.mark.secret_service, pytest.mark.skipif(_PROBLEM is not None, reason=_PROBLEM or "")]


@pytest.fixture
def kb(run_cli: RunCli, bao: DevServer) -> Callable[..., object]:
    """`keybroker` with the vault the settings choose (the OS vault until a switch)."""

    def run(*args: str, token: str | None = None, **kwargs: object) -> object:
        return run_cli(*args, env={"KEYBROKER_VAULT": None, "BAO_TOKEN": token or bao.token}, **kwargs)  # type: ignore[arg-type]

    return run


def _folder(prefix: str) -> str:
    """This test's install folder under the prefix (`vault use` names the install after the data home)."""
    return f"{prefix}/{install_name(str(Paths.from_env(os.environ).data_dir))}"


def _ids(kb: Callable[..., object]) -> dict[str, str]:
    listed = kb("secrets", "list", "--json")
    return {r["key"]: r["secret_id"] for r in json.loads(listed.stdout)}  # type: ignore[attr-defined]


def test_install_accounts_are_the_api_token_and_the_audit_head() -> None:
    assert TOKEN_ACCOUNT in INSTALL_ACCOUNTS and "keybroker.audit-head" in INSTALL_ACCOUNTS


@pytest.fixture
def os_vault() -> Iterator[VaultBackend]:
    """The rig's Secret Service, read directly (closed at the end)."""
    backend = load_system_backend()
    yield backend
    close = getattr(backend, "close", None)
    if callable(close):
        close()


def test_values_move_to_openbao_and_back_verified(
    kb: Callable[..., object], bao: DevServer, prefix: str, os_vault: VaultBackend
) -> None:
    for key, value in (("OPENAI_API_KEY", "sk-one"), ("GITHUB_TOKEN", "ghp-two")):
        assert kb("secrets", "set", key, stdin=value).returncode == 0  # type: ignore[attr-defined]
    ids = _ids(kb)
    to_bao = ("vault", "use", "openbao", "--address", bao.url, "--prefix", prefix, "--no-teams")
    asked = kb(*to_bao)
    assert asked.returncode == 2 and "--copy" in asked.stderr  # type: ignore[attr-defined]
    moved = kb(*to_bao, "--copy")
    assert moved.returncode == 0, moved.stderr  # type: ignore[attr-defined]
    assert "2 copied and verified" in moved.stderr  # type: ignore[attr-defined]
    assert kb("secrets", "show", "OPENAI_API_KEY", "--reveal").stdout == "sk-one"  # type: ignore[attr-defined]
    folder = _folder(prefix)
    assert kv_get(bao, f"{folder}/{ids['GITHUB_TOKEN']}").json()["data"]["data"] == {"value": "ghp-two"}
    assert os_vault.get_password(VAULT_SERVICE, ids["GITHUB_TOKEN"]) == "Vghp-two"  # left, not asked to go
    audit = json.loads(kb("audit", "--json").stdout)  # type: ignore[attr-defined]
    (changed,) = [e for e in audit if e["decision"] == "vault_changed"]
    assert "2 value(s) copied" in changed["detail"]
    assert kb("audit", "verify").returncode == 0  # type: ignore[attr-defined]
    shown = json.loads(kb("vault", "show", "--json").stdout)  # type: ignore[attr-defined]
    assert (shown["backend"], shown["prefix"]) == ("openbao", prefix)

    kb("secrets", "set", "OPENAI_API_KEY", stdin="sk-one-changed")  # a change made while on OpenBao
    back = kb("vault", "use", "system", "--copy", "--remove-old")
    assert back.returncode == 0, back.stderr  # type: ignore[attr-defined]
    assert kb("secrets", "show", "OPENAI_API_KEY", "--reveal").stdout == "sk-one-changed"  # type: ignore[attr-defined]
    for secret_id in ids.values():  # asked to: nothing left behind in OpenBao
        assert kv_get(bao, f"{folder}/{secret_id}").status_code == 404
    assert kv_get(bao, f"{folder}/keybroker.audit-head").status_code == 404
    assert kb("audit", "verify").returncode == 0  # type: ignore[attr-defined]


def test_a_switch_that_fails_halfway_changes_nothing(
    kb: Callable[..., object], bao: DevServer, prefix: str
) -> None:
    assert kb("secrets", "set", "OPENAI_API_KEY", stdin="sk-one").returncode == 0  # type: ignore[attr-defined]
    secret_id = _ids(kb)["OPENAI_API_KEY"]
    # The token may write the values but not the install's own entries: the copy fails after the values.
    name = "half-" + prefix.replace("/", "-")
    put_policy(
        bao,
        name,
        f'path "secret/+/{prefix}/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}\n'
        f'path "secret/+/{_folder(prefix)}/keybroker.*" {{ capabilities = ["deny"] }}\n',
    )
    token = make_token(bao, name)
    failed = kb("vault", "use", "openbao", "--address", bao.url, "--prefix", prefix, "--copy", token=token)
    assert failed.returncode == 4, failed.stderr  # type: ignore[attr-defined]
    assert "permission denied" in failed.stderr  # type: ignore[attr-defined]
    assert "nothing was switched; the copies were taken back" in failed.stderr  # type: ignore[attr-defined]
    assert kv_get(bao, f"{_folder(prefix)}/{secret_id}").status_code == 404  # the copy was taken back
    assert json.loads(kb("vault", "show", "--json").stdout)["backend"] == "system"  # type: ignore[attr-defined]
    assert kb("secrets", "show", "OPENAI_API_KEY", "--reveal").stdout == "sk-one"  # type: ignore[attr-defined]


def test_a_token_typed_once_is_kept_in_the_os_vault(
    bao: DevServer, config: OpenBaoConfig, os_vault: VaultBackend
) -> None:
    credentials = BackendCredentials(load_system_backend)
    first = make_backend(config, environ={}, credentials=credentials)
    first.auth.remember(bao.token)
    stored = os_vault.get_password(CREDENTIAL_SERVICE, f"token@{bao.url}")
    assert stored == bao.token  # in the rig's gnome-keyring, service keybroker-openbao
    again = make_backend(config, environ={}, credentials=BackendCredentials(load_system_backend))
    assert again.auth.info().source == "token kept in the OS vault"
    again.auth.forget()
    assert os_vault.get_password(CREDENTIAL_SERVICE, f"token@{bao.url}") is None
