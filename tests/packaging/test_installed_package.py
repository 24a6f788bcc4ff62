# SPDX-License-Identifier: Apache-2.0
"""The .deb, installed for real (`make package-test`, scripts/package-test.sh; DESIGN §8).

Runs only when KEYBROKER_PACKAGE_DEB names a built package and this user may install packages (root, or
`sudo -n`): it installs the package, runs the installed bundle's self-test under Xvfb, starts
/usr/bin/keybroker under Xvfb + trayer with a throw-away home (and the rig's real Secret Service when
`make test` runs it), checks its tray icon and its bridge, measures cold start and idle memory, stops it
with SIGTERM, then removes the package and checks nothing is left. The figures go to
KEYBROKER_PACKAGE_FIGURES (JSON) when set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keybroker.system.instance import read_instance
from tests.conftest import rig_active
from tests.ui.app_process import (
    AppProcess,
    TrayDisplay,
    embedded_in_tray,
    missing_tray_tools,
    start_tray_display,
    tray_tile_pixels,
    x_tree,
)

pytestmark = pytest.mark.slow

DEB_VAR = "KEYBROKER_PACKAGE_DEB"
FIGURES_VAR = "KEYBROKER_PACKAGE_FIGURES"
APP_ID = "io.github.keybroker.Keybroker"
PROGRAM = Path("/usr/bin/keybroker")
BUNDLE = Path("/opt/keybroker")
DESKTOP_FILE = Path(f"/usr/share/applications/{APP_ID}.desktop")
ICON_FILES = (
    Path(f"/usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg"),
    Path(f"/usr/share/icons/hicolor/48x48/apps/{APP_ID}.png"),
    Path(f"/usr/share/icons/hicolor/256x256/apps/{APP_ID}.png"),
)
IDLE_SECONDS = 5.0
TRAY_SHOWN = re.compile(r"tray icon shown \d+ ms after start \(at (\d+\.\d+)\)")


def as_root() -> list[str] | None:
    """The prefix that runs a command as root ([] when we are root), or None when we cannot."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


def deb_path() -> Path:
    value = os.environ.get(DEB_VAR, "")
    if not value:
        pytest.skip(f"{DEB_VAR} is not set: make package-test builds the .deb and runs this")
    path = Path(value)
    if not path.is_file():
        pytest.fail(f"{DEB_VAR}={value} is not a file")
    return path


def dpkg(*args: str) -> subprocess.CompletedProcess[str]:
    prefix = as_root()
    assert prefix is not None
    return subprocess.run([*prefix, "dpkg", *args], capture_output=True, text=True, check=False, timeout=300)


def installed() -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "keybroker"], capture_output=True, text=True
    )
    return result.stdout.startswith("ii")


class InstalledApp(AppProcess):
    """`AppProcess` (its log, `wait_for` and `stop`) for the installed program instead of `python -m`."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        super().__init__(tmp_path, env, program=(str(PROGRAM),))


def app_env(display: str | None) -> dict[str, str]:
    """The test's isolated environment (tests/conftest.py) for the installed program: no source tree on
    its path, the rig's Secret Service when there is one, else the memory vault."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "QT_QPA_PLATFORM", "WAYLAND_DISPLAY")
    }
    env["KEYBROKER_VAULT"] = "system" if rig_active() else "memory"
    env["KEYBROKER_PORT"] = "0"
    if display is None:
        env.pop("DISPLAY", None)
    else:
        env["DISPLAY"] = display
    return env


