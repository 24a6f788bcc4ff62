# SPDX-License-Identifier: Apache-2.0
"""The team vault through the `keybroker` command, on a real `bao server -dev`: versions and restore,
`vault show`, team secrets, a policy denial, an expired token and an unreachable server (exit 4)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.system.paths import Paths
from keybroker.system.vault_choice import save_choice
from tests.conftest import IsolatedEnv, RunCli
from tests.peers import openbao
from tests.peers.openbao import DevServer
from tests.peers.process import free_port
from tests.vault.openbao.conftest import kv_get, kv_put, make_token, put_policy

Kb = Callable[..., "subprocess.CompletedProcess[str]"]


def _choose(config: OpenBaoConfig) -> None:
    """What Settings → General or `vault use` leaves in the settings file."""
    save_choice(Paths.from_env(os.environ), "openbao", config)


@pytest.fixture
def kb(run_cli: RunCli, bao: DevServer) -> Callable[..., object]:
    """`keybroker` on the settings file's vault (KEYBROKER_VAULT unset), the root token in BAO_TOKEN."""

    def run(
        *args: str, token: str | None = None, env: dict[str, str] | None = None, **kwargs: object
    ) -> object:
        merged = {"KEYBROKER_VAULT": None, "BAO_TOKEN": token or bao.token, **(env or {})}
        return run_cli(*args, env=merged, **kwargs)  # type: ignore[arg-type]

    return run


def test_versions_are_listed_and_an_earlier_one_restored(kb: Kb, config: OpenBaoConfig) -> None:
    _choose(config)
    for value in ("one", "two", "three"):
        assert kb("secrets", "set", "OPENAI_API_KEY", stdin=value).returncode == 0
    history = kb("secrets", "history", "OPENAI_API_KEY", "--json")
    assert history.returncode == 0, history.stderr
    versions = json.loads(history.stdout)["versions"]
    assert [(v["version"], v["current"]) for v in versions] == [(1, False), (2, False), (3, True)]
    shown = kb("secrets", "history", "OPENAI_API_KEY")  # for people: a table of versions, never a value
    assert shown.returncode == 0, shown.stderr
    assert "OPENAI_API_KEY (shared)" in shown.stderr and "3 version(s) kept" in shown.stderr
    header, *rows = shown.stdout.splitlines()
    assert header.split() == ["VERSION", "CREATED", "STATE"]
    assert [r.split()[0] for r in rows] == ["1", "2", "3"] and rows[-1].split()[-1] == "current"
    assert not {"one", "two", "three"} & set(shown.stdout.split())
    restored = kb("secrets", "restore", "OPENAI_API_KEY", "1")
    assert restored.returncode == 0, restored.stderr
    assert kb("secrets", "show", "OPENAI_API_KEY", "--reveal").stdout == "one"
    after = json.loads(kb("secrets", "history", "OPENAI_API_KEY", "--json").stdout)["versions"]
    assert [v["version"] for v in after] == [1, 2, 3, 4] and after[-1]["current"]
    audit = json.loads(kb("audit", "--json").stdout)
    assert "value restored from version 1" in [e["detail"] for e in audit]
    verify = kb("audit", "verify")  # the head is in OpenBao, under this install's own path
    assert verify.returncode == 0, verify.stdout + verify.stderr
    missing = kb("secrets", "restore", "OPENAI_API_KEY", "9")
    assert missing.returncode == 3 and "version 9" in missing.stderr


def test_vault_show_names_identity_and_expiry_never_the_token(
    kb: Kb, bao: DevServer, config: OpenBaoConfig, prefix: str
) -> None:
    _choose(config.with_changes(teams=("platform",)))
    put_policy(
        bao,
        "show-" + prefix.replace("/", "-"),
        f'path "secret/data/{prefix}/*" {{ capabilities = ["read"] }}',
    )
    token = make_token(bao, "show-" + prefix.replace("/", "-"), ttl="2h")
    shown = kb("vault", "show", "--json", token=token)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["backend"] == "openbao" and report["state"] == "ok"
    assert report["address"] == bao.url and report["mount"] == "secret" and report["prefix"] == prefix
    assert report["teams"] == "teams/platform/"
    assert report["token from"] == "$BAO_TOKEN" and report["token renewable"] == "yes"
    assert "show-" in report["policies"] and report["token expires"].endswith("UTC")
    text = kb("vault", "show", token=token)
    assert token not in shown.stdout + shown.stderr + text.stdout + text.stderr
    assert "token expires:" in text.stdout


