# SPDX-License-Identifier: Apache-2.0
"""A message strip across the top of a window: "no tray on this desktop", "vault unavailable".

A window may show banners its own way by having `show_banner(text, kind)` that returns the banner
(the settings window does); otherwise a strip is added on top: a QMainWindow gets it as a fixed top
toolbar, a widget with a box layout as its first row. `dismiss_banner` takes one away again.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QBoxLayout, QLabel, QMainWindow, QToolBar, QWidget

_STYLES = {
    "warning": "background:#fff4e6; color:#8a4100; border-bottom:1px solid #ffc078;",
    "error": "background:#fff0f0; color:#a51d1d; border-bottom:1px solid #ffa8a8;",
    "info": "background:#e7f5ff; color:#1c4f80; border-bottom:1px solid #a5d8ff;",
}


def _strip(text: str, kind: str) -> QLabel:
    label = QLabel()
    label.setObjectName("appBanner")
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    label.setWordWrap(True)
    label.setStyleSheet(f"QLabel {{ {_STYLES.get(kind, _STYLES['info'])} padding: 8px 12px; }}")
    return label


def show_banner(window: QWidget, text: str, *, kind: str = "warning") -> QObject | None:
    """Show `text` across the top of `window`; the banner, or None when the window has no place for it."""
    custom = getattr(window, "show_banner", None)
    if callable(custom):
        shown = custom(text, kind)
        return shown if isinstance(shown, QObject) else None
    label = _strip(text, kind)
    if isinstance(window, QMainWindow):
        bar = QToolBar(window)
        bar.setObjectName("appBannerBar")
        bar.setMovable(False)
        bar.setFloatable(False)
        bar.setContextMenuPolicy(Qt.ContextMenuPolicy.PreventContextMenu)
        bar.addWidget(label)
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        return bar
    layout = window.layout()
    if isinstance(layout, QBoxLayout):
        layout.insertWidget(0, label)
        return label
    return None


def dismiss_banner(banner: QObject) -> None:
    """Take a banner `show_banner` returned away (its own `dismiss()` when it has one)."""
    dismiss = getattr(banner, "dismiss", None)
    if callable(dismiss):
        dismiss()
        return
    if isinstance(banner, QWidget):
        banner.hide()
    banner.deleteLater()
