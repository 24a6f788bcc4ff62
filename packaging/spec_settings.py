# SPDX-License-Identifier: Apache-2.0
"""What the PyInstaller spec builds, per platform, as plain data (packaging/keybroker.spec reads it).

Kept out of the spec so a test on Linux can check the macOS and Windows settings too: the spec only
turns these values into `Analysis`, `EXE`, `COLLECT` and (macOS) `BUNDLE` calls. No PyInstaller import
here, and nothing platform-specific is decided anywhere but `settings_for`.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

APP_ID = "io.github.keybroker.Keybroker"
DISPLAY_NAME = "Keybroker"
#: The folder under dist/ (the one-folder bundle), and the name of the Linux and macOS program.
BUNDLE_NAME = "keybroker"
PACKAGING_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGING_DIR.parent
ENTRY_SCRIPT = REPO_ROOT / "desktop" / "keybroker" / "__main__.py"
ICONS_DIR = REPO_ROOT / "resources" / "icons"
#: Made by packaging/make_icons.py from the hicolor PNGs (the spec runs it when it needs them).
GENERATED_ICONS_DIR = REPO_ROOT / "build" / "icons"

#: The Qt modules the app imports (desktop/keybroker: QtCore, QtGui, QtWidgets, QtNetwork for the
#: single-instance socket, QtSvg for the icon art) plus QtDBus, which Qt's own tray icon and
#: notifications use on Linux (StatusNotifierItem). PyInstaller follows these imports by itself; the list
#: is what the bundle is checked against.
QT_MODULES = ("QtCore", "QtGui", "QtWidgets", "QtNetwork", "QtSvg", "QtDBus")

#: Python packages the app never imports at run time: test and build tools, other GUI toolkits, and the
#: Qt modules we do not use (PySide6-Essentials ships them; a stray import must not drag them in).
EXCLUDES = (
    "tkinter",
    "_tkinter",
    "unittest",
    "pydoc_data",
    "lib2to3",
    "pytest",
    "_pytest",
    "pytestqt",
    "hypothesis",
    "schemathesis",
    "mypy",
    "ruff",
    "IPython",
    "PyInstaller",
    "setuptools",
    "pip",
    "numpy",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickWidgets",
    "PySide6.QtQuick3D",
    "PySide6.QtWebEngineCore",
    "PySide6.QtWebEngineWidgets",
    "PySide6.QtPdf",
    "PySide6.QtPdfWidgets",
    "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets",
    "PySide6.QtSql",
    "PySide6.QtTest",
    "PySide6.QtXml",
    "PySide6.QtConcurrent",
    "PySide6.QtPrintSupport",
    "PySide6.QtDesigner",
    "PySide6.QtUiTools",
    "PySide6.QtHelp",
    "PySide6.QtMultimedia",
    "PySide6.QtMultimediaWidgets",
    "PySide6.QtStateMachine",
    "PySide6.QtSvgWidgets",
)

#: Files the Qt hooks collect that this app never loads, as glob patterns on the bundle-relative path
#: (matched on every platform; a pattern that matches nothing costs nothing). What stays: the platform
#: plugins for X11 (xcb), Wayland, offscreen, macOS (cocoa) and Windows, the SVG and PNG image paths,
#: the SVG icon engine, the xcb GL integration and the platform themes.
QT_DROP = (
    # Qt libraries of modules we do not use, pulled in by plugins we also drop.
    "*/Qt/lib/libQt6Qml*",
    "*/Qt/lib/libQt6Quick*",
    "*/Qt/lib/libQt6Pdf*",
    "*/Qt/lib/libQt6VirtualKeyboard*",
    "*/Qt/lib/libQt6Designer*",
    "*/Qt/lib/libQt6Sql*",
    "*/Qt/lib/libQt6Test*",
    "*/Qt/lib/libQt6OpenGLWidgets*",
    # Image formats beyond the ones our art and the settings window use (svg is drawn by QtSvg itself).
    "*/plugins/imageformats/*qpdf*",
    "*/plugins/imageformats/*qtiff*",
    "*/plugins/imageformats/*qwebp*",
    "*/plugins/imageformats/*qicns*",
    "*/plugins/imageformats/*qtga*",
    "*/plugins/imageformats/*qwbmp*",
    "*/plugins/imageformats/*qgif*",
    "*/plugins/imageformats/*qjpeg*",
    # Input methods for other scripts, virtual keyboards, OpenGL ES device integrations.
    "*/plugins/platforminputcontexts/*qtvirtualkeyboard*",
    "*/plugins/egldeviceintegrations/*",
    "*/plugins/platforms/*qvnc*",
    "*/plugins/platforms/*qlinuxfb*",
    "*/plugins/platforms/*qeglfs*",
    "*/plugins/platforms/*qminimalegl*",
    "*/plugins/platforms/*qvkkhrdisplay*",
    "*/plugins/platforms/*qminimal.*",
    "*/Qt/lib/libQt6EglFs*",
    "*/Qt/lib/libQt6EglFS*",
    "*/Qt/lib/libQt6WlShellIntegration*",
    # Wayland: the xdg-shell and the built-in shm buffers are what a desktop uses; no GL buffers.
    "*/plugins/wayland-graphics-integration-client/*",
    "*/plugins/wayland-shell-integration/*fullscreen-shell*",
    "*/plugins/wayland-shell-integration/*ivi-shell*",
    "*/plugins/wayland-shell-integration/*qt-shell*",
    "*/plugins/wayland-shell-integration/*wl-shell*",
    "*/plugins/wayland-decoration-client/*adwaita*",
    # The GTK theme plugin drags in the build machine's whole GTK 3 stack; the portal theme stays.
    "*/plugins/platformthemes/*qgtk3*",
    # Qt's own TLS and network-information back ends: Keybroker's Qt side only uses a local socket.
    "*/plugins/tls/*",
    "*/plugins/networkinformation/*",
    "*/plugins/generic/*",
    "*/plugins/sqldrivers/*",
    "*/plugins/qmltooling/*",
    # Translations of Qt's own strings: Keybroker's UI is English only for now.
    "*/Qt/translations/*",
)

#: Qt plugins the bundle must keep on Linux (checked by tests/packaging after a build).
LINUX_REQUIRED_PLUGINS = (
    "platforms/libqxcb.so",
    "platforms/libqoffscreen.so",
    "imageformats/libqsvg.so",
    "iconengines/libqsvgicon.so",
)


def _modules_imported_by_name() -> tuple[str, ...]:
    """What the app imports by name, read from where the names live, so the list cannot fall behind.

    PyInstaller's bytecode scan cannot see these: the vault backends (keyring_choice.SYSTEM_BACKENDS; no
    module imports keyring by itself, so without the macOS and Windows entries their bundles would lack
    keyring), the CLI's command modules (cli/main.py COMMAND_MODULES, loaded one at a time so `--version`
    stays fast) and the bridge package's lazy names (core/bridge/__init__.py). Importing those three
    modules loads nothing heavy (no Qt, no a2a-sdk).
    """
    import sys

    desktop = str(REPO_ROOT / "desktop")
    if desktop not in sys.path:
        sys.path.insert(0, desktop)
    from keybroker.cli.main import COMMAND_MODULES
    from keybroker.core import bridge
    from keybroker.core.vault.choice import SYSTEM_BACKENDS

    backends = [path.partition(":")[0] for path, _hint in SYSTEM_BACKENDS.values()]
    lazy = [f"{bridge.__name__}.{module}" for module in bridge._WHERE.values()]
    return tuple(dict.fromkeys([*backends, *COMMAND_MODULES, *lazy]))


HIDDEN_IMPORTS = _modules_imported_by_name()

#: Distributions whose metadata the frozen app reads: keyring's (its backends are entry points; PyInstaller's
#: keyring hook copies it too) and the versions `keybroker doctor` reports.
COPY_METADATA = (
    "keyring",
    "a2a-sdk",
    "httpx",
    "PySide6-Essentials",
    "qasync",
    "uvicorn",
    "SecretStorage",
)


@dataclass(frozen=True)
class Executable:
    """One program in the bundle folder."""

    name: str
    #: False: no console window on Windows (the tray app); True: a console program (the CLI).
    console: bool


@dataclass(frozen=True)
class PlatformSettings:
    """Everything that differs between the Linux, macOS and Windows builds."""

    platform: str
    executables: tuple[Executable, ...]
    #: Icon file for EXE/BUNDLE (None: Linux, where the .desktop file names a theme icon).
    icon: Path | None = None
    #: macOS: build Keybroker.app around the folder.
    app_bundle: str | None = None
    info_plist: dict[str, object] = field(default_factory=dict)
    #: strip debug symbols from the shared libraries we ship (Linux: smaller, same behaviour).
    strip: bool = False

    @property
    def main_executable(self) -> Executable:
        """The program that starts the tray app (and the PyInstaller entry)."""
        return self.executables[0]


def platform_family(platform: str) -> str:
    """`linux` (and the other XDG systems), `darwin` or `win32`."""
    if platform in ("darwin", "win32"):
        return platform
    return "linux"


def info_plist(version: str) -> dict[str, object]:
    """Keybroker.app's Info.plist additions: a menu-bar app with no Dock icon (LSUIElement)."""
    return {
        "CFBundleName": DISPLAY_NAME,
        "CFBundleDisplayName": DISPLAY_NAME,
        "CFBundleIdentifier": APP_ID,
        "CFBundleShortVersionString": version,
        "CFBundleVersion": version,
        "LSUIElement": True,
        # PySide6-Essentials 6.11's macOS wheel is tagged macosx_13_0: Qt does not start on older systems,
        # so say so before launch instead of crashing.
        "LSMinimumSystemVersion": "13.0",
        "NSHighResolutionCapable": True,
        "NSHumanReadableCopyright": "Apache-2.0",
    }