def test_team_secrets_are_listed_read_only_and_revealed(
    kb: Kb, bao: DevServer, config: OpenBaoConfig
) -> None:
    team = f"team{time.monotonic_ns()}"
    kv_put(bao, f"teams/{team}/STAGING_API_KEY", value="staging-value")
    kv_put(bao, f"teams/{team}/SHARED_LLM_KEY", key="llm-value")  # one field under another name
    _choose(config.with_changes(teams=(team,)))
    listed = kb("secrets", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["key"]: r for r in json.loads(listed.stdout)}
    assert rows["STAGING_API_KEY"]["team"] == team and rows["STAGING_API_KEY"]["owner"] is None
    assert kb("secrets", "show", "SHARED_LLM_KEY", "--team", team, "--reveal").stdout == "llm-value"
    removed = kb("secrets", "rm", "STAGING_API_KEY")
    assert removed.returncode == 2 and "cannot be removed here" in removed.stderr
    changed = kb("secrets", "update", "STAGING_API_KEY", "--value", stdin="mine")
    assert changed.returncode == 2 and "cannot be changed here" in changed.stderr
    assert kb("secrets", "show", "STAGING_API_KEY", "--reveal").stdout == "staging-value"
    # Gone from OpenBao: gone from the list at the next sync.
    with bao.client() as admin:
        admin.delete(f"/v1/secret/metadata/teams/{team}/STAGING_API_KEY")
    synced = kb("vault", "sync", "--json")
    assert json.loads(synced.stdout)["removed"] == [f"{team}/STAGING_API_KEY"]
    assert [r["key"] for r in json.loads(kb("secrets", "list", "--json").stdout)] == ["SHARED_LLM_KEY"]


def test_a_team_the_token_may_not_list_is_a_warning_not_a_failure(
    kb: Kb, bao: DevServer, config: OpenBaoConfig, prefix: str
) -> None:
    kv_put(bao, "teams/secret-team/HIDDEN", value="h")
    kv_put(bao, "teams/open-team/VISIBLE", value="v")
    name = "teams-" + prefix.replace("/", "-")
    policy = (
        f'path "secret/+/{prefix}/*" {{ capabilities = ["create", "read", "update", "list"] }}\n'
        'path "secret/data/teams/open-team/*" { capabilities = ["read"] }\n'
        'path "secret/metadata/teams/open-team/*" { capabilities = ["list"] }\n'
    )
    put_policy(bao, name, policy)
    token = make_token(bao, name)
    _choose(config.with_changes(teams=("secret-team", "open-team")))
    listed = kb("secrets", "list", "--json", token=token)
    assert listed.returncode == 0
    assert [r["key"] for r in json.loads(listed.stdout)] == ["VISIBLE"]
    assert "permission denied" in listed.stderr and "secret-team" in listed.stderr


def test_a_policy_denial_exits_4_and_says_so(
    kb: Kb, bao: DevServer, config: OpenBaoConfig, prefix: str
) -> None:
    name = "ro-" + prefix.replace("/", "-")
    put_policy(bao, name, f'path "secret/data/{prefix}/*" {{ capabilities = ["read"] }}')
    _choose(config)
    denied = kb("secrets", "set", "KEY", stdin="v", token=make_token(bao, name))
    assert denied.returncode == 4
    assert "permission denied" in denied.stderr and "policies" in denied.stderr
    assert json.loads(kb("secrets", "list", "--json").stdout) == []  # nothing half-done


def test_an_expired_token_exits_4_with_the_fix(kb: Kb, bao: DevServer, config: OpenBaoConfig) -> None:
    _choose(config)
    token = make_token(bao, "default", ttl="1s", renewable=False)
    time.sleep(1.5)
    shown = kb("secrets", "set", "KEY", stdin="v", token=token)
    assert shown.returncode == 4
    assert "vault login" in shown.stderr and token not in shown.stderr
    state = kb("vault", "show", token=token)
    assert state.returncode == 4 and "state:            locked" in state.stdout


