# SPDX-License-Identifier: Apache-2.0
"""QIcons of the key art (icon_art.py), rendered once per state at the sizes trays and windows ask for."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from keybroker.ui.icon_art import IconState, svg

#: Sizes put into each QIcon; Qt picks the nearest and scales down from the next larger one.
ICON_SIZES: tuple[int, ...] = (16, 22, 24, 32, 48, 64, 128, 256)


def render(state: IconState, size: int) -> QImage:
    """The icon for `state` as a `size` x `size` ARGB image (hinted art at small sizes)."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    renderer = QSvgRenderer(QByteArray(svg(state, size).encode("utf-8")))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
    finally:
        painter.end()
    return image


@cache
def state_icon(state: IconState) -> QIcon:
    """The tray icon for `state` (cached: states switch often, art never changes)."""
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addPixmap(QPixmap.fromImage(render(state, size)))
    return icon


def app_icon() -> QIcon:
    """The application and window icon."""
    return state_icon(IconState.READY)
