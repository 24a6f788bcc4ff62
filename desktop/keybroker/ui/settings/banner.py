# SPDX-License-Identifier: Apache-2.0
"""Dismissable bars at the top of the settings window (no tray on this desktop, vault unavailable, ...)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton, QVBoxLayout, QWidget

_LOOKS = {
    "info": ("#0d47a1", "#e3f2fd", QStyle.StandardPixmap.SP_MessageBoxInformation),
    "warning": ("#7a4a00", "#fff4e0", QStyle.StandardPixmap.SP_MessageBoxWarning),
    "error": ("#b71c1c", "#ffebee", QStyle.StandardPixmap.SP_MessageBoxCritical),
}


class Banner(QFrame):
    """One message with an icon and a close button."""

    dismissed = Signal()

    def __init__(
        self, text: str, kind: str = "info", parent: QWidget | None = None, *, key: str = ""
    ) -> None:
        super().__init__(parent)
        self.key = key or text
        color, background, icon = _LOOKS.get(kind, _LOOKS["info"])
        self.kind = kind
        self.setObjectName("banner")
        self.setStyleSheet(
            f"#banner {{ background: {background}; border: 1px solid {color}; border-radius: 4px; }}"
            f"#banner QLabel {{ color: {color}; background: transparent; }}"
        )
        icon_label = QLabel()
        icon_label.setPixmap(self.style().standardIcon(icon).pixmap(20, 20))
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setObjectName("dismissBanner")
        self.close_button.setAutoRaise(True)
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAccessibleName("Dismiss this message")
        self.close_button.clicked.connect(self.dismiss)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 4, 6)
        row.addWidget(icon_label, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.label, 1)
        row.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)

    @property
    def text(self) -> str:
        """The message."""
        return self.label.text()

    def dismiss(self) -> None:
        """Hide and forget this banner."""
        self.hide()
        self.dismissed.emit()
        self.deleteLater()


class BannerStack(QWidget):
    """Banners, newest last. One per key: showing a key again replaces its text (the key defaults to
    the text, so the same text is never shown twice)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._banners: list[Banner] = []
        self.setVisible(False)

    @property
    def texts(self) -> list[str]:
        """The messages shown now."""
        return [b.text for b in self._banners]

    def show_banner(self, text: str, kind: str = "info", key: str | None = None) -> Banner:
        """Add a banner, or replace the one with the same `key` (default: the text)."""
        key = key or text
        for banner in self._banners:
            if banner.key == key:
                if banner.text == text and banner.kind == kind:
                    return banner
                self._banners.remove(banner)
                banner.dismiss()
                break
        banner = Banner(text, kind, key=key)
        banner.dismissed.connect(lambda b=banner: self._forget(b))
        self._banners.append(banner)
        self._layout.addWidget(banner)
        self.setVisible(True)
        return banner

    def clear_banner(self, key: str) -> bool:
        """Dismiss the banner with `key`; False when there is none."""
        for banner in list(self._banners):
            if banner.key == key:
                banner.dismiss()
                return True
        return False

    def clear(self) -> None:
        """Dismiss every banner."""
        for banner in list(self._banners):
            banner.dismiss()

    def _forget(self, banner: Banner) -> None:
        if banner in self._banners:
            self._banners.remove(banner)
        self.setVisible(bool(self._banners))
