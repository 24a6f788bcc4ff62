#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Drive the real app through a new user's first run and save PNGs (run by scripts/screenshots.sh).

    DISPLAY=:N KEYBROKER_HOME=<empty dir> python scripts/screenshots.py OUT_DIR

The app is composed as `keybroker` composes it (tray, prompter, settings window, bridge), over an
empty Keybroker home. scripts/demo_agent.py runs as a real local A2A agent on a free port. Pictures
01-10 are the first run (screenshot_flow.py), 11-15 the other states worth a look
(screenshot_extras.py). Windows are grabbed with `QWidget.grab()`, the tray and its menus from the
screen. PNGs in OUT_DIR this run did not make are deleted.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "desktop"))

# ruff: noqa: E402, TID251 - a Qt script that sets its path first
import qasync
from PySide6.QtWidgets import QApplication
from screenshot_extras import extras
from screenshot_flow import new_user_flow
from screenshot_kit import Shots, backdrop, demo_agent

from keybroker import APP_ID
from keybroker.app import compose
from keybroker.system.paths import Paths


async def shoot(shots: Shots) -> int:
    paths = Paths.from_env(os.environ)
    if paths.data_dir.exists() and any(paths.data_dir.iterdir()):
        print(f"screenshots: {paths.data_dir} is not empty: a first run needs an empty home", file=sys.stderr)
        return 1
    parts = compose(os.environ, paths)
    if parts.tray is None:
        print("screenshots: no system tray on this display (is trayer running?)", file=sys.stderr)
        return 1
    desk = backdrop()
    parts.show_tray()
    parts.notifier.tray = None  # no balloons over the pictures
    parts.notifier.desktop_fallback = False
    controller = parts.controller
    try:
        state = await controller.start()
        if parts.runtime.broker is None:
            why = f"{state.value}: {controller.problem}"
            print(f"screenshots: the app did not start ({why})", file=sys.stderr)
            return 1
        print(f"screenshots: {controller.status().vault}")
        async with demo_agent() as agent_url:
            await new_user_flow(parts, shots, agent_url)
        await extras(parts, shots)
    finally:
        await controller.shutdown()
        parts.dispose()
        desk.close()
    for name in shots.drop_stale():
        print(f"screenshots: removed the stale {name}")
    return 0


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    app = QApplication(["keybroker"])
    app.setApplicationName("keybroker")
    app.setApplicationDisplayName("Keybroker")
    app.setDesktopFileName(APP_ID)
    app.setQuitOnLastWindowClosed(False)
    return int(qasync.run(shoot(Shots(out))))


if __name__ == "__main__":
    sys.exit(main())
