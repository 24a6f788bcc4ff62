"""The CLI at a terminal, as a person meets it: a real pseudo-terminal, keys typed, Ctrl+D included."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import CardSite, Terminal
from tests.conftest import IsolatedEnv, RunCli

pytestmark = pytest.mark.secret_service

SYSTEM_VAULT = {"KEYBROKER_VAULT": "system"}
CTRL_D = "\x04"


def open_terminal(terminals: list[Terminal], *args: str) -> Terminal:
    terminal = Terminal(*args, env=SYSTEM_VAULT)
    terminals.append(terminal)
    return terminal


def log_text(env: IsolatedEnv) -> str:
    return "".join(p.read_text(errors="replace") for p in (env.keybroker_home / "logs").glob("*.log*"))


@pytest.mark.parametrize("where", ["first", "confirmation"])
def test_ctrl_d_at_the_hidden_value_prompt_cancels(
    kb: RunCli, terminals: list[Terminal], isolated_env: IsolatedEnv, where: str
) -> None:
    terminal = open_terminal(terminals, "secrets", "set", "GITHUB")
    terminal.expect("Value for GITHUB: ")
    if where == "confirmation":
        terminal.type("ghp_typed\n")
        terminal.expect("Again, to confirm: ")
    terminal.type(CTRL_D)
    assert terminal.finish() == 2
    assert "cancelled: nothing was stored" in terminal.screen
    assert "internal error" not in terminal.screen
    assert "ghp_typed" not in terminal.screen
    assert "EOFError" not in log_text(isolated_env) and "Traceback" not in log_text(isolated_env)
    assert json.loads(kb("secrets", "list", "--json").stdout) == []


def test_a_value_typed_twice_is_stored(kb: RunCli, terminals: list[Terminal]) -> None:
    terminal = open_terminal(terminals, "secrets", "set", "GITHUB")
    terminal.expect("Value for GITHUB: ")
    terminal.type("ghp_typed\n")
    terminal.expect("Again, to confirm: ")
    terminal.type("ghp_typed\n")
    assert terminal.finish() == 0, terminal.screen
    assert "ghp_typed" not in terminal.screen  # hidden while typed
    assert kb("secrets", "show", "GITHUB", "--reveal").stdout == "ghp_typed"


def test_reveal_ends_its_line_on_a_terminal_and_not_in_a_pipe(kb: RunCli, terminals: list[Terminal]) -> None:
    assert kb("secrets", "set", "GITHUB", stdin="ghp_one").returncode == 0
    terminal = open_terminal(terminals, "secrets", "show", "GITHUB", "--reveal")
    assert terminal.finish() == 0
    assert terminal.screen.endswith("ghp_one\r\n")  # the shell's prompt starts on a line of its own
    assert kb("secrets", "show", "GITHUB", "--reveal").stdout == "ghp_one"  # the value alone in a pipe


@pytest.mark.parametrize(
    ("answer", "removed", "code"), [("y\n", True, 0), ("\n", False, 5), (CTRL_D, False, 5)]
)
def test_secrets_rm_on_a_terminal_asks_first(
    kb: RunCli, terminals: list[Terminal], answer: str, removed: bool, code: int
) -> None:
    assert kb("secrets", "set", "GITHUB", stdin="ghp_one").returncode == 0
    secret_id = json.loads(kb("secrets", "show", "GITHUB", "--json").stdout)["secret_id"]
    terminal = open_terminal(terminals, "secrets", "rm", "GITHUB")
    terminal.expect(f"Delete the secret GITHUB (shared, {secret_id}) and its value? [y/N] ")
    terminal.type(answer)
    assert terminal.finish() == code, terminal.screen
    left = [s["key"] for s in json.loads(kb("secrets", "list", "--json").stdout)]
    assert left == ([] if removed else ["GITHUB"])
    assert (f"removed GITHUB (shared, {secret_id})" in terminal.screen) is removed
    assert ("nothing deleted" in terminal.screen) is not removed


def test_secrets_rm_yes_and_scripts_are_not_asked(kb: RunCli, terminals: list[Terminal]) -> None:
    for key in ("ONE", "TWO"):
        assert kb("secrets", "set", key, stdin="v").returncode == 0
    terminal = open_terminal(terminals, "secrets", "rm", "ONE", "--yes")
    assert terminal.finish() == 0 and "[y/N]" not in terminal.screen
    piped = kb("secrets", "rm", "TWO")  # stdin is not a terminal: a script, never asked
    assert piped.returncode == 0 and "[y/N]" not in piped.stderr
    assert json.loads(kb("secrets", "list", "--json").stdout) == []


def test_agents_rm_on_a_terminal_asks_first(
    kb: RunCli, terminals: list[Terminal], card_site: CardSite
) -> None:
    assert kb("agents", "add", card_site.url, "--slug", "demo").returncode == 0
    assert kb("secrets", "set", "github", "--agent", "demo", stdin="v").returncode == 0
    terminal = open_terminal(terminals, "agents", "rm", "demo", "--purge")
    terminal.expect("Remove the agent demo, its grants and the 1 secret it owns? [y/N] ")
    terminal.type("n\n")
    assert terminal.finish() == 5
    assert [a["slug"] for a in json.loads(kb("agents", "list", "--json").stdout)] == ["demo"]


def test_the_words_of_lock_rm_and_update(kb: RunCli) -> None:
    assert kb("secrets", "set", "GITHUB", stdin="v").returncode == 0
    secret_id = json.loads(kb("secrets", "show", "GITHUB", "--json").stdout)["secret_id"]
    lock = kb("lock")
    assert lock.returncode == 0 and lock.stderr == "locked: no grant to end; 'always' grants stay\n"
    updated = kb("secrets", "update", "GITHUB", "--name", "GitHub")
    assert updated.stderr == "updated GITHUB (shared)\n"
    removed = kb("secrets", "rm", "GITHUB")
    assert removed.stderr == f"removed GITHUB (shared, {secret_id})\n"
    events = json.loads(kb("audit", "--json").stdout)
    assert [e["detail"] for e in events if e["decision"] == "locked"] == ["no grant to end"]
