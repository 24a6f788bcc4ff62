# SPDX-License-Identifier: Apache-2.0
"""packaging/spec_settings.py: the per-platform build settings the spec hands to PyInstaller, the Qt files
it leaves out, and the pruning of libraries only those files needed. Runs on any OS."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.packaging.support import PACKAGING, REPO_ROOT, load

S = load("spec_settings")
APP_ID = "io.github.keybroker.Keybroker"


def test_linux_builds_one_program_and_no_app_bundle() -> None:
    settings = S.settings_for("linux", "1.2.3")
    assert settings.platform == "linux"
    assert [e.name for e in settings.executables] == ["keybroker"]
    assert settings.icon is None and settings.app_bundle is None and settings.info_plist == {}
    assert settings.strip is True
    assert S.settings_for("freebsd14", "1.2.3").platform == "linux"  # other XDG systems build the same way


def test_macos_builds_a_menu_bar_app_without_a_dock_icon() -> None:
    settings = S.settings_for("darwin", "1.2.3")
    assert settings.app_bundle == "Keybroker.app"
    assert settings.icon is not None and settings.icon.suffix == ".icns"
    plist = settings.info_plist
    assert plist["LSUIElement"] is True
    assert plist["CFBundleIdentifier"] == APP_ID
    assert plist["CFBundleShortVersionString"] == plist["CFBundleVersion"] == "1.2.3"
    assert plist["LSMinimumSystemVersion"] == "13.0"  # PySide6-Essentials 6.11's macOS wheels: macosx_13_0
    assert [e.name for e in settings.executables] == ["keybroker"]
    assert settings.strip is False  # codesign wants the binaries as built


def test_windows_builds_a_windowed_tray_program_and_a_console_cli() -> None:
    settings = S.settings_for("win32", "1.2.3")
    assert settings.icon is not None and settings.icon.suffix == ".ico"
    assert settings.app_bundle is None
    tray, cli = settings.executables
    assert settings.main_executable == tray
    assert (tray.name, tray.console) == ("Keybroker", False)
    assert cli.console is True
    # Windows file names ignore case: the two programs must differ by more than that.
    assert tray.name.lower() != cli.name.lower()


def test_the_spec_takes_every_platform_value_from_the_settings() -> None:
    text = (PACKAGING / "keybroker.spec").read_text()
    ast.parse(text)  # plain Python
    spec = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # the code, not the comments
    assert "sys.platform" in spec and "settings_for(sys.platform" in spec
    # No platform names or per-platform literals in the spec itself: they live in spec_settings.
    assert not re.search(r"['\"](darwin|win32|linux)['\"]", spec)
    assert "LSUIElement" not in spec and not re.search(r"\.(ico|icns)['\"]", spec)
    assert "info_plist=settings.info_plist" in spec and "if settings.app_bundle is not None" in spec
    assert "S.prune_binaries(a.binaries" in spec and "S.prune_datas(a.datas" in spec


def test_the_entry_script_is_the_console_script_module() -> None:
    assert S.ENTRY_SCRIPT == REPO_ROOT / "desktop" / "keybroker" / "__main__.py"
    assert S.ENTRY_SCRIPT.is_file()
    assert 'if __name__ == "__main__":' in S.ENTRY_SCRIPT.read_text()


def test_test_tools_and_unused_toolkits_are_excluded() -> None:
    for name in ("pytest", "hypothesis", "schemathesis", "tkinter", "PyInstaller", "PySide6.QtQml"):
        assert name in S.EXCLUDES


def test_every_qt_module_the_app_imports_is_kept() -> None:
    imported = set()
    for path in (REPO_ROOT / "desktop" / "keybroker").rglob("*.py"):
        imported |= set(re.findall(r"PySide6\.(Qt\w+)", path.read_text()))
    assert imported, "the app imports Qt somewhere"
    assert imported <= set(S.QT_MODULES)
    excluded = {name.removeprefix("PySide6.") for name in S.EXCLUDES if name.startswith("PySide6.")}
    assert not (set(S.QT_MODULES) & excluded)


def test_every_dynamically_imported_vault_backend_is_a_hidden_import() -> None:
    """keyring_choice loads each platform's backend by name, and nothing else imports keyring's: a
    missing entry is a macOS or Windows bundle without its vault."""
    from keybroker.core.vault.choice import SYSTEM_BACKENDS

    modules = {path.split(":")[0] for path, _hint in SYSTEM_BACKENDS.values()}
    assert {"keybroker.core.vault.secret_service", "keyring.backends.macOS"} <= modules
    assert modules <= set(S.HIDDEN_IMPORTS)
    assert "keyring" in S.COPY_METADATA


def test_modules_imported_by_name_are_hidden_imports() -> None:
    """cli/main.py loads command modules with importlib and the bridge package resolves its names
    lazily: PyInstaller sees neither, so a missing entry is a bundle whose CLI cannot start."""
    from keybroker.cli.main import COMMAND_MODULES
    from keybroker.core import bridge

    assert set(COMMAND_MODULES) <= set(S.HIDDEN_IMPORTS)
    lazy = {f"keybroker.core.bridge.{module}" for module in bridge._WHERE.values()}
    assert lazy <= set(S.HIDDEN_IMPORTS)


@pytest.mark.parametrize(
    "dest",
    [
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "PySide6/Qt/plugins/imageformats/libqpdf.so",
        "PySide6/Qt/plugins/platforms/libqeglfs.so",
        "PySide6/Qt/lib/libQt6Quick.so.6",
        "PySide6/Qt/translations/qtbase_de.qm",
        "PySide6\\Qt\\plugins\\imageformats\\qtiff.dll",
    ],
)
def test_unused_qt_files_are_dropped(dest: str) -> None:
    assert S.dropped(dest)


@pytest.mark.parametrize(
    "dest",
    [
        *(f"PySide6/Qt/plugins/{p}" for p in S.LINUX_REQUIRED_PLUGINS),
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/platforms/qwindows.dll",
        "PySide6/Qt/plugins/platforms/libqcocoa.dylib",
        "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so",
        "PySide6/Qt/lib/libQt6Svg.so.6",
        "PySide6/Qt/lib/libQt6DBus.so.6",
        "libpython3.11.so.1.0",
    ],
)
def test_what_the_app_needs_is_kept(dest: str) -> None:
    assert not S.dropped(dest)


# Pruning what only dropped files needed ----------------------------------------------------------

GTK = "PySide6/Qt/plugins/platformthemes/libqgtk3.so"
XCB = "PySide6/Qt/plugins/platforms/libqxcb.so"
NEEDS = {
    f"/src/{GTK}": ["libgtk-3.so.0", "libglib-2.0.so.0", "libQt6Gui.so.6"],
    "/src/libgtk-3.so.0": ["libcairo.so.2", "libglib-2.0.so.0"],
    "/src/libcairo.so.2": ["libpixman-1.so.0"],
    f"/src/{XCB}": ["libxcb-cursor.so.0", "libglib-2.0.so.0"],
    "/src/libctypes-only.so": [],
}


def _binary(dest: str) -> tuple[str, str, str]:
    return (dest, f"/src/{dest}", "BINARY")


def test_libraries_only_a_dropped_plugin_needed_go_with_it() -> None:
    binaries = [
        _binary(GTK),
        _binary(XCB),
        _binary("libgtk-3.so.0"),
        _binary("libcairo.so.2"),
        _binary("libpixman-1.so.0"),
        _binary("libglib-2.0.so.0"),  # also needed by the xcb plugin: stays
        _binary("libxcb-cursor.so.0"),
        _binary("libctypes-only.so"),  # needed by nothing a NEEDED entry shows (ctypes): untouched
        ("libQt6Gui.so.6", "PySide6/Qt/lib/libQt6Gui.so.6", "SYMLINK"),
        ("PySide6/Qt/lib/libQt6Gui.so.6", "/src/libQt6Gui.so.6", "BINARY"),
        ("libQt6Pdf.so.6", "PySide6/Qt/lib/libQt6Pdf.so.6", "SYMLINK"),  # its target is dropped
        ("PySide6/Qt/lib/libQt6Pdf.so.6", "/src/libQt6Pdf.so.6", "BINARY"),
    ]
    kept = [d for d, _, _ in S.prune_binaries(binaries, needed=lambda src: NEEDS.get(src, []))]
    assert kept == [
        XCB,
        "libglib-2.0.so.0",
        "libxcb-cursor.so.0",
        "libctypes-only.so",
        "libQt6Gui.so.6",
        "PySide6/Qt/lib/libQt6Gui.so.6",
    ]


def test_dangling_symlinks_in_the_data_files_are_dropped() -> None:
    binaries = [("PySide6/Qt/lib/libQt6Core.so.6", "/src/core", "BINARY")]
    datas = [
        ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
        ("libQt6Quick.so.6", "PySide6/Qt/lib/libQt6Quick.so.6", "SYMLINK"),
        ("PySide6/Qt/translations/qt_de.qm", "/src/qt_de.qm", "DATA"),
        ("keyring-25.7.0.dist-info/entry_points.txt", "/src/ep.txt", "DATA"),
    ]
    kept = [d for d, _, _ in S.prune_datas(datas, binaries)]
    assert kept == ["libQt6Core.so.6", "keyring-25.7.0.dist-info/entry_points.txt"]


def test_symlink_targets_are_relative_to_the_link() -> None:
    entries = [
        ("a/b/link", "../c/target", "SYMLINK"),
        ("a/c/target", "/src/t", "BINARY"),
        ("a/b/broken", "../c/missing", "SYMLINK"),
    ]
    assert [d for d, _, _ in S.without_dangling_symlinks(entries)] == ["a/b/link", "a/c/target"]


def test_generated_icons_land_in_the_build_dir() -> None:
    for platform in ("darwin", "win32"):
        icon = S.settings_for(platform, "1").icon
        assert icon is not None and icon.parent == S.GENERATED_ICONS_DIR
        assert Path(S.GENERATED_ICONS_DIR).is_relative_to(REPO_ROOT / "build")


def test_the_windows_installer_is_per_user_with_a_start_menu_entry_and_no_autostart() -> None:
    iss = (PACKAGING / "windows" / "keybroker.iss").read_text()
    lines = [line.strip() for line in iss.splitlines() if line.strip() and not line.lstrip().startswith(";")]
    assert f"AppId={APP_ID}" in lines
    assert "PrivilegesRequired=lowest" in lines
    assert r"DefaultDirName={localappdata}\Programs\Keybroker" in lines
    tray = S.settings_for("win32", "1").main_executable.name
    assert any(
        line.startswith('Name: "{userprograms}\\Keybroker"') and f"{tray}.exe" in line for line in lines
    )
    assert r'Source: "..\..\dist\keybroker\*"' in iss  # the spec's one-folder output
    assert "{commonstartup}" not in iss and "{userstartup}" not in iss
    run_key = [line for line in lines if "CurrentVersion\\Run" in line]
    assert run_key and all("uninsdeletevalue" in line and "dontcreatekey" in line for line in run_key)
