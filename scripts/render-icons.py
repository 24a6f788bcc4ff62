#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write the key icon's SVGs and PNGs to resources/icons/ from the art in keybroker/ui/icon_art.py.

    python scripts/render-icons.py           # (re)write every file
    python scripts/render-icons.py --check   # exit 1 when a committed file differs from the art

Layout (the hicolor part is what a .desktop launcher and the Debian package install):
    resources/icons/io.github.keybroker.Keybroker.svg           the app icon
    resources/icons/hicolor/<n>x<n>/apps/io.github.keybroker.Keybroker.png
    resources/icons/states/keybroker-<state>.svg                 one per tray state
    resources/icons/states/<n>/keybroker-<state>.png
PNGs are rendered by Qt's QSvgRenderer (offscreen; no display needed), hinted art at 16-24 px.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "desktop"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QGuiApplication, QImage  # noqa: E402, TID251 - a Qt script

from keybroker import APP_ID  # noqa: E402
from keybroker.ui.icon_art import PNG_SIZES, IconState, svg  # noqa: E402
from keybroker.ui.icons import render  # noqa: E402

ICONS = ROOT / "resources" / "icons"


def planned() -> list[tuple[Path, IconState, int | None]]:
    """Every file: (path, state, PNG size or None for an SVG)."""
    files: list[tuple[Path, IconState, int | None]] = [(ICONS / f"{APP_ID}.svg", IconState.READY, None)]
    files += [
        (ICONS / "hicolor" / f"{n}x{n}" / "apps" / f"{APP_ID}.png", IconState.READY, n) for n in PNG_SIZES
    ]
    for state in IconState:
        files.append((ICONS / "states" / f"keybroker-{state.value}.svg", state, None))
        files += [(ICONS / "states" / str(n) / f"keybroker-{state.value}.png", state, n) for n in PNG_SIZES]
    return files


def same_png(path: Path, image: QImage) -> bool:
    on_disk = QImage(str(path))
    return not on_disk.isNull() and on_disk.convertToFormat(image.format()) == image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - QImage/QPainter need one
    stale: list[Path] = []
    for path, state, size in planned():
        if size is None:
            text = svg(state)
            if args.check:
                if not path.exists() or path.read_text("utf-8") != text:
                    stale.append(path)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
            continue
        image = render(state, size)
        if args.check:
            if not path.exists() or not same_png(path, image):
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(path), "PNG"):
            print(f"render-icons: cannot write {path}", file=sys.stderr)
            return 1
    if args.check:
        for path in stale:
            print(f"render-icons: out of date: {path.relative_to(ROOT)}", file=sys.stderr)
        if stale:
            print("render-icons: run `python scripts/render-icons.py`", file=sys.stderr)
        return 1 if stale else 0
    print(f"render-icons: wrote {len(planned())} files under {ICONS.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