def settings_for(platform: str, version: str) -> PlatformSettings:
    """The build settings for a `sys.platform` value."""
    family = platform_family(platform)
    if family == "darwin":
        return PlatformSettings(
            platform=family,
            executables=(Executable(BUNDLE_NAME, console=False),),
            icon=GENERATED_ICONS_DIR / "keybroker.icns",
            app_bundle=f"{DISPLAY_NAME}.app",
            info_plist=info_plist(version),
        )
    if family == "win32":
        # A windowed program for the tray (no console flashes at login) and a console one for the CLI:
        # a windowed program has no stdout. Names differ by more than case (Windows file names do not).
        return PlatformSettings(
            platform=family,
            executables=(Executable(DISPLAY_NAME, console=False), Executable("keybroker-cli", console=True)),
            icon=GENERATED_ICONS_DIR / "keybroker.ico",
        )
    # `console` means nothing on Linux: the program writes to the terminal it was started from, if any.
    # Stripping debug symbols from the shared libraries (a pyenv-built libpython carries 15 MB of them).
    return PlatformSettings(
        platform=family, executables=(Executable(BUNDLE_NAME, console=False),), strip=True
    )


def dropped(dest: str, patterns: Iterable[str] = QT_DROP) -> bool:
    """Whether a collected file (its path inside the bundle, `/` or `\\` separated) is left out."""
    path = "/" + dest.replace("\\", "/")
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


