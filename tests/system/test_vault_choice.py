# SPDX-License-Identifier: Apache-2.0
"""Which vault holds the values: the settings file's `vault` (never a token), KEYBROKER_VAULT over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keybroker.core.errors import InvalidInputError
from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.system import settings
from keybroker.system.paths import Paths
from keybroker.system.vault_choice import save_choice, saved_openbao, vault_choice


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths.from_env({"KEYBROKER_HOME": str(tmp_path / "home")})


def test_the_os_vault_by_default_and_the_environment_over_the_settings(paths: Paths) -> None:
    assert vault_choice({}, paths).mode == "system"
    config = OpenBaoConfig(addresses=("http://127.0.0.1:8200",), prefix="keybroker/alice", install="lap")
    save_choice(paths, "openbao", config)
    chosen = vault_choice({}, paths)
    assert (chosen.mode, chosen.openbao, chosen.from_env) == ("openbao", config, False)
    assert vault_choice({"KEYBROKER_VAULT": "memory"}, paths).mode == "memory"
    save_choice(paths, "system")  # switching back keeps the OpenBao part for next time
    assert vault_choice({}, paths).mode == "system" and saved_openbao(paths) == config


def test_the_settings_file_holds_where_and_who_never_a_token(paths: Paths) -> None:
    config = OpenBaoConfig(
        addresses=("https://bao.example:8200", "https://bao2.example:8200"),
        auth="approle",
        role_id="role-1",
        teams=("platform",),
        install="lap",
    )
    save_choice(paths, "openbao", config)
    data = json.loads(paths.settings_file.read_text())
    assert data["vault"]["backend"] == "openbao"
    assert set(data["vault"]["openbao"]) == set(config.to_json())
    assert not {"token", "secret_id", "password"} & set(data["vault"]["openbao"])
    assert settings.load(paths.settings_file).bridge_port == settings.DEFAULT_PORT  # the rest untouched


def test_environment_only_openbao_names_this_install_stably(paths: Paths) -> None:
    env = {"KEYBROKER_VAULT": "openbao", "BAO_ADDR": "http://127.0.0.1:8200,http://127.0.0.1:8202"}
    first, again = vault_choice(env, paths), vault_choice(env, paths)
    assert first.openbao is not None and first.openbao == again.openbao
    assert first.openbao.addresses == ("http://127.0.0.1:8200", "http://127.0.0.1:8202")
    other = vault_choice(env, Paths.from_env({"KEYBROKER_HOME": str(paths.data_dir.parent / "other")}))
    assert other.openbao is not None and other.openbao.install != first.openbao.install


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"addresses": ("http://bao.example:8200",)}, "refusing plain http"),
        ({"addresses": ("ftp://x",)}, "not an http(s) URL"),
        ({"prefix": "../etc"}, "not a path of plain names"),
        ({"auth": "approle"}, "needs --role-id"),
        ({"teams": ("a/b",)}, "not a plain name"),
        ({"prefix": "teams/alice"}, "inside the read-only teams path"),
    ],
)
def test_bad_openbao_settings_are_refused(changes: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"addresses": ("http://127.0.0.1:8200",), "install": "lap"}
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        OpenBaoConfig(**{**base, **changes})  # type: ignore[arg-type]


def test_a_hand_broken_vault_setting_falls_back_to_the_os_vault(paths: Paths) -> None:
    paths.settings_file.parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file.write_text(json.dumps({"vault": {"backend": "openbao", "openbao": {"addresses": 3}}}))
    assert vault_choice({}, paths).mode == "system"
