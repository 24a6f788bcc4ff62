# SPDX-License-Identifier: Apache-2.0
"""One demanded model in the prompt dialog (issue 14): what the agent wants it for and which model.

A picker holds every configured model, pre-set to the best match for the agent's suggestions
(core/llm/matching.py), and a last entry that gives none. The agent gets the model through the local
gateway (a token, never the provider's key); handing the real key over is a separate, unticked box,
offered only for a provider whose user allowed it, and said plainly. Agent-controlled text (the
demand's name, description and suggestions) is shown as plain text only, shortened.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFrame, QVBoxLayout, QWidget

from keybroker.core.broker.prompts import ModelChoice, ModelItem, ModelPick, SkipItem
from keybroker.ui.prompt_item import plain_label
from keybroker.ui.prompt_text import shown

NO_MODEL = "Give no model"
HANDOVER_TEXT = "Hand over the provider's real key instead of a gateway token"
HANDOVER_WARNING = "The agent gets the key itself: Keybroker can no longer count, cap or revoke its use."
_KINDS = {"llm": "A chat model", "embedding": "An embedding model"}


class ModelItemWidget(QFrame):
    """The card for one `ModelItem`; `choice()` says what the user picked."""

    changed = Signal()

    def __init__(self, item: ModelItem, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item = item
        self.setObjectName("item")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(6)
        kind = _KINDS.get(item.kind, "A model")
        layout.addWidget(plain_label(f"{kind} · {shown(item.name, 64)}", "itemTitle"))
        if item.description:
            layout.addWidget(plain_label(shown(item.description, 300), "itemDescription"))
        if item.suggested:
            suggested = ", ".join(shown(s, 60) for s in item.suggested[:5])
            more = f" and {len(item.suggested) - 5} more" if len(item.suggested) > 5 else ""
            layout.addWidget(plain_label(f"The agent suggests {suggested}{more}", "itemNote"))
        self.picker = QComboBox()
        self.picker.setObjectName("modelPicker")
        for option in item.options:
            self.picker.addItem(shown(option.label, 120))
        self.picker.addItem(NO_MODEL)
        self.picker.setCurrentIndex(0)
        self.picker.setAccessibleName(f"Model for {shown(item.name, 64)}")
        layout.addWidget(self.picker)
        layout.addWidget(plain_label(shown(item.reason, 200), "itemNote"))
        self.handover = QCheckBox(HANDOVER_TEXT)
        self.handover.setObjectName("handover")
        layout.addWidget(self.handover)
        self.warning = plain_label(HANDOVER_WARNING, "warning")
        layout.addWidget(self.warning)
        self.picker.currentIndexChanged.connect(self._sync)
        self.handover.toggled.connect(self._sync)
        self._sync()

    def choice(self) -> ModelChoice:
        """The model picked (through the gateway unless the handover box is ticked), or none."""
        index = self.picker.currentIndex()
        if not 0 <= index < len(self.item.options):
            return SkipItem()
        option = self.item.options[index]
        return ModelPick(option.provider, option.model, handover=self.handover.isChecked())

    def _sync(self) -> None:
        index = self.picker.currentIndex()
        allowed = 0 <= index < len(self.item.options) and self.item.options[index].handover_allowed
        if not allowed and self.handover.isChecked():
            self.handover.setChecked(False)  # toggled again: _sync runs once more
            return
        self.handover.setVisible(allowed)
        self.warning.setVisible(allowed and self.handover.isChecked())
        self.changed.emit()
