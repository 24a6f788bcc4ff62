# SPDX-License-Identifier: Apache-2.0
"""`keybroker --self-test`: what this build found, in a few lines, then exit (STYLE.md rule 10).

Run from an installed bundle it shows the packaging worked: the version, where it runs from, the vault
backend it would use (and the keyring entry points a frozen app must carry), and the Qt platform it
opened. With no display Qt opens `offscreen` and says so. Exit 0 when all is well; 4 when there is no
usable vault (INTERFACES.md exit codes); 1 when Qt cannot load, or cannot open the display it was given,
or a frozen bundle lacks keyring's metadata. Never opens a window, never touches a secret.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from keybroker import __version__, bundle
from keybroker.app_launcher import has_display
from keybroker.core.errors import KeybrokerError, VaultUnavailable
from keybroker.core.vault.vault import Vault, open_vault

if TYPE_CHECKING:
    from keybroker.ui.qt_probe import QtProbe

EXIT_OK = 0
EXIT_NO_VAULT = VaultUnavailable.exit_code
EXIT_BROKEN = KeybrokerError.exit_code
#: Seconds the vault may take to load and answer (D-Bus can stall).
VAULT_TIMEOUT = 10.0
KEYRING_ENTRY_POINTS = "keyring.backends"


@dataclass(frozen=True)
class Check:
    """One line of the report: `name: text`, and the exit code when it failed."""

    name: str
    text: str
    exit_code: int = EXIT_OK
    hint: str = ""

    @property
    def ok(self) -> bool:
        """True when this check passed."""
        return self.exit_code == EXIT_OK


class QtUnavailable(Exception):
    """PySide6 or one of its libraries could not be loaded."""


# Qt -----------------------------------------------------------------------------------------------


def qt_request(environ: Mapping[str, str], platform: str = sys.platform) -> tuple[str | None, str]:
    """The `QT_QPA_PLATFORM` to open (None: leave Qt's default) and why.

    An explicit `QT_QPA_PLATFORM` is used as it is. With a display, the platforms for it, then
    `offscreen` as a fallback (Qt tries a `;` list in order) so a broken plugin is reported, not fatal.
    Without one, `offscreen`.
    """
    explicit = environ.get("QT_QPA_PLATFORM", "").strip()
    if explicit:
        return explicit, f"QT_QPA_PLATFORM={explicit}"
    if platform in ("darwin", "win32"):
        return None, "the system's own platform"
    if environ.get("WAYLAND_DISPLAY"):
        return "wayland;xcb;offscreen", f"WAYLAND_DISPLAY={environ['WAYLAND_DISPLAY']}"
    if has_display(environ, platform):
        return "xcb;offscreen", f"DISPLAY={environ.get('DISPLAY', '')}"
    return "offscreen", "no display: DISPLAY and WAYLAND_DISPLAY are unset, the tray app needs one"


def probe_qt(request: str | None) -> QtProbe:
    """Open Qt with `request` as QT_QPA_PLATFORM (ui/qt_probe.py); QtUnavailable when it cannot load."""
    if request is not None:
        os.environ["QT_QPA_PLATFORM"] = request
    try:
        from keybroker.ui.qt_probe import probe
    except ImportError as exc:
        raise QtUnavailable(str(exc)) from None
    return probe()


def check_qt(
    environ: Mapping[str, str],
    platform: str = sys.platform,
    probe: Callable[[str | None], QtProbe] = probe_qt,
) -> Check:
    """Qt loads, opens the platform it should, and renders the SVG icon art."""
    request, why = qt_request(environ, platform)
    try:
        found = probe(request)
    except QtUnavailable as exc:
        return Check(
            "qt", f"cannot load Qt: {exc}", EXIT_BROKEN, "the bundle or PySide6 install is incomplete"
        )
    text = (
        f"{found.platform} ({why}); Qt {found.qt_version}, PySide6 {found.pyside_version}; "
        f"system tray {'available' if found.tray_available else 'not available'}"
    )
    fallback = request.rsplit(";", 1)[0] if request and request.endswith(";offscreen") else None
    if fallback is not None and found.platform == "offscreen":
        return Check(
            "qt",
            f"{text}: Qt could not open the display with {fallback!r} and fell back to offscreen",
            EXIT_BROKEN,
            "a system library Qt's platform plugin needs is missing (QT_DEBUG_PLUGINS=1 shows which)",
        )
    if not found.icon_drawn:
        return Check(
            "qt", f"{text}: the SVG icon art did not render", EXIT_BROKEN, "QtSvg is missing or broken"
        )
    return Check("qt", text)


# Vault and keyring ---------------------------------------------------------------------------------


def check_vault(environ: Mapping[str, str], opener: Callable[..., Vault] = open_vault) -> Check:
    """The vault backend Keybroker would use here, and whether it answers."""
    try:
        vault = opener(environ=environ, timeout=VAULT_TIMEOUT)
    except KeybrokerError as exc:
        return Check("vault", f"none: {exc.message}", EXIT_NO_VAULT, exc.hint or "")
    try:
        status = vault.probe()
    finally:
        vault.close()
    text = f"{vault.describe()} [{status.state}]"
    if status.state == "unavailable":
        return Check("vault", f"{text}: {status.message}", EXIT_NO_VAULT)
    return Check("vault", text)


def check_keyring_metadata(system: Any = sys) -> Check:
    """keyring's backends are entry points: a frozen app without keyring's metadata finds none."""
    names = sorted({ep.name for ep in importlib.metadata.entry_points(group=KEYRING_ENTRY_POINTS)})
    if names:
        return Check("keyring", f"{len(names)} backend entry points ({', '.join(names)})")
    if bundle.is_frozen(system):
        return Check(
            "keyring",
            "no backend entry points: keyring's metadata is missing from the bundle",
            EXIT_BROKEN,
            "collect it in the spec (PyInstaller's keyring hook does: copy_metadata('keyring'))",
        )
    return Check("keyring", "no backend entry points (keyring is installed without its metadata)")


# The report --------------------------------------------------------------------------------------


def run_self_test(
    environ: Mapping[str, str],
    out: TextIO,
    *,
    platform: str = sys.platform,
    system: Any = sys,
    vault_check: Callable[[Mapping[str, str]], Check] = check_vault,
    qt_check: Callable[[Mapping[str, str], str], Check] = check_qt,
) -> int:
    """Print the report to `out`; the exit code of the first failed check, else 0."""
    out.write(f"keybroker {__version__}\n")
    out.write(f"platform: {bundle.platform_name(platform)} ({platform})\n")
    out.write(f"install: {bundle.describe(system)}\n")
    checks = [check_keyring_metadata(system), vault_check(environ), qt_check(environ, platform)]
    for check in checks:
        out.write(f"{check.name}: {check.text}\n")
        if check.hint:
            out.write(f"  hint: {check.hint}\n")
    failed = [c for c in checks if not c.ok]
    if failed:
        out.write(f"self-test FAILED: {', '.join(c.name for c in failed)}\n")
        return failed[0].exit_code
    out.write("self-test passed\n")
    out.flush()
    return EXIT_OK
