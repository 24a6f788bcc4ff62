"""What a command loads: start-up time is a target (DESIGN §7, `secrets show --reveal` <= 150 ms).

Each case runs `keybroker.cli.main.main(ARGS)` in a fresh Python and looks at `sys.modules` at exit.
Timings are printed (`pytest -s`), never asserted: these machines are too noisy for that.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from keybroker.core.models import SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.system.paths import Paths
from keybroker.wiring.services import open_services
from tests.conftest import IsolatedEnv, RunCli, subprocess_env

#: Runs main(argv) and writes the sorted module names to the file named first, however main ends.
WRAPPER = """
import sys

out, argv = sys.argv[1], sys.argv[2:]
code = 1
try:
    from keybroker.cli.main import main

    code = main(argv)
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
finally:
    with open(out, "w", encoding="utf-8") as f:
        f.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""

#: Never loaded to show a secret: the network, the A2A stack, the server, the UI, the event loop.
NOT_FOR_SECRETS = (
    "httpx",
    "httpcore",
    "a2a",
    "google.protobuf",
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "PySide6",
    "qasync",
    "asyncio",
    "logging.handlers",
    "keybroker.cli.api_client",
    "keybroker.core.a2a",
    "keybroker.core.api",
    "keybroker.core.bridge",
    "keybroker.core.agents.status",
    "keybroker.wiring.runtime",
    "keybroker.ui",
)

#: keyring and what it pulls in (~50 ms: jaraco.*, importlib metadata and entry points). Only macOS and
#: Windows load it, whose vault backends are keyring's; Linux's Secret Service and the memory vault do not.
KEYRING = ("keyring", "jaraco", "importlib_metadata", "importlib.metadata")


def loaded(
    run_dir: Path, *args: str, env: dict[str, str | None] | None = None, stdin: str | None = None
) -> tuple[int, set[str], str]:
    """(exit code, modules loaded at exit, stdout) of `keybroker ARGS` run through WRAPPER."""
    script = run_dir / "wrapper.py"
    script.write_text(WRAPPER, encoding="utf-8")
    modules_file = run_dir / "modules.txt"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script), str(modules_file), *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        env=subprocess_env(env),
        cwd=run_dir,
        timeout=60,
        check=False,
    )
    elapsed = time.perf_counter() - started
    modules = set(modules_file.read_text(encoding="utf-8").split("\n"))
    print(
        f"keybroker {' '.join(args)}: exit {done.returncode}, {len(modules)} modules, {elapsed * 1000:.0f} ms"
    )
    return done.returncode, modules, done.stdout


def offenders(modules: set[str], banned: tuple[str, ...]) -> list[str]:
    """The loaded modules that are, or are inside, a banned package."""
    return sorted(m for m in modules if any(m == b or m.startswith(b + ".") for b in banned))


def store_record(isolated_env: IsolatedEnv, key: str) -> None:
    """A secret's record in this test's catalog (its value in a vault that is gone when we return)."""
    svc = open_services(
        environ={"KEYBROKER_HOME": str(isolated_env.keybroker_home)}, vault=open_vault("memory")
    )
    try:
        svc.secrets.set(key, SecretValue("v-import-test"), owner=None, caller="test")
    finally:
        svc.close()


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["secrets", "--help"], ["status"]])
def test_version_help_and_status_leave_the_core_alone(tmp_path: Path, args: list[str]) -> None:
    code, modules, out = loaded(tmp_path, *args)
    assert code == 0
    assert out  # the version, the help, "not running"
    assert not offenders(modules, ("keyring", "sqlite3", "secretstorage", "cryptography", *NOT_FOR_SECRETS))
    core = offenders(modules, ("keybroker.core",))
    if args == ["status"]:  # reads instance.json, nothing else
        heavy = ("keybroker.core.vault.vault", "keybroker.core.catalog.catalog", "keybroker.wiring.services")
        assert not offenders(modules, heavy), core
    else:
        assert core == [], core
        assert "logging" not in modules


def test_secrets_show_loads_only_what_it_needs(tmp_path: Path, isolated_env: IsolatedEnv) -> None:
    store_record(isolated_env, "IMPORT_DEMO")
    code, modules, out = loaded(tmp_path, "secrets", "show", "IMPORT_DEMO")
    assert code == 0, out
    assert "IMPORT_DEMO" in out
    expected = {"keybroker.wiring.services", "keybroker.core.vault.vault", "keybroker.core.catalog.catalog"}
    assert expected <= modules
    assert offenders(modules, NOT_FOR_SECRETS) == []
    assert offenders(modules, KEYRING) == []


def test_secrets_show_reveal_on_memory_vault_loads_only_what_it_needs(tmp_path: Path) -> None:
    # A session-only vault is refused for --reveal (exit 4), after the vault and the catalog are open.
    code, modules, _ = loaded(tmp_path, "secrets", "show", "X", "--reveal")
    assert code == 4
    expected = {"keybroker.wiring.services", "keybroker.core.vault.vault", "keybroker.core.secrets.recovery"}
    assert expected <= modules
    assert offenders(modules, NOT_FOR_SECRETS) == []
    assert offenders(modules, KEYRING) == []


def test_each_command_parses_as_before(tmp_path: Path, run_cli: RunCli) -> None:
    """Only the chosen command's subtree is built in full: the others still parse and print help."""
    for args in (["agents", "list", "--json"], ["grants", "list"], ["audit", "--limit", "1"], ["lock"]):
        done = run_cli(*args)
        assert done.returncode == 0, (args, done.stderr)
    done = run_cli("--help")
    for word in (
        "secrets",
        "agents",
        "grants",
        "lock",
        "audit",
        "status",
        "doctor",
        "token",
        "purge",
        "serve",
        "send",
    ):
        assert word in done.stdout
    done = run_cli("nosuchcommand")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
    done = run_cli("secrets", "show")
    assert done.returncode == 2
    assert "key" in done.stderr


@pytest.mark.secret_service
def test_secrets_show_reveal_on_the_os_vault_loads_only_what_it_needs(
    tmp_path: Path, isolated_env: IsolatedEnv
) -> None:
    system = {"KEYBROKER_VAULT": "system"}
    code, modules, _ = loaded(tmp_path, "secrets", "set", "IMPORT_DEMO", env=system, stdin="v-import-test")
    assert code == 0
    assert "keybroker.core.vault.secret_service" in modules
    assert offenders(modules, KEYRING) == []  # Linux's vault backend is ours, on secretstorage
    # No instance runs: the API client (httpx) that would forward the write is never loaded.
    assert offenders(modules, ("httpx", "keybroker.cli.api_client")) == []
    code, modules, out = loaded(tmp_path, "secrets", "show", "IMPORT_DEMO", "--reveal", env=system)
    assert code == 0
    assert out == "v-import-test"
    assert {"secretstorage", "keybroker.core.vault.secret_service"} <= modules
    assert offenders(modules, NOT_FOR_SECRETS) == []
    assert offenders(modules, KEYRING) == []
    assert Paths.from_env({"KEYBROKER_HOME": str(isolated_env.keybroker_home)}).catalog_db.exists()
