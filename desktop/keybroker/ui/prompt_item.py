# SPDX-License-Identifier: Apache-2.0
"""One demanded secret in the prompt dialog: what it is, why it is asked, and which value to give.

Choices, as radio buttons when there is more than one: the stored value (no typing needed), a value
stored for another agent (naming both agents), or a new value typed or pasted into a password field.
With nothing stored, the field alone shows; left empty, the item is skipped. A typed value goes
straight into a `SecretValue`; `clear()` empties the field once the dialog is answered.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from keybroker.core.broker.prompts import ItemChoice, NewValue, PromptItem, SkipItem, UseOffered, UseStored
from keybroker.core.models import SecretValue
from keybroker.ui.prompt_text import offer_label, shown, stored_label

_NEW = "new"
_STORED = "stored"


def plain_label(text: str, name: str = "", *, wrap: bool = True) -> QLabel:
    """A QLabel that never interprets rich text (agent-controlled strings go through here)."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    label.setWordWrap(wrap)
    if name:
        label.setObjectName(name)
    return label


class PromptItemWidget(QFrame):
    """The card for one `PromptItem`; `choice()` says what the user picked."""

    changed = Signal()

    def __init__(self, item: PromptItem, agent_slug: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item = item
        self.setObjectName("item")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(6)

        title = QHBoxLayout()
        title.setSpacing(8)
        self.key_label = plain_label(shown(item.key, 128), "keyChip", wrap=False)
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.key_label.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        title.addWidget(self.key_label)
        if item.name and item.name != item.key:
            title.addWidget(plain_label(shown(item.name, 120), "itemName"), 1)
        else:
            title.addStretch(1)
        layout.addLayout(title)
        if item.description:
            layout.addWidget(plain_label(shown(item.description), "muted"))
        layout.addWidget(plain_label(f"Why you are asked: {shown(item.reason)}", "reason"))

        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self._radios: dict[str, QRadioButton] = {}
        alternatives = item.stored is not None or bool(item.offers)
        if item.stored is not None:
            self._add_radio(layout, _STORED, stored_label(item.stored, agent_slug))
        for offer in item.offers:
            self._add_radio(layout, offer.secret_id, offer_label(offer, agent_slug))
        if alternatives:
            self._add_radio(layout, _NEW, "Enter a new value")

        row = QHBoxLayout()
        row.setSpacing(6)
        if alternatives:
            row.addSpacing(24)  # under the radio text
        self.input = QLineEdit()
        self.input.setObjectName("secretInput")
        self.input.setEchoMode(QLineEdit.EchoMode.Password)
        self.input.setInputMethodHints(
            Qt.InputMethodHint.ImhSensitiveData
            | Qt.InputMethodHint.ImhNoPredictiveText
            | Qt.InputMethodHint.ImhNoAutoUppercase
        )
        self.input.setPlaceholderText("Type or paste the value")
        self.input.setAccessibleName(f"Value for {shown(item.key, 128)}")
        self.input.setMinimumWidth(260)
        self.input.textChanged.connect(self._on_text_changed)
        row.addWidget(self.input, 1)
        self.show_button = QToolButton()
        self.show_button.setObjectName("inputButton")
        self.show_button.setText("Show")
        self.show_button.setCheckable(True)
        self.show_button.setToolTip("Show or hide the value")
        self.show_button.setAccessibleName(f"Show the value for {shown(item.key, 128)}")
        self.show_button.toggled.connect(self._on_show_toggled)
        row.addWidget(self.show_button)
        self.paste_button = QToolButton()
        self.paste_button.setObjectName("inputButton")
        self.paste_button.setText("Paste")
        self.paste_button.setToolTip("Paste the value from the clipboard")
        self.paste_button.setAccessibleName(f"Paste the value for {shown(item.key, 128)}")
        self.paste_button.clicked.connect(self.paste)
        row.addWidget(self.paste_button)
        layout.addLayout(row)

        # Another agent's value is never the default: giving it away takes a deliberate choice.
        first = _STORED if item.stored is not None else _NEW
        if alternatives:
            self._radios[first].setChecked(True)
            self._group.buttonToggled.connect(self._on_choice_toggled)
        self._sync_enabled()

    # What the user chose ---------------------------------------------------------------------------

    def choice(self) -> ItemChoice:
        """The item's answer: stored, another agent's, a new value, or skip (an empty field)."""
        selected = self._selected()
        if selected == _STORED:
            return UseStored()
        if selected != _NEW:
            return UseOffered(selected)
        text = self.input.text()
        return NewValue(SecretValue(text)) if text else SkipItem()

    def gives_value(self) -> bool:
        """Whether this item releases something."""
        return not isinstance(self.choice(), SkipItem)

    def needs_typing(self) -> bool:
        """Whether the field is where the user starts (nothing stored to pick)."""
        return self._selected() == _NEW

    def select(self, choice: str) -> None:
        """Pick `stored`, `new` or an offer's secret_id (for keyboard users and tests)."""
        self._radios[choice].setChecked(True)

    def paste(self) -> None:
        """Paste the clipboard into the field (and choose "new value")."""
        text = QGuiApplication.clipboard().text()
        if not text:
            return
        self.input.setText(text.rstrip("\r\n"))
        if _NEW in self._radios:
            self._radios[_NEW].setChecked(True)
        self.input.setFocus()

    def clear(self) -> None:
        """Forget the typed value (after answering)."""
        self.input.clear()
        self.show_button.setChecked(False)

    # Internals ------------------------------------------------------------------------------------

    def _add_radio(self, layout: QVBoxLayout, choice: str, text: str) -> None:
        radio = QRadioButton(text)
        radio.setProperty("choice", choice)
        self._group.addButton(radio)
        self._radios[choice] = radio
        layout.addWidget(radio)

    def _selected(self) -> str:
        if not self._radios:
            return _NEW
        button = self._group.checkedButton()
        return str(button.property("choice")) if button is not None else _NEW

    def _sync_enabled(self) -> None:
        typing = self._selected() == _NEW
        self.input.setEnabled(typing)
        self.show_button.setEnabled(typing)

    def _on_choice_toggled(self, button: QAbstractButton, checked: bool) -> None:
        if not checked:
            return
        self._sync_enabled()
        if self._selected() == _NEW:
            self.input.setFocus()
        self.changed.emit()

    def _on_text_changed(self, _text: str) -> None:
        self.changed.emit()

    def _on_show_toggled(self, on: bool) -> None:
        self.input.setEchoMode(QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password)
        self.show_button.setText("Hide" if on else "Show")
