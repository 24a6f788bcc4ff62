# SPDX-License-Identifier: Apache-2.0
"""Whether this Keybroker runs from a PyInstaller bundle, and where that bundle lives.

Keybroker reads no data files at run time (its icons are drawn from SVG in code, ui/icon_art.py), so a
frozen build needs nothing but these answers: `--self-test` reports them, and the autostart entry starts
the bundle's own program. Each function takes the `sys` module to read, so tests pass a stand-in.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

#: What the self-test calls each `sys.platform` family.
PLATFORM_NAMES = {"linux": "Linux", "darwin": "macOS", "win32": "Windows"}


def is_frozen(system: ModuleType | Any = sys) -> bool:
    """True inside a PyInstaller (or other freezer's) bundle."""
    return bool(getattr(system, "frozen", False))


def bundle_dir(system: ModuleType | Any = sys) -> Path | None:
    """The folder the bundle unpacked its libraries into (`_internal/`, or `Contents/Frameworks` in a
    macOS .app), or None when not frozen."""
    if not is_frozen(system):
        return None
    meipass = getattr(system, "_MEIPASS", None)
    if meipass:
        return Path(meipass)
    return Path(system.executable).resolve().parent  # a freezer without _MEIPASS: next to the program


def platform_name(platform: str = sys.platform) -> str:
    """`Linux`, `macOS`, `Windows`, or the raw `sys.platform` value for anything else."""
    if platform.startswith("linux"):
        return PLATFORM_NAMES["linux"]
    return PLATFORM_NAMES.get(platform, platform)


def describe(system: ModuleType | Any = sys) -> str:
    """One line: the bundle and its program, or the interpreter running the source."""
    where = bundle_dir(system)
    if where is not None:
        return f"frozen bundle {where} (program {system.executable})"
    return f"Python {'.'.join(str(n) for n in system.version_info[:3])} ({system.executable}), not frozen"
