# SPDX-License-Identifier: Apache-2.0
"""What Qt reports once it runs here, for `keybroker --self-test` (cli/self_test.py): the platform plugin
it opened, its versions, whether a system tray exists, and whether the SVG icon art renders (QtSvg)."""

from __future__ import annotations

from dataclasses import dataclass

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from keybroker.ui.icon_art import IconState
from keybroker.ui.icons import render


@dataclass(frozen=True)
class QtProbe:
    """What Qt reported once its application object existed."""

    platform: str
    qt_version: str
    pyside_version: str
    tray_available: bool
    icon_drawn: bool


def probe() -> QtProbe:
    """Create (or reuse) the QApplication, with QT_QPA_PLATFORM as the caller set it, and look around."""
    app = QApplication.instance() or QApplication(["keybroker", "--self-test"])
    assert isinstance(app, QApplication)
    image = render(IconState.READY, 32)
    return QtProbe(
        platform=app.platformName(),
        qt_version=qVersion(),
        pyside_version=PySide6.__version__,
        tray_available=QSystemTrayIcon.isSystemTrayAvailable(),
        icon_drawn=not image.isNull() and image.pixelColor(16, 16).alpha() > 0,
    )
