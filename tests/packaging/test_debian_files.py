# SPDX-License-Identifier: Apache-2.0
"""The Debian package's own files: the launcher, DEBIAN/control, the maintainer scripts, and what
scripts/package.sh puts where. Runs without building anything."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.packaging.support import PACKAGING, REPO_ROOT

APP_ID = "io.github.keybroker.Keybroker"
DESKTOP = PACKAGING / "linux" / f"{APP_ID}.desktop"
DEBIAN = PACKAGING / "debian"


def desktop_keys() -> dict[str, str]:
    lines = DESKTOP.read_text("utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if line and not line.startswith("#"))


def test_the_launcher_starts_the_installed_program_in_the_menu() -> None:
    keys = desktop_keys()
    assert keys["Type"] == "Application" and keys["Name"] == "Keybroker"
    assert keys["Exec"] == "/usr/bin/keybroker"
    assert keys["Icon"] == APP_ID  # a theme icon name, found in hicolor
    assert keys["Terminal"] == "false"
    assert "Utility" in keys["Categories"].split(";")
    assert "X-GNOME-Autostart-enabled" not in keys  # a menu entry, not an autostart one


def test_desktop_file_validate_accepts_the_launcher() -> None:
    validator = shutil.which("desktop-file-validate")
    if validator is None:
        pytest.skip("desktop-file-validate is not installed (desktop-file-utils)")
    result = subprocess.run([validator, str(DESKTOP)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout


def test_control_template_has_every_required_field() -> None:
    fields = dict(
        line.split(": ", 1)
        for line in (DEBIAN / "control.in").read_text().splitlines()
        if re.match(r"^\S", line)
    )
    for name in (
        "Package",
        "Version",
        "Architecture",
        "Maintainer",
        "Installed-Size",
        "Depends",
        "Description",
    ):
        assert name in fields, name
    assert fields["Package"] == "keybroker"
    assert fields["Version"] == "@VERSION@" and fields["Architecture"] == "@ARCH@"
    assert fields["Installed-Size"] == "@INSTALLED_SIZE@" and fields["Depends"] == "@DEPENDS@"


def _depends() -> list[str]:
    names = []
    for line in (DEBIAN / "depends").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def test_depends_lists_the_qt_runtime_the_tests_install() -> None:
    script = (REPO_ROOT / "scripts" / "system-deps.sh").read_text()
    listed = set(re.findall(r"\b(lib[\w.+-]+)", script.split("packages=(", 1)[1].split(")", 1)[0]))
    assert listed, "system-deps.sh lists the Qt runtime"
    assert listed <= set(_depends())
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", name) for name in _depends())


def _run_script(name: str, arg: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(DEBIAN / name), arg],
        env={"PATH": path},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def _fake_tool(bin_dir: Path, name: str, log: Path, rc: int) -> None:
    tool = bin_dir / name
    tool.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit {rc}\n')
    tool.chmod(0o755)


@pytest.mark.parametrize(
    ("script", "arg"), [("postinst", "configure"), ("postrm", "remove"), ("postrm", "purge")]
)
def test_maintainer_scripts_refresh_the_caches_when_the_tools_exist(
    tmp_path: Path, script: str, arg: str
) -> None:
    log = tmp_path / "calls"
    for name in ("gtk-update-icon-cache", "update-desktop-database"):
        _fake_tool(tmp_path, name, log, rc=0)
    result = _run_script(script, arg, f"{tmp_path}:/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor",
        "update-desktop-database -q /usr/share/applications",
    ]


@pytest.mark.parametrize(("script", "arg"), [("postinst", "configure"), ("postrm", "remove")])
def test_maintainer_scripts_never_fail_on_missing_or_failing_tools(
    tmp_path: Path, script: str, arg: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    # Only the shell's own builtins: neither tool exists.
    assert _run_script(script, arg, str(empty)).returncode == 0
    failing = tmp_path / "failing"
    failing.mkdir()
    for name in ("gtk-update-icon-cache", "update-desktop-database"):
        _fake_tool(failing, name, tmp_path / "log", rc=3)
    assert _run_script(script, arg, f"{failing}:/usr/bin:/bin").returncode == 0
    assert len((tmp_path / "log").read_text().splitlines()) == 2


def test_maintainer_scripts_are_executable_posix_shell() -> None:
    for name in ("postinst", "postrm"):
        path = DEBIAN / name
        assert path.read_text().startswith("#!/bin/sh\n")
        assert os.access(path, os.X_OK)
        assert subprocess.run(["/bin/sh", "-n", str(path)], check=False).returncode == 0


def test_package_script_installs_no_system_wide_autostart_and_uses_standard_tools() -> None:
    script = (REPO_ROOT / "scripts" / "package.sh").read_text()
    assert "/etc/xdg/autostart" not in script and '"$root/etc"' in script  # and it checks for /etc
    assert "dpkg-deb --root-owner-group" in script
    assert 'ln -s /opt/keybroker/keybroker "$root/usr/bin/keybroker"' in script
    assert "usr/share/icons/hicolor/scalable/apps" in script
    assert (
        subprocess.run(["bash", "-n", str(REPO_ROOT / "scripts" / "package.sh")], check=False).returncode == 0
    )
    assert (
        subprocess.run(["bash", "-n", str(REPO_ROOT / "scripts" / "package-test.sh")], check=False).returncode
        == 0
    )


def test_package_test_skips_with_a_reason_when_it_cannot_install(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can always install: the skip branch is for other users")
    refusing_sudo = tmp_path / "sudo"
    refusing_sudo.write_text("#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
    refusing_sudo.chmod(0o755)
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "package-test.sh")],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == "package-test: skipped: not root and no sudo -n (installing the .deb needs one of them)"
    )
