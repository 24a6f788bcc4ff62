"""Isolation for every test, the Secret Service rig guard, Qt's garbage on the Qt thread, and `run_cli`.

Every test gets its own Keybroker home, HOME and XDG dirs under `tmp_path`, the memory vault, and an
environment without proxies or keyring overrides (httpx's `clean_environ`, DESIGN §6: no test touches
the developer's keyring or config). Fixtures for one area belong in that area's own conftest.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

import keybroker

RIG_FLAG = "KEYBROKER_TEST_SECRET_SERVICE"
RIG_BUS = "KEYBROKER_RIG_BUS"  # exported by scripts/secret-service-session.sh
# Removed in any case (HTTP_PROXY, http_proxy, ...): no proxy may see loopback traffic or secrets.
PROXY_VARS = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSLKEYLOGFILE"})
# keyring's own overrides: nothing but KEYBROKER_VAULT chooses the vault (INTERFACES.md).
KEYRING_VARS = ("PYTHON_KEYRING_BACKEND",)
KEYRING_VAR_PREFIX = "KEYRING_PROPERTY_"
# What leads to the developer's desktop session; dropped when the rig is not running the tests.
SESSION_VARS = (
    "DBUS_SESSION_BUS_ADDRESS",
    "DBUS_STARTER_ADDRESS",
    "DBUS_STARTER_BUS_TYPE",
    "GNOME_KEYRING_CONTROL",
    "DISPLAY",
    "WAYLAND_DISPLAY",
)


def rig_active() -> bool:
    """True when `make test` runs us inside its private Secret Service session."""
    return os.environ.get(RIG_FLAG) == "1"


def _login_home() -> Path | None:
    """The user's home as the password database says, whatever HOME says."""
    try:
        import pwd
    except ImportError:  # not Unix
        return None
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run Secret Service tests anywhere but on the rig's private bus."""
    if not rig_active():
        # Outside the rig nothing may reach the developer's keyring, bus or screen. libdbus (Qt) would
        # still find the session bus at $XDG_RUNTIME_DIR/bus, so that points at an empty dir too.
        for var in SESSION_VARS:
            os.environ.pop(var, None)
        runtime_dir = tempfile.mkdtemp(prefix="keybroker-test-run-")  # 0700
        os.environ["XDG_RUNTIME_DIR"] = runtime_dir
        config.add_cleanup(lambda: shutil.rmtree(runtime_dir, ignore_errors=True))
        return
    bus = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if not bus:
        raise pytest.UsageError(
            f"{RIG_FLAG}=1 but DBUS_SESSION_BUS_ADDRESS is not set: "
            "run the tests through scripts/secret-service-session.sh (make test)"
        )
    if os.environ.get(RIG_BUS) != bus:
        raise pytest.UsageError(
            f"{RIG_FLAG}=1 but the session bus was not started by scripts/secret-service-session.sh "
            f"({RIG_BUS} differs from DBUS_SESSION_BUS_ADDRESS): refusing to touch that keyring"
        )
    home, login_home = os.environ.get("HOME"), _login_home()
    if not home or (login_home is not None and Path(home).resolve() == login_home.resolve()):
        raise pytest.UsageError(
            f"{RIG_FLAG}=1 but HOME is the real home ({home}): the rig must run with a throw-away HOME"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `secret_service` tests unless the rig provides the Secret Service."""
    if rig_active():
        return
    skip = pytest.mark.skip(reason=f"needs the Secret Service of the test rig ({RIG_FLAG}=1, make test)")
    for item in items:
        if item.get_closest_marker("secret_service") is not None:
            item.add_marker(skip)


@dataclass(frozen=True, slots=True)
class IsolatedEnv:
    """Where the current test's environment points."""

    keybroker_home: Path
    """`KEYBROKER_HOME`: data, config, logs and runtime of Keybroker (not created in advance)."""
    home: Path
    """`HOME`, with the XDG config, data, state and cache dirs below it (created empty)."""


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IsolatedEnv:
    """Point every place Keybroker or a library could write at `tmp_path`; memory vault by default."""
    env = IsolatedEnv(keybroker_home=tmp_path / "keybroker-home", home=tmp_path / "user-home")
    env.home.mkdir()
    monkeypatch.setenv("KEYBROKER_HOME", str(env.keybroker_home))
    monkeypatch.setenv("KEYBROKER_VAULT", "memory")  # vault contract tests override this
    monkeypatch.delenv("KEYBROKER_PORT", raising=False)
    monkeypatch.setenv("HOME", str(env.home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(env.home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(env.home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(env.home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(env.home / ".cache"))
    for name in list(os.environ):
        if name.upper() in PROXY_VARS or name in KEYRING_VARS or name.startswith(KEYRING_VAR_PREFIX):
            monkeypatch.delenv(name)
    if not os.environ.get("QT_QPA_PLATFORM"):
        monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    return env


class RunCli(Protocol):
    """Runs `python -m keybroker ARGS` in a subprocess with the test's environment."""

    def __call__(
        self,
        *args: str | os.PathLike[str],
        stdin: str | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float = 60.0,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]: ...


def source_root() -> Path:
    """The directory holding the `keybroker` package these tests imported."""
    return Path(keybroker.__file__).resolve().parent.parent


def subprocess_env(overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The current (isolated) environment for a child Python that imports the same `keybroker`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(source_root()), env.get("PYTHONPATH", "")) if p)
    env["PYTHONIOENCODING"] = "utf-8"
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


#: `uvloop` runs every async test on uvloop, the loop `keybroker serve` runs the bridge on
#: (scripts/test-bridge-paths.sh uses it); unset or `asyncio`, on asyncio's own loop.
TEST_LOOP_ENV = "KEYBROKER_TEST_LOOP"
_TEST_LOOP = os.environ.get(TEST_LOOP_ENV) or "asyncio"
if _TEST_LOOP not in ("asyncio", "uvloop"):
    raise pytest.UsageError(f"{TEST_LOOP_ENV} must be asyncio or uvloop, not {_TEST_LOOP!r}")
if _TEST_LOOP == "uvloop":
    import uvloop

    def pytest_asyncio_loop_factories(
        config: pytest.Config, item: pytest.Item
    ) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
        """pytest-asyncio's hook: every async test on a uvloop loop."""
        return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(autouse=True)
def collect_qt_garbage() -> Iterator[None]:
    """Once a QApplication exists in this process, collect each test's cyclic garbage at its end, here,
    on the Qt thread.

    Left to itself, Python's cyclic GC runs in whichever thread allocates next: a QObject in a cycle
    (a closure holding its owner) could then be destroyed on a worker thread, which crashes Qt. That
    holds for every test after the first Qt one, not only those under tests/ui: a Qt test elsewhere
    (tests/vault/openbao's tray and settings tests) left such garbage for a later test's threads, and
    pytest-qt's event processing after that test died in a segfault. Tests in a process without Qt
    pay nothing.
    """
    yield
    widgets = sys.modules.get("PySide6.QtWidgets")
    if widgets is not None and widgets.QApplication.instance() is not None:
        gc.collect()


@pytest.fixture
def run_cli(isolated_env: IsolatedEnv, tmp_path: Path) -> RunCli:
    """`run_cli("secrets", "set", "KEY", stdin="value")` -> CompletedProcess with text stdout/stderr.

    stdin None means no input at all (EOF, not a TTY, so the CLI never waits for a prompt).
    `env` adds variables, or removes those given as None. The return code is not checked.
    """

    def run(
        *args: str | os.PathLike[str],
        stdin: str | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float = 60.0,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "keybroker", *(os.fspath(a) for a in args)]
        return subprocess.run(
            argv,
            input=stdin,
            # No input at all: EOF and no TTY, so the CLI never waits for a prompt.
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            text=True,
            env=subprocess_env(env),
            cwd=cwd or tmp_path,
            timeout=timeout,
            check=False,
        )

    return run
