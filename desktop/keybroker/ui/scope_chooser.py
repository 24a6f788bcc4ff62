# SPDX-License-Identifier: Apache-2.0
"""The scope chooser ("Allow for: This task"): the offered scopes, the default selected, minutes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from keybroker.core.broker.prompts import DEFAULT_MINUTES, SCOPE_ORDER
from keybroker.core.models import GrantScope
from keybroker.ui.prompt_text import SCOPE_LABELS

MAX_MINUTES = 24 * 60


class ScopeChooser(QWidget):
    """A combo box of the offered scopes and a minutes spin box shown for "For some minutes"."""

    def __init__(
        self, scopes: tuple[GrantScope, ...], default: GrantScope, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        offered = [s for s in SCOPE_ORDER if s in scopes] or [GrantScope.ONCE]
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        label = QLabel("Allow for")
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setObjectName("fieldLabel")
        layout.addWidget(label)
        self.box = QComboBox()
        self.box.setObjectName("scopeBox")
        self.box.setAccessibleName("How long the answer lasts")
        for scope in offered:
            self.box.addItem(SCOPE_LABELS[scope], scope.value)
        label.setBuddy(self.box)
        layout.addWidget(self.box)
        self.minutes_box = QSpinBox()
        self.minutes_box.setObjectName("minutesBox")
        self.minutes_box.setRange(1, MAX_MINUTES)
        self.minutes_box.setValue(int(DEFAULT_MINUTES))
        self.minutes_box.setSuffix(" min")
        self.minutes_box.setAccessibleName("Minutes")
        layout.addWidget(self.minutes_box)
        layout.addStretch(1)
        self.box.currentIndexChanged.connect(self._sync)
        chosen = default if default in offered else offered[0]
        self.box.setCurrentIndex(offered.index(chosen))
        self._sync()

    def scope(self) -> GrantScope:
        """The chosen scope."""
        return GrantScope(self.box.currentData())

    def minutes(self) -> float | None:
        """Minutes for a MINUTES answer, else None."""
        return float(self.minutes_box.value()) if self.scope() is GrantScope.MINUTES else None

    def choose(self, scope: GrantScope, minutes: int | None = None) -> None:
        """Select `scope` (and minutes); ValueError when the request does not offer it."""
        index = self.box.findData(scope.value)
        if index < 0:
            raise ValueError(f"scope {scope.value} is not offered")
        self.box.setCurrentIndex(index)
        if minutes is not None:
            self.minutes_box.setValue(minutes)

    def offered(self) -> list[GrantScope]:
        """The scopes in the box, in order."""
        return [GrantScope(self.box.itemData(i)) for i in range(self.box.count())]

    def _sync(self) -> None:
        self.minutes_box.setVisible(self.scope() is GrantScope.MINUTES)
