"""`keybroker secrets|agents|grants|audit|lock|purge|token|doctor` end to end on the real Secret Service."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli.conftest import CardSite, card
from tests.conftest import IsolatedEnv, RunCli

pytestmark = pytest.mark.secret_service


def catalog(env: IsolatedEnv) -> sqlite3.Connection:
    return sqlite3.connect(env.keybroker_home / "data" / "catalog.db")


def test_version_and_help(kb: RunCli) -> None:
    out = kb("--version")
    assert out.returncode == 0 and out.stdout.startswith("keybroker ")
    for cmd in ("secrets", "agents", "grants", "audit", "doctor", "lock", "purge", "token", "status"):
        assert kb(cmd, "--help").returncode == 0


def test_set_list_show_reveal_update_rm(kb: RunCli) -> None:
    r = kb("secrets", "set", "GITHUB", "--name", "GitHub", "--description", "PAT", stdin="ghp_one\n")
    assert r.returncode == 0, r.stderr
    listed = json.loads(kb("secrets", "list", "--json").stdout)
    assert [(s["key"], s["owner"], s["name"], s["description"]) for s in listed] == [
        ("GITHUB", None, "GitHub", "PAT")
    ]
    assert set(listed[0]) >= {
        "secret_id",
        "key",
        "name",
        "description",
        "owner",
        "created",
        "updated",
        "last_used",
        "use_count",
    }
    secret_id = listed[0]["secret_id"]
    shown = kb("secrets", "show", "GITHUB")
    assert shown.returncode == 0 and "ghp_one" not in shown.stdout and secret_id in shown.stdout
    reveal = kb("secrets", "show", "GITHUB", "--reveal")
    assert reveal.returncode == 0 and reveal.stdout == "ghp_one"  # one trailing newline stripped
    # replace keeps the id
    assert kb("secrets", "set", "GITHUB", stdin="ghp_two").returncode == 0
    assert json.loads(kb("secrets", "show", "GITHUB", "--json").stdout)["secret_id"] == secret_id
    assert kb("secrets", "show", secret_id, "--reveal").stdout == "ghp_two"
    r = kb("secrets", "update", "GITHUB", "--value", stdin="ghp_three\n\n")
    assert r.returncode == 0, r.stderr
    assert kb("secrets", "show", "GITHUB", "--reveal").stdout == "ghp_three\n"  # only one newline stripped
    assert kb("secrets", "update", "GITHUB").returncode == 2  # nothing to update
    assert kb("secrets", "rm", secret_id).returncode == 0
    assert json.loads(kb("secrets", "list", "--json").stdout) == []
    assert kb("secrets", "show", "GITHUB").returncode == 3


def test_empty_values_are_refused_and_unicode_kept(kb: RunCli) -> None:
    # What `echo "$UNSET" | keybroker secrets set K` pipes in: refused, like an empty prompt answer.
    for empty in ("", "\n"):
        r = kb("secrets", "set", "EMPTY", stdin=empty)
        assert r.returncode == 2 and "empty" in r.stderr
    assert kb("secrets", "show", "EMPTY").returncode == 3
    assert kb("secrets", "set", "SPACE", stdin=" ").returncode == 0  # a space is a value
    value = "pässwörd ✓ 鍵 🔑"
    assert kb("secrets", "set", "ключ", stdin=value).returncode == 0
    assert kb("secrets", "show", "ключ", "--reveal").stdout == value


def test_bad_input_exits_2_and_stores_nothing(kb: RunCli, isolated_env: IsolatedEnv) -> None:
    assert kb("secrets", "set", "x" * 129, stdin="v").returncode == 2
    assert kb("secrets", "set", "K", stdin="v" * (64 * 1024 + 1)).returncode == 2
    assert kb("secrets", "set", "K", "--agent", "a", "--shared", stdin="v").returncode == 2
    assert json.loads(kb("secrets", "list", "--json").stdout) == []


def test_owners_ambiguity_and_unknown_slug(kb: RunCli, card_site: CardSite) -> None:
    add = kb("agents", "add", card_site.url, "--slug", "demo")
    assert add.returncode == 0, add.stderr
    assert kb("secrets", "set", "github", "--agent", "ghost", stdin="v").returncode == 3
    assert kb("secrets", "set", "github", stdin="shared-v").returncode == 0
    assert kb("secrets", "set", "github", "--agent", "demo", stdin="own-v").returncode == 0
    amb = kb("secrets", "show", "github")
    assert amb.returncode == 2 and "demo" in amb.stderr and "shared" in amb.stderr
    assert kb("secrets", "show", "github", "--shared", "--reveal").stdout == "shared-v"
    assert kb("secrets", "show", "github", "--agent", "demo", "--reveal").stdout == "own-v"
    grants = json.loads(kb("grants", "list", "--json").stdout)
    assert [(g["agent"], g["scope"], g["key"]) for g in grants] == [("demo", "always", "github")]
    shown = json.loads(kb("agents", "show", "demo", "--json").stdout)
    assert shown["demands"][0]["status"].startswith("satisfied (own value, always)")
    assert shown["schemes"][0]["status"] == "not yet supported"
    assert kb("grants", "revoke", grants[0]["grant_id"]).returncode == 0
    assert kb("grants", "revoke", grants[0]["grant_id"]).returncode == 3
    assert json.loads(kb("grants", "list", "--json").stdout) == []


def test_agents_add_list_show_refresh_rm(kb: RunCli, card_site: CardSite) -> None:
    add = kb("agents", "add", card_site.url + "/.well-known/agent-card.json")
    assert add.returncode == 0, add.stderr
    slug, url = add.stdout.strip().split("\t")
    assert slug == "demo-agent" and url == "http://127.0.0.1:7411/agents/demo-agent/"
    listed = json.loads(kb("agents", "list", "--json").stdout)
    assert [a["slug"] for a in listed] == ["demo-agent"]
    assert listed[0]["protocol_versions"] == ["0.3"]
    text = kb("agents", "show", "demo-agent").stdout
    assert "GitHub token" in text and "not yet supported" in text
    r = json.loads(kb("agents", "refresh", "demo-agent", "--json").stdout)
    assert r["changed"] is False
    card_site.set_card(card(demands={"github": {"name": "GitHub token"}, "slack": {"name": "Slack"}}))
    r = json.loads(kb("agents", "refresh", "demo-agent", "--json").stdout)
    assert r["changed"] is True and [d["key"] for d in r["demands"]] == ["github", "slack"]
    assert kb("secrets", "set", "slack", "--agent", "demo-agent", stdin="xoxb").returncode == 0
    rm = kb("agents", "rm", "demo-agent")
    assert rm.returncode == 0 and "kept 1 secret" in rm.stderr
    assert json.loads(kb("agents", "list", "--json").stdout) == []
    assert kb("secrets", "show", "slack", "--agent", "demo-agent", "--reveal").stdout == "xoxb"
    for cmd in (
        ("agents", "show", "demo-agent"),
        ("agents", "refresh", "demo-agent"),
        ("agents", "rm", "demo-agent"),
        ("grants", "list", "--agent", "nope"),
    ):
        assert kb(*cmd).returncode == 3, cmd


def test_agents_rm_purge_deletes_owned_values(kb: RunCli, card_site: CardSite) -> None:
    kb("agents", "add", card_site.url, "--slug", "demo")
    kb("secrets", "set", "github", "--agent", "demo", stdin="v")
    assert kb("agents", "rm", "demo", "--purge").returncode == 0
    assert json.loads(kb("secrets", "list", "--json").stdout) == []


def test_agents_add_errors(kb: RunCli) -> None:
    dead = kb("agents", "add", "http://127.0.0.1:9")
    assert dead.returncode == 6 and "127.0.0.1:9" in dead.stderr
    assert kb("agents", "add", "ftp://example.org").returncode == 2


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE audit SET key = 'other' WHERE seq = 2",
        "DELETE FROM audit WHERE seq = 2",
        "UPDATE audit SET seq = seq + 100 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3; "
        "UPDATE audit SET seq = 3 WHERE seq = 102",
        "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)",
        "DROP TABLE audit",
    ],
    ids=["edited", "deleted", "reordered", "truncated", "dropped"],
)
def test_audit_verify_exits_7_on_tampering(kb: RunCli, isolated_env: IsolatedEnv, tamper: str) -> None:
    for i in range(4):
        assert kb("secrets", "set", f"K{i}", stdin="v").returncode == 0
    ok = kb("audit", "verify")
    assert ok.returncode == 0 and "4 events" in ok.stdout
    with catalog(isolated_env) as conn:
        conn.executescript(tamper)
    assert kb("audit", "verify").returncode == 7
    assert kb("audit", "--verify").returncode == 7


def test_audit_listing_filters(kb: RunCli, card_site: CardSite) -> None:
    kb("agents", "add", card_site.url, "--slug", "demo")
    kb("secrets", "set", "github", "--agent", "demo", stdin="v")
    kb("secrets", "set", "other", stdin="v")
    events = json.loads(kb("audit", "--json", "--agent", "demo").stdout)
    assert {e["decision"] for e in events} == {"agent_added", "created"}
    assert json.loads(kb("audit", "--json", "--since", "1h").stdout)
    assert json.loads(kb("audit", "--json", "--since", "2999-01-01").stdout) == []
    assert kb("audit", "--since", "yesterday-ish").returncode == 2


def test_lock_ends_grants_short_of_always(kb: RunCli, card_site: CardSite, isolated_env: IsolatedEnv) -> None:
    kb("agents", "add", card_site.url, "--slug", "demo")
    kb("secrets", "set", "github", "--agent", "demo", stdin="v")
    with catalog(isolated_env) as conn:
        sid = conn.execute("SELECT secret_id FROM secrets").fetchone()[0]
        conn.execute(
            "INSERT INTO grants VALUES ('g-lock', 'demo', ?, 'until_lock', 1, NULL, NULL, NULL, NULL)", (sid,)
        )
    assert len(json.loads(kb("grants", "list", "--json").stdout)) == 2
    assert kb("lock").returncode == 0
    assert [g["scope"] for g in json.loads(kb("grants", "list", "--json").stdout)] == ["always"]


def test_token_is_stable_private_and_rotates(kb: RunCli, isolated_env: IsolatedEnv) -> None:
    first = kb("token").stdout.strip()
    assert len(first) >= 40 and kb("token").stdout.strip() == first
    token_file = isolated_env.keybroker_home / "config" / "api-token"
    assert token_file.read_text() == first and token_file.stat().st_mode & 0o777 == 0o600
    rotated = kb("token", "--rotate").stdout.strip()
    assert rotated != first and token_file.read_text() == rotated


def test_purge_needs_confirmation_and_removes_everything(kb: RunCli, isolated_env: IsolatedEnv) -> None:
    kb("secrets", "set", "A", stdin="a")
    kb("secrets", "set", "B", stdin="b")
    assert kb("purge").returncode == 2  # no TTY, no --yes
    assert len(json.loads(kb("secrets", "list", "--json").stdout)) == 2
    assert kb("purge", "--yes").returncode == 0
    assert json.loads(kb("secrets", "list", "--json").stdout) == []
    assert kb("audit", "verify").returncode == 0


def test_memory_vault_refuses_to_store_from_the_cli(run_cli: RunCli) -> None:
    r = run_cli("secrets", "set", "K", stdin="v", env={"KEYBROKER_VAULT": "memory"})
    assert r.returncode == 4 and "session-only" in r.stderr


def test_no_vault_exits_4_with_the_fix(run_cli: RunCli, tmp_path: Path) -> None:
    env = {"KEYBROKER_VAULT": "system", "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"}
    r = run_cli("secrets", "list", env=env)
    assert r.returncode == 4, r.stderr
    assert "hint:" in r.stderr
    doctor = run_cli("doctor", env=env)
    assert doctor.returncode == 4 and "unavailable" in doctor.stdout


def test_status_and_doctor(kb: RunCli) -> None:
    assert kb("status").stdout.strip() == "not running"
    assert json.loads(kb("status", "--json").stdout) == {"running": False}
    doc = json.loads(kb("doctor", "--json").stdout)
    assert doc["vault"]["state"] == "ok" and "SecretService" in doc["vault"]["backend"]
    assert doc["port"] == 7411
    text = kb("doctor").stdout.splitlines()
    assert text[0].startswith("vault:     ok: SecretService")
    assert not text[1].strip().startswith("OS vault:"), "the vault is named once"
