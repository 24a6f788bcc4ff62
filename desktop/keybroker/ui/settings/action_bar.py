# SPDX-License-Identifier: Apache-2.0
"""A row of push buttons driven by `QAction`s, so a button, its context-menu entry and its shortcut
share one enabled state and one handler."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QMenu, QPushButton, QStyle, QWidget


class ActionBar(QWidget):
    """Buttons on the left, anything else (a filter box) on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(6)
        self.actions_: list[QAction] = []
        self.buttons: dict[str, QPushButton] = {}
        self._stretch_added = False

    def add(
        self,
        name: str,
        text: str,
        handler: Callable[[], object],
        *,
        tip: str = "",
        icon: QStyle.StandardPixmap | None = None,
        shortcut: QKeySequence | QKeySequence.StandardKey | None = None,
        owner: QWidget | None = None,
    ) -> QAction:
        """A button (named `name` for tests) and the action behind it."""
        action = QAction(text, owner or self)
        action.setObjectName(name)
        action.setToolTip(tip or text.replace("…", ""))
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        if shortcut is not None:
            action.setShortcut(shortcut)
            # Only while `owner` (a table) has focus: two tabs' Delete keys must not clash.
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            if owner is not None:
                owner.addAction(action)
        action.triggered.connect(lambda _checked=False: handler())
        button = QPushButton(action.icon(), text)
        button.setObjectName(name)
        button.setToolTip(action.toolTip())
        button.clicked.connect(action.trigger)
        action.changed.connect(lambda b=button, a=action: b.setEnabled(a.isEnabled()))
        self.row.addWidget(button)
        self.actions_.append(action)
        self.buttons[name] = button
        return action

    def add_right(self, widget: QWidget, stretch: int = 0) -> None:
        """Put `widget` after a stretch, on the right."""
        if not self._stretch_added:
            self.row.addStretch(1)
            self._stretch_added = True
        self.row.addWidget(widget, stretch)

    def context_menu(self, parent: QWidget) -> QMenu:
        """A menu with every action (for a table's right-click)."""
        menu = QMenu(parent)
        for action in self.actions_:
            menu.addAction(action)
        return menu