def rss_kib(pid: int) -> int:
    """VmRSS of `pid` and every process below it, in KiB."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total += int(found.group(1)) if found else 0
    return total


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def record(figures: dict[str, object]) -> None:
    target = os.environ.get(FIGURES_VAR)
    if target:
        path = Path(target)
        old = json.loads(path.read_text()) if path.is_file() else {}
        path.write_text(json.dumps({**old, **figures}, indent=2))


@pytest.fixture(scope="module")
def package() -> Iterator[Path]:
    deb = deb_path()
    if as_root() is None:
        pytest.skip("installing a package needs root or sudo -n")
    missing = missing_tray_tools()
    if missing:
        pytest.fail(f"the package test needs {', '.join(missing)} (scripts/system-deps.sh installs them)")
    result = dpkg("-i", str(deb))
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        yield deb
    finally:
        if installed():
            dpkg("--purge", "keybroker")


@pytest.fixture
def tray(tmp_path: Path) -> Iterator[TrayDisplay]:
    display = start_tray_display(tmp_path)
    yield display
    display.stop()


def test_the_package_installs_its_files_and_no_autostart(package: Path) -> None:
    listed = dpkg("-L", "keybroker").stdout.splitlines()
    assert str(BUNDLE / "keybroker") in listed and str(PROGRAM) in listed
    assert str(DESKTOP_FILE) in listed
    assert all(str(icon) in listed for icon in ICON_FILES)
    assert not [f for f in listed if f.startswith("/etc")], "the package installs nothing under /etc"
    assert PROGRAM.resolve() == BUNDLE / "keybroker" and os.access(PROGRAM, os.X_OK)
    assert "Exec=/usr/bin/keybroker" in DESKTOP_FILE.read_text().splitlines()
    assert all(icon.is_file() for icon in ICON_FILES)


#: lintian tags a self-contained bundle in /opt cannot avoid, each with why; any other tag fails the test.
LINTIAN_EXPECTED = {
    "dir-or-file-in-opt": "the bundle lives in /opt/keybroker (DESIGN §8), as third-party apps do",
    "embedded-library": "the bundle carries its own copies of the libraries it was built with",
    "custom-library-search-path": "PyInstaller's and Qt's libraries find each other through $ORIGIN RUNPATHs",
    "shared-library-lacks-prerequisites": "Python extension modules as CPython builds them",
    "library-not-linked-against-libc": "Python extension modules as CPython builds them",
    "hardening-no-pie": "PyInstaller's prebuilt bootloader",
    "malformed-deb-archive": "zstd members (dpkg >= 1.21.18 reads them; Debian's archive wants xz)",
}


def test_lintian_finds_nothing_but_what_a_bundle_in_opt_implies() -> None:
    """Debian's own checker, run on the built .deb: permissions, changelog, copyright, manual page,
    control fields, maintainer scripts. What a PyInstaller bundle in /opt cannot avoid is listed above."""
    deb = deb_path()
    lintian = shutil.which("lintian")
    if lintian is None:
        pytest.fail("lintian is not installed (scripts/system-deps.sh installs it)")
    result = subprocess.run(
        [lintian, "--no-tag-display-limit", str(deb)], capture_output=True, text=True, timeout=600
    )
    found = re.findall(r"^([EW]): keybroker(?: \w+)?: (\S+)(.*)$", result.stdout, re.MULTILINE)
    unexpected = sorted(
        {f"{level}: {tag}{rest}" for level, tag, rest in found if tag not in LINTIAN_EXPECTED}
    )
    assert not unexpected, "\n".join(unexpected)
    assert result.returncode in (0, 1, 2), result.stderr  # 1/2: tags found (all expected, checked above)


def test_the_package_ships_its_manual_changelog_and_sane_modes(package: Path) -> None:
    listed = set(dpkg("-L", "keybroker").stdout.splitlines())
    assert {"/usr/share/man/man1/keybroker.1.gz", "/usr/share/doc/keybroker/changelog.gz"} <= listed
    man = subprocess.run(
        ["man", "-P", "cat", "keybroker"],
        capture_output=True,
        text=True,
        env={**os.environ, "MANWIDTH": "100"},
        timeout=60,
    )
    if man.returncode == 0:  # man-db present (not on every minimal system)
        assert "keybroker secrets show" in man.stdout and "EXIT STATUS" in man.stdout
    executables = [
        p for p in BUNDLE.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_mode & 0o111
    ]
    assert BUNDLE / "keybroker" in executables
    assert not [p for p in executables if p.suffix == ".so" or ".so." in p.name], "libraries are not programs"


def test_the_installed_self_test_opens_the_display(package: Path, tray: TrayDisplay, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(PROGRAM), "--self-test"], env=app_env(tray.display), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("keybroker ")
    assert any(line.startswith(f"install: frozen bundle {BUNDLE}/_internal") for line in lines), lines
    assert any(line.startswith("qt: xcb ") and "system tray available" in line for line in lines), lines
    vault_line = next(line for line in lines if line.startswith("vault: "))
    assert ("SecretService" in vault_line) if rig_active() else ("memory" in vault_line)
    print(result.stdout)


def test_every_cli_command_runs_in_the_installed_bundle(package: Path, tmp_path: Path) -> None:
    """The CLI loads each command's module by name (cli/main.py): a module PyInstaller did not see is a
    command that fails only in the bundle. `status` runs for real against an empty home."""
    from keybroker.cli.main import build_parser

    env = {
        **app_env(None),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
    }
    (tmp_path / "run").mkdir(mode=0o700)
    parser = build_parser()
    words = sorted(next(a for a in parser._actions if a.dest == "command").choices)  # type: ignore[union-attr]
    assert "secrets" in words and "status" in words
    for word in words:
        result = subprocess.run(
            [str(PROGRAM), word, "--help"], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"keybroker {word} --help: {result.stderr[-2000:]}"
    status = subprocess.run([str(PROGRAM), "status"], env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "not running" in status.stdout, status.stdout + status.stderr
    assert status.stderr == ""


def test_the_installed_app_starts_in_the_tray_and_answers(
    package: Path, tray: TrayDisplay, tmp_path: Path
) -> None:
    before = files_under(BUNDLE)
    env = app_env(tray.display)
    app = InstalledApp(tmp_path, env)
    try:
        # Cold start: launch -> the bridge answers (polled), launch -> the icon in the tray (the app logs
        # the wall-clock time it showed it).
        deadline = time.monotonic() + 60
        bridge_after: float | None = None
        while bridge_after is None:
            assert time.monotonic() < deadline, f"the bridge did not answer within 60 s:\n{app.log}"
            assert app.process.poll() is None, f"the app exited ({app.process.returncode}):\n{app.log}"
            info = read_instance(app.paths)
            if info is not None:
                try:
                    response = httpx.get(f"{info.url}/api/v1/status", trust_env=False, timeout=2)
                except httpx.TransportError:
                    response = None
                if response is not None and response.status_code == 401:  # answers, and wants its token
                    bridge_after = time.time() - app.started_at
                    break
            time.sleep(0.02)
        app.wait_for("tray icon shown")
        shown = TRAY_SHOWN.search(app.log)
        assert shown is not None, app.log
        tray_after = float(shown.group(1)) - app.started_at
        assert info is not None and info.pid == app.process.pid
        assert "no system tray" not in app.log
        assert tray_tile_pixels(tray.display) > 50  # the key icon is painted in trayer's panel
        tree = ""
        for _ in range(50):
            tree = x_tree(tray.display)
            if embedded_in_tray(tree):
                break
            time.sleep(0.1)
        assert embedded_in_tray(tree), tree
        app.wait_for("state: ready")

        # The installed CLI finds the running instance.
        status = subprocess.run(
            [str(PROGRAM), "status"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert status.returncode == 0 and f"pid {app.process.pid}" in status.stdout, status

        time.sleep(max(0.0, IDLE_SECONDS - (time.monotonic() - app.started)))
        idle_kib = rss_kib(app.process.pid)
        assert app.stop(signal.SIGTERM) == 0, app.log
        assert not app.paths.instance_file.exists()
    finally:
        if app.process.poll() is None:
            app.process.kill()
            app.process.wait(10)
    assert files_under(BUNDLE) == before, "the app wrote into /opt/keybroker"
    figures = {
        "vault": "Secret Service (gnome-keyring, private session)" if rig_active() else "memory",
        "cold_start_to_tray_icon_s": round(tray_after, 3),
        "cold_start_to_bridge_answering_s": round(bridge_after, 3),
        "idle_rss_mib": round(idle_kib / 1024, 1),
    }
    record(figures)
    print(json.dumps(figures))


def test_removing_the_package_leaves_nothing(package: Path) -> None:
    result = dpkg("--remove", "keybroker")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not BUNDLE.exists(), sorted(files_under(BUNDLE))[:20]
    assert not PROGRAM.exists() and not PROGRAM.is_symlink()
    assert not DESKTOP_FILE.exists()
    assert not any(icon.exists() for icon in ICON_FILES)
    result = dpkg("--purge", "keybroker")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not installed()
