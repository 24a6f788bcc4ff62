# SPDX-License-Identifier: Apache-2.0
"""A message strip across the top of a window: "no tray on this desktop", "vault unavailable".

A window may show banners its own way by having `show_banner(text, kind, key)` that returns the
banner and `clear_banner(key)` (the settings window does: one banner per key); otherwise a strip is
added on top: a QMainWindow gets it as a fixed top toolbar, a widget with a box layout as its first
row. `dismiss_banner` takes one away again; `clear_banner` takes away the one shown with a key.
"""

from __future__ import annotations

import shiboken6
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


def show_banner(
    window: QWidget, text: str, *, kind: str = "warning", key: str | None = None
) -> QObject | None:
    """Show `text` across the top of `window`; the banner, or None when the window has no place for it.

    `key` names the banner ("vault", "no-tray") so `clear_banner(window, key)` finds it again and a
    new text for the same key replaces the old one on windows that keep banners by key.
    """
    custom = getattr(window, "show_banner", None)
    if callable(custom):
        shown = custom(text, kind, key) if key is not None else custom(text, kind)
        return shown if isinstance(shown, QObject) else None
    label = _strip(text, kind)
    if isinstance(window, QMainWindow):
        bar = QToolBar(window)
        bar.setObjectName("appBannerBar")
        bar.setMovable(False)
        bar.setFloatable(False)
        bar.setContextMenuPolicy(Qt.ContextMenuPolicy.PreventContextMenu)
        bar.setProperty("bannerKey", key)
        bar.addWidget(label)
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        return bar
    layout = window.layout()
    if isinstance(layout, QBoxLayout):
        label.setProperty("bannerKey", key)
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


def clear_banner(window: QWidget, key: str, banner: QObject | None = None) -> None:
    """Take away the banner shown on `window` with `key` (and `banner`, when one is given)."""
    custom = getattr(window, "clear_banner", None)
    if callable(custom):
        custom(key)
        return
    for found in window.findChildren(QWidget):
        if found.property("bannerKey") == key and found is not banner:
            dismiss_banner(found)
    if banner is not None and shiboken6.isValid(banner):
        dismiss_banner(banner)