def test_an_unreachable_openbao_fails_writes_and_leaves_nothing(
    kb: Kb, config: OpenBaoConfig, isolated_env: IsolatedEnv, tmp_path: Path
) -> None:
    with openbao.dev_server(workdir=tmp_path / "bao") as own:
        _choose(config.with_changes(addresses=(own.url,)))
        assert kb("secrets", "set", "KEPT", stdin="kept-value", token=own.token).returncode == 0
        own.server.stop()
        for attempt in (("secrets", "set", "NEW", "--shared"), ("secrets", "update", "KEPT", "--value")):
            failed = kb(*attempt, stdin="never-stored-value", token=own.token)
            assert failed.returncode == 4, failed.stderr
            assert "cannot reach OpenBao" in failed.stderr
        reveal = kb("secrets", "show", "KEPT", "--reveal", token=own.token)
        assert reveal.returncode == 4
        listed = json.loads(kb("secrets", "list", "--json", token=own.token).stdout)
        assert [r["key"] for r in listed] == ["KEPT"]  # NEW was not half-created
    # No value was ever written to local disk (data, config, logs: the whole Keybroker home).
    for path in isolated_env.keybroker_home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"never-stored-value" not in data and b"kept-value" not in data, path
    port = free_port()
    _choose(config.with_changes(addresses=(f"http://127.0.0.1:{port}",)))
    fast = kb("secrets", "set", "OTHER", stdin="v", token="t")
    assert fast.returncode == 4 and "cannot reach OpenBao" in fast.stderr


def test_reveal_from_openbao_loads_no_http_library_and_no_os_vault(
    bao: DevServer, config: OpenBaoConfig, tmp_path: Path
) -> None:
    # DESIGN §7: `secrets show --reveal` is a start-up time target; the backend is on the standard library.
    from tests.cli.test_cli_imports import KEYRING, NOT_FOR_SECRETS, loaded, offenders

    _choose(config)
    env: dict[str, str | None] = {"KEYBROKER_VAULT": None, "BAO_TOKEN": bao.token}
    code, _, _ = loaded(tmp_path, "secrets", "set", "IMPORT_DEMO", env=env, stdin="v-import")
    assert code == 0
    code, modules, out = loaded(tmp_path, "secrets", "show", "IMPORT_DEMO", "--reveal", env=env)
    assert (code, out) == (0, "v-import")
    assert "keybroker.core.vault.openbao" in modules
    assert offenders(modules, (*NOT_FOR_SECRETS, "hvac", "requests", "urllib3")) == []
    # With the token in BAO_TOKEN the OS vault is never opened (nor keyring, nor D-Bus).
    assert offenders(modules, (*KEYRING, "secretstorage", "jeepney")) == []


def test_purge_removes_own_values_from_openbao_and_leaves_the_teams(
    kb: Kb, bao: DevServer, config: OpenBaoConfig, prefix: str
) -> None:
    team = f"purge{time.monotonic_ns()}"
    kv_put(bao, f"teams/{team}/SHARED_KEY", value="team-value")
    _choose(config.with_changes(teams=(team,)))
    assert kb("secrets", "set", "MINE", stdin="mine").returncode == 0
    ids = {r["key"]: r["secret_id"] for r in json.loads(kb("secrets", "list", "--json").stdout)}
    assert set(ids) == {"MINE", "SHARED_KEY"}
    purged = kb("purge", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert kv_get(bao, f"{prefix}/laptop-1/{ids['MINE']}").status_code == 404  # gone, every version
    assert kv_get(bao, f"teams/{team}/SHARED_KEY").json()["data"]["data"] == {"value": "team-value"}


def test_two_laptops_under_one_prefix_never_take_each_others_values_for_leftovers(
    kb: Kb, bao: DevServer, config: OpenBaoConfig, prefix: str, tmp_path: Path
) -> None:
    # One user, two installs (two data homes), one prefix: `doctor --fix` and `purge` on the second
    # search the vault for values its catalog does not name, and must find none of the first's.
    _choose(config)
    second_home = {"KEYBROKER_HOME": str(tmp_path / "laptop-2")}
    save_choice(Paths.from_env(second_home), "openbao", config.with_changes(install="laptop-2"))
    assert kb("secrets", "set", "FIRST", stdin="first-laptop-value").returncode == 0
    first_id = json.loads(kb("secrets", "list", "--json").stdout)[0]["secret_id"]
    assert kb("secrets", "set", "SECOND", stdin="second-laptop-value", env=second_home).returncode == 0

    doctor = kb("doctor", "--fix", env=second_home)
    assert "leftovers: none" in doctor.stdout, doctor.stdout + doctor.stderr
    purged = kb("purge", "--yes", env=second_home)
    assert purged.returncode == 0, purged.stderr
    kept = kv_get(bao, f"{prefix}/laptop-1/{first_id}")
    assert kept.json()["data"]["data"] == {"value": "first-laptop-value"}
    assert kb("secrets", "show", "FIRST", "--reveal").stdout == "first-laptop-value"
    assert kb("audit", "verify").returncode == 0  # the first laptop's audit head was not touched either
