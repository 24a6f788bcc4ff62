"""Choosing the OS vault's backend explicitly and refusing what is not a vault."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.compat import properties

from keybroker.core.errors import VaultUnavailable
from keybroker.core.vault import choice as choice
from keybroker.core.vault.backend import VaultBackend
from keybroker.core.vault.memory import MemoryKeyring
from tests.conftest import subprocess_env


class _NotViable(KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("needs a D-Bus session")

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        pass


class _Viable(_NotViable):
    """Viable only while a test says so (keyring's detection must never pick it up otherwise)."""

    enabled = False
    appid = "Python keyring library"

    @properties.classproperty
    def priority(cls) -> float:
        if not cls.enabled:
            raise RuntimeError("test backend")
        return -100


class _Broken(_Viable):
    def __init__(self) -> None:
        raise OSError("no bus")


@pytest.fixture
def fake_module(monkeypatch: pytest.MonkeyPatch) -> str:
    module = types.ModuleType("kb_fake_backends")
    module.NotViable = _NotViable  # type: ignore[attr-defined]
    module.Viable = _Viable  # type: ignore[attr-defined]
    module.Broken = _Broken  # type: ignore[attr-defined]
    module.NotABackend = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kb_fake_backends", module)
    monkeypatch.setattr(_Viable, "enabled", True)
    return "kb_fake_backends"


@pytest.mark.parametrize(
    ("platform", "family"),
    [("linux", "linux"), ("freebsd14", "linux"), ("darwin", "darwin"), ("win32", "win32"), ("plan9", None)],
)
def test_platform_family(platform: str, family: str | None) -> None:
    assert choice.platform_family(platform) == family


def test_system_backends_are_the_platform_vaults() -> None:
    assert choice.SYSTEM_BACKENDS["linux"][0] == "keybroker.core.vault.secret_service:SecretServiceKeyring"
    assert choice.SYSTEM_BACKENDS["darwin"][0] == "keyring.backends.macOS:Keyring"
    assert choice.SYSTEM_BACKENDS["win32"][0] == "keyring.backends.Windows:WinVaultKeyring"
    for _, hint in choice.SYSTEM_BACKENDS.values():
        assert "KEYBROKER_VAULT=memory" in hint


def test_default_chunking() -> None:
    assert choice.default_chunking("win32") == (2560, "utf-16-le")
    assert choice.default_chunking("linux") == (None, "utf-8")
    assert choice.default_chunking("darwin") == (None, "utf-8")


@pytest.mark.parametrize(
    "backend", [fail.Keyring(), null.Keyring(), chainer.ChainerBackend()], ids=["fail", "null", "chainer"]
)
def test_refused_backends(backend: KeyringBackend) -> None:
    assert choice.refusal_reason(backend)
    with pytest.raises(VaultUnavailable):
        choice.ensure_real_vault(backend)


def test_plaintext_lookalikes_are_refused() -> None:
    for module, name in [("keyrings.alt.file", "PlaintextKeyring"), ("keyrings.cryptfile.cryptfile", "X")]:
        cls = type(name, (_NotViable,), {"__module__": module})
        assert choice.refusal_reason(cls()) is not None


def test_real_backends_pass() -> None:
    assert choice.refusal_reason(MemoryKeyring()) is None
    assert choice.refusal_reason(_NotViable()) is None


def test_load_backend_checks_viability_with_the_reason(fake_module: str) -> None:
    with pytest.raises(VaultUnavailable, match="needs a D-Bus session") as info:
        choice.load_backend(f"{fake_module}:NotViable", hint="do this")
    assert info.value.hint == "do this"
    assert info.value.exit_code == 4


@pytest.mark.parametrize(
    "path", ["no_such_module_kb:X", "kb_fake_backends:Missing", "kb_fake_backends:NotABackend"]
)
def test_load_backend_unloadable(fake_module: str, path: str) -> None:
    with pytest.raises(VaultUnavailable):
        choice.load_backend(path)


def test_load_backend_that_fails_to_start(fake_module: str) -> None:
    with pytest.raises(VaultUnavailable, match="no bus"):
        choice.load_backend(f"{fake_module}:Broken")


def test_load_backend_refuses_fail_backend() -> None:
    with pytest.raises(VaultUnavailable, match="fail backend"):
        choice.load_backend("keyring.backends.fail:Keyring")


def test_keyring_environment_is_not_read(fake_module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYRING_PROPERTY_PREFERRED_COLLECTION", "/org/freedesktop/secrets/collection/x")
    monkeypatch.setenv("KEYRING_PROPERTY_APPID", "from-env")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    backend = choice.load_backend(f"{fake_module}:Viable")
    assert type(backend) is _Viable
    assert not hasattr(backend, "preferred_collection")
    assert backend.appid == "io.github.keybroker.Keybroker"


def test_unknown_platform() -> None:
    with pytest.raises(VaultUnavailable, match="plan9") as info:
        choice.load_system_backend("plan9")
    assert "KEYBROKER_VAULT=memory" in (info.value.hint or "")


def test_display_name() -> None:
    assert choice.backend_display_name(MemoryKeyring()) == (
        "memory (keybroker.core.vault.memory.MemoryKeyring)"
    )
    assert choice.backend_display_name(fail.Keyring()) == "fail (keyring.backends.fail.Keyring)"


def test_lock_check_is_only_for_secret_service() -> None:
    assert choice.secret_service_locked(MemoryKeyring()) is None


@pytest.mark.parametrize(("platform", "needs"), [("win32", "pywin32"), ("darwin", "macOS")])
def test_other_platforms_backends_are_refused_here_with_their_fix(platform: str, needs: str) -> None:
    if choice.platform_family() == platform:
        pytest.skip("runs only where that platform's vault cannot work")
    with pytest.raises(VaultUnavailable) as info:
        choice.load_system_backend(platform)
    assert needs in str(info.value) or needs in (info.value.hint or "")
    assert info.value.hint == choice.SYSTEM_BACKENDS[platform][1]


def test_no_session_bus_means_no_vault_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("secretstorage")
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    with pytest.raises(VaultUnavailable, match="DBUS_SESSION_BUS_ADDRESS") as info:
        choice.load_system_backend("linux")
    assert "gnome-keyring" in (info.value.hint or "")
    assert "KEYBROKER_VAULT=memory" in (info.value.hint or "")


def test_secret_service_backend_is_not_keyrings() -> None:
    """Ours is not a KeyringBackend (keyring's detection cannot pick it) and needs no keyring import."""
    secret_service_keyring = pytest.importorskip("keybroker.core.vault.secret_service")
    cls = secret_service_keyring.SecretServiceKeyring
    assert not issubclass(cls, KeyringBackend)
    assert issubclass(cls, VaultBackend)


class _Ours:
    """A backend of our own kind: the vault's three calls and `check_viable`, no keyring base class."""

    viable = True
    appid = "not ours"

    @classmethod
    def check_viable(cls) -> None:
        if not cls.viable:
            raise RuntimeError("no service bus here")

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        pass

    def delete_password(self, service: str, username: str) -> None:
        pass


class _Locked(_Ours):
    def collection_locked(self) -> bool:
        return True


def test_load_backend_takes_a_structural_backend(fake_module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[fake_module], "Ours", _Ours, raising=False)
    backend = choice.load_backend(f"{fake_module}:Ours")
    assert type(backend) is _Ours
    assert backend.appid == "io.github.keybroker.Keybroker"  # type: ignore[attr-defined]
    monkeypatch.setattr(_Ours, "viable", False)
    with pytest.raises(VaultUnavailable, match="no service bus here"):
        choice.load_backend(f"{fake_module}:Ours")


def test_load_backend_refuses_a_class_missing_a_call(
    fake_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_delete = type("NoDelete", (), {"get_password": _Ours.get_password, "set_password": _Ours.set_password})
    monkeypatch.setattr(sys.modules[fake_module], "NoDelete", no_delete, raising=False)
    with pytest.raises(VaultUnavailable, match="not a vault backend"):
        choice.load_backend(f"{fake_module}:NoDelete")


def test_lock_check_asks_a_backend_that_can_tell() -> None:
    assert choice.secret_service_locked(_Locked()) is True
    assert choice.secret_service_locked(_Ours()) is None


def test_choosing_and_opening_a_memory_vault_never_imports_keyring(tmp_path: Path) -> None:
    """keyring costs ~50 ms of start-up: only macOS and Windows, whose backends are keyring's, load it."""
    code = (
        "import sys\n"
        "from keybroker.core.vault.choice import SYSTEM_BACKENDS, platform_family\n"
        "from keybroker.core.vault.vault import open_vault\n"
        "with open_vault('memory') as vault:\n"
        "    vault.set('a', 'v')\n"
        "    assert vault.delete('a') and not vault.delete('a')\n"
        "    vault.probe()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keyring', 'jaraco', 'secretstorage')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=subprocess_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