#: A PyInstaller TOC entry: (path inside the bundle, source path or symlink target, type code).
TocEntry = tuple[str, str, str]


def _bundle_path(dest: str) -> str:
    return dest.replace("\\", "/")


def prune_binaries(
    binaries: Sequence[TocEntry],
    needed: Callable[[str], Iterable[str]],
    patterns: Iterable[str] = QT_DROP,
) -> list[TocEntry]:
    """`binaries` without the files `patterns` drop, and without what only those files needed.

    PyInstaller adds a plugin's shared-library dependencies to the top of the bundle before a spec can
    drop the plugin (Qt's GTK theme brings all of GTK 3). Here a top-level library goes too when a dropped
    file needed it, directly or through other libraries, and no kept file does. `needed(source_path)`
    gives the library names a binary links against (ELF NEEDED, PE imports). Symlinks whose target is
    gone are dropped with it.
    """
    patterns = tuple(patterns)
    top = {_bundle_path(d): (d, src, kind) for d, src, kind in binaries if "/" not in _bundle_path(d)}
    top_libs = {d: src for d, (_, src, kind) in top.items() if kind == "BINARY"}

    def closure(sources: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(sources)
        while todo:
            for name in needed(todo.pop()):
                base = posixpath.basename(name.replace("\\", "/"))
                if base in top_libs and base not in seen:
                    seen.add(base)
                    todo.append(top_libs[base])
        return seen

    gone = [e for e in binaries if e[2] != "SYMLINK" and dropped(e[0], patterns)]
    roots = [
        src
        for d, src, kind in binaries
        if kind != "SYMLINK" and not dropped(d, patterns) and _bundle_path(d) not in top_libs
    ]
    orphans = closure(src for _, src, _ in gone) - closure(roots)
    kept = [
        e
        for e in binaries
        if not (e[2] != "SYMLINK" and dropped(e[0], patterns)) and _bundle_path(e[0]) not in orphans
    ]
    return without_dangling_symlinks(kept)


def prune_datas(
    datas: Sequence[TocEntry], binaries: Sequence[TocEntry], patterns: Iterable[str] = QT_DROP
) -> list[TocEntry]:
    """`datas` without the files `patterns` drop and without symlinks (PyInstaller puts its top-level
    links to Qt libraries here) to anything no longer in `datas` or `binaries`."""
    patterns = tuple(patterns)
    kept = [e for e in datas if e[2] == "SYMLINK" or not dropped(e[0], patterns)]
    return without_dangling_symlinks(kept, also_present=binaries)


def without_dangling_symlinks(
    entries: Sequence[TocEntry], also_present: Sequence[TocEntry] = ()
) -> list[TocEntry]:
    """`entries` less the SYMLINK entries whose target (relative to the link) is not a file in them."""
    present = {_bundle_path(d) for d, _, kind in (*entries, *also_present) if kind != "SYMLINK"}

    def target_kept(dest: str, target: str) -> bool:
        path = posixpath.normpath(posixpath.join(posixpath.dirname(_bundle_path(dest)), _bundle_path(target)))
        return path in present

    return [e for e in entries if e[2] != "SYMLINK" or target_kept(e[0], e[1])]
