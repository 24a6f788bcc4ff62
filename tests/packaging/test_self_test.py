# SPDX-License-Identifier: Apache-2.0
"""`keybroker --self-test` (cli/self_test.py): each check's branches with injected parts, then the real
command in a subprocess, passing and failing."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from keybroker import __version__
from keybroker.cli import self_test as st
from keybroker.core.errors import VaultUnavailable
from keybroker.core.vault.vault import open_vault
from keybroker.ui.qt_probe import QtProbe
from tests.conftest import subprocess_env

# Where Qt opens ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "platform", "request_"),
    [
        ({"QT_QPA_PLATFORM": "minimal", "DISPLAY": ":0"}, "linux", "minimal"),
        ({}, "darwin", None),
        ({}, "win32", None),
        ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, "linux", "wayland;xcb;offscreen"),
        ({"DISPLAY": ":3"}, "linux", "xcb;offscreen"),
        ({}, "linux", "offscreen"),
        ({"DISPLAY": ""}, "freebsd14", "offscreen"),
    ],
)
def test_qt_request(environ: dict[str, str], platform: str, request_: str | None) -> None:
    wanted, why = st.qt_request(environ, platform)
    assert wanted == request_
    assert why


def _probe(platform: str = "xcb", tray: bool = True, icon: bool = True) -> Any:
    def probe(request: str | None) -> QtProbe:
        probe.requests.append(request)  # type: ignore[attr-defined]
        return QtProbe(platform, "6.11.3", "6.11.3", tray, icon)

    probe.requests = []  # type: ignore[attr-defined]
    return probe


def test_qt_on_a_display() -> None:
    probe = _probe("xcb", tray=True)
    check = st.check_qt({"DISPLAY": ":1"}, "linux", probe)
    assert check.ok and check.text.startswith("xcb (DISPLAY=:1)") and "system tray available" in check.text
    assert probe.requests == ["xcb;offscreen"]


def test_qt_without_a_display_opens_offscreen_and_says_so() -> None:
    check = st.check_qt({}, "linux", _probe("offscreen", tray=False))
    assert check.ok
    assert check.text.startswith("offscreen (no display") and "system tray not available" in check.text


def test_qt_that_falls_back_to_offscreen_on_a_display_fails() -> None:
    check = st.check_qt({"DISPLAY": ":1"}, "linux", _probe("offscreen"))
    assert check.exit_code == st.EXIT_BROKEN == 1
    assert "could not open the display with 'xcb'" in check.text and "QT_DEBUG_PLUGINS" in check.hint


def test_qt_that_cannot_load_fails() -> None:
    def probe(request: str | None) -> QtProbe:
        raise st.QtUnavailable("libQt6Gui.so.6: cannot open shared object file")

    check = st.check_qt({}, "linux", probe)
    assert check.exit_code == 1 and "cannot load Qt: libQt6Gui.so.6" in check.text


def test_qt_that_cannot_draw_the_svg_art_fails() -> None:
    check = st.check_qt({}, "darwin", _probe("cocoa", icon=False))
    assert check.exit_code == 1 and "SVG" in check.text


def test_probe_qt_missing_pyside_is_qt_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry makes `import` raise ImportError, as a bundle without Qt's libraries would.
    monkeypatch.setitem(sys.modules, "PySide6", None)
    monkeypatch.setitem(sys.modules, "keybroker.ui.qt_probe", None)
    with pytest.raises(st.QtUnavailable):
        st.probe_qt("offscreen")


# Vault and keyring -----------------------------------------------------------------------------------


def test_vault_found() -> None:
    check = st.check_vault({"KEYBROKER_VAULT": "memory"})
    assert check.ok and check.text.startswith("session-only memory vault") and check.text.endswith("[ok]")


def test_no_vault_exits_4_with_the_reason() -> None:
    def opener(**kwargs: Any) -> Any:
        raise VaultUnavailable("no usable OS vault: nothing here", hint="install gnome-keyring")

    check = st.check_vault({}, opener)
    assert check.exit_code == 4 and check.text == "none: no usable OS vault: nothing here"
    assert check.hint == "install gnome-keyring"


def test_a_vault_that_does_not_answer_fails() -> None:
    closed = []

    class Silent:
        def probe(self) -> Any:
            return SimpleNamespace(state="unavailable", message="the Secret Service did not answer")

        def describe(self) -> str:
            return "OS vault: SecretService"

        def close(self) -> None:
            closed.append(True)

    check = st.check_vault({}, lambda **kwargs: Silent())
    assert check.exit_code == 4 and "did not answer" in check.text and closed == [True]


def test_keyring_entry_points_are_listed() -> None:
    check = st.check_keyring_metadata()
    assert check.ok and "SecretService" in check.text


def test_a_frozen_bundle_without_keyring_metadata_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(st.importlib.metadata, "entry_points", lambda group: [])
    frozen = SimpleNamespace(
        frozen=True, _MEIPASS="/opt/keybroker/_internal", executable="/opt/keybroker/keybroker"
    )
    check = st.check_keyring_metadata(frozen)
    assert check.exit_code == 1 and "metadata is missing" in check.text
    assert st.check_keyring_metadata(sys).ok  # from source: only a note


# The report ------------------------------------------------------------------------------------------


def _report(vault: st.Check, qt: st.Check) -> tuple[int, list[str]]:
    out = io.StringIO()
    rc = st.run_self_test(
        {},
        out,
        platform="darwin",
        vault_check=lambda env: vault,
        qt_check=lambda env, platform: qt,
    )
    return rc, out.getvalue().splitlines()


def test_report_lines_and_exit_0() -> None:
    rc, lines = _report(st.Check("vault", "OS vault: x [ok]"), st.Check("qt", "cocoa"))
    assert rc == 0
    assert lines[0] == f"keybroker {__version__}"
    assert lines[1] == "platform: macOS (darwin)"
    assert lines[2].startswith("install: Python ") and lines[2].endswith("not frozen")
    assert "vault: OS vault: x [ok]" in lines and "qt: cocoa" in lines
    assert lines[-1] == "self-test passed"


def test_report_exit_code_is_the_first_failure() -> None:
    rc, lines = _report(st.Check("vault", "none", 4, "fix it"), st.Check("qt", "broken", 1))
    assert rc == 4
    assert "  hint: fix it" in lines and lines[-1] == "self-test FAILED: vault, qt"
    rc, _ = _report(st.Check("vault", "ok"), st.Check("qt", "broken", 1))
    assert rc == 1


# The command -----------------------------------------------------------------------------------------


def _run(env: Mapping[str, str | None], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keybroker", *args],
        env=subprocess_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_passes_without_a_display(tmp_path: Path) -> None:
    result = _run(
        {"KEYBROKER_VAULT": "memory", "DISPLAY": None, "WAYLAND_DISPLAY": None, "QT_QPA_PLATFORM": None},
        "--self-test",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"keybroker {__version__}"
    assert "vault: session-only memory vault: values are lost when Keybroker exits [ok]" in lines
    qt = next(line for line in lines if line.startswith("qt: "))
    assert qt.startswith("qt: offscreen (no display")
    assert lines[-1] == "self-test passed"


def test_the_command_fails_with_exit_4_without_a_vault(tmp_path: Path) -> None:
    env = {"KEYBROKER_VAULT": "system", "DBUS_SESSION_BUS_ADDRESS": None, "QT_QPA_PLATFORM": "offscreen"}
    result = _run(env, "--self-test")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "vault: none: no usable OS vault" in result.stdout
    assert "self-test FAILED: vault" in result.stdout


def test_the_flag_takes_no_command() -> None:
    result = _run({}, "--self-test", "status")
    assert result.returncode == 2 and "--self-test takes no command" in result.stderr


def test_the_real_opener_is_the_default() -> None:
    assert st.check_vault.__defaults__ == (open_vault,)
