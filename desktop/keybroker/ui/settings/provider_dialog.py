# SPDX-License-Identifier: Apache-2.0
"""Add a model provider (issue 14): a preset or any OpenAI-compatible base URL, its key or none.

Picking a preset fills the base URL and ticks "No key" for servers on this computer (Ollama, LM
Studio, vLLM). The key goes from a password field straight into a `SecretValue` and the field is
emptied when the dialog closes. "Allow handing the key over" is off by default: without it agents only
ever get the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from keybroker.core.llm.presets import PRESETS
from keybroker.core.models import SecretValue


@dataclass(frozen=True)
class NewProvider:
    """What the dialog was given."""

    name: str
    base_url: str
    preset: str
    key: SecretValue | None = field(repr=False)
    handover: bool


class ProviderDialog(QDialog):
    """The form; `entered` once it was accepted (Save)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entered: NewProvider | None = None
        self.setWindowTitle("Add a model provider — Keybroker")
        self.preset = QComboBox()
        self.preset.setObjectName("preset")
        for preset in PRESETS:
            self.preset.addItem(preset.label, preset.name)
        self.name = QLineEdit()
        self.name.setObjectName("providerName")
        self.name.setPlaceholderText("e.g. openai")
        self.base_url = QLineEdit()
        self.base_url.setObjectName("baseUrl")
        self.base_url.setPlaceholderText("https://api.example.com/v1")
        self.key = QLineEdit()
        self.key.setObjectName("providerKey")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.no_key = QCheckBox("No key (a server on this computer)")
        self.no_key.setObjectName("noKey")
        self.handover = QCheckBox("Allow handing the real key to an agent when I say so")
        self.handover.setObjectName("allowHandover")
        form = QFormLayout()
        form.addRow("Preset", self.preset)
        form.addRow("Name", self.name)
        form.addRow("Base URL", self.base_url)
        form.addRow("Key", self.key)
        form.addRow("", self.no_key)
        form.addRow("", self.handover)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.preset.currentIndexChanged.connect(self._on_preset)
        self.no_key.toggled.connect(self._sync)
        for edit in (self.name, self.base_url, self.key):
            edit.textChanged.connect(self._sync)
        self._on_preset()

    def _on_preset(self) -> None:
        chosen = PRESETS[self.preset.currentIndex()]
        self.base_url.setText(chosen.base_url)
        if not self.name.text() or self.name.text() in {p.name for p in PRESETS}:
            self.name.setText(chosen.name if chosen.name != "custom" else "")
        self.no_key.setChecked(not chosen.needs_key)
        self._sync()

    def _sync(self) -> None:
        self.key.setEnabled(not self.no_key.isChecked())
        complete = bool(self.name.text().strip() and self.base_url.text().strip())
        complete = complete and (self.no_key.isChecked() or bool(self.key.text()))
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(complete)

    def provider(self) -> NewProvider:
        """What was entered (the key as a `SecretValue`, or None)."""
        key = None if self.no_key.isChecked() else SecretValue(self.key.text())
        return NewProvider(
            self.name.text().strip(),
            self.base_url.text().strip(),
            str(self.preset.currentData()),
            key,
            self.handover.isChecked(),
        )

    def accept(self) -> None:
        """Save: keep what was entered (the key field is emptied as the dialog closes)."""
        self.entered = self.provider()
        super().accept()

    def done(self, result: int) -> None:
        """The typed key does not outlive the dialog."""
        self.key.clear()
        super().done(result)
