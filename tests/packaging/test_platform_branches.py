# SPDX-License-Identifier: Apache-2.0
"""The platform and frozen-bundle branches outside autostart and keyring_choice (those have their own
tests), each run here by injecting the platform or a stand-in `sys`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from keybroker import app_launcher, bundle
from keybroker.system import peer_process as caller

# bundle.py -----------------------------------------------------------------------------------------


def test_a_pyinstaller_bundle_is_found_through_meipass() -> None:
    frozen = SimpleNamespace(
        frozen=True, _MEIPASS="/opt/keybroker/_internal", executable="/opt/keybroker/keybroker"
    )
    assert bundle.is_frozen(frozen)
    assert bundle.bundle_dir(frozen) == Path("/opt/keybroker/_internal")
    assert bundle.describe(frozen) == (
        "frozen bundle /opt/keybroker/_internal (program /opt/keybroker/keybroker)"
    )


def test_another_freezer_without_meipass_uses_the_program_dir(tmp_path: Path) -> None:
    program = tmp_path / "Keybroker.exe"
    program.write_bytes(b"")
    frozen = SimpleNamespace(frozen=True, executable=str(program))
    assert bundle.bundle_dir(frozen) == tmp_path.resolve()


def test_running_from_source_is_not_frozen() -> None:
    assert not bundle.is_frozen(sys)
    assert bundle.bundle_dir(sys) is None
    assert bundle.describe(sys).endswith("not frozen") and sys.executable in bundle.describe(sys)


@pytest.mark.parametrize(
    ("platform", "name"),
    [("linux", "Linux"), ("darwin", "macOS"), ("win32", "Windows"), ("freebsd14", "freebsd14")],
)
def test_platform_names(platform: str, name: str) -> None:
    assert bundle.platform_name(platform) == name


# app_launcher.has_display ------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_macos_and_windows_always_have_a_display(platform: str) -> None:
    assert app_launcher.has_display({}, platform)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"DISPLAY": ""}, False),
        ({"DISPLAY": ":0"}, True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, True),
    ],
)
def test_linux_needs_x11_or_wayland(environ: dict[str, str], expected: bool) -> None:
    assert app_launcher.has_display(environ, "linux") is expected


def test_no_display_exits_4_with_the_headless_hint(capsys: pytest.CaptureFixture[str]) -> None:
    if sys.platform in ("darwin", "win32"):
        pytest.skip("there is always a display here")
    assert app_launcher.launch_app({}) == app_launcher.EXIT_NO_DISPLAY == 4
    assert "keybroker serve --headless" in capsys.readouterr().err


# Branches that read sys.platform directly ------------------------------------------------------------


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_the_calling_process_is_only_looked_up_on_linux(
    monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    monkeypatch.setattr(caller.sys, "platform", platform)
    assert caller.peer_process(("127.0.0.1", 50000), ("127.0.0.1", 7411)) is None


def test_the_terminal_prompter_declines_on_windows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from keybroker.cli import terminal_prompter as tp

    def no_terminal_on_windows(path: str) -> object:
        raise AssertionError("the terminal was opened on Windows")

    monkeypatch.setattr(tp.sys, "platform", "win32")
    monkeypatch.setattr(tp.Terminal, "open", staticmethod(no_terminal_on_windows))
    prompter = tp.TerminalPrompter(tty_path=str(tmp_path / "tty"))
    answer = asyncio.run(prompter.ask(object()))  # type: ignore[arg-type]
    assert answer == tp.PromptAnswer.deny(tp.NO_TERMINAL)
