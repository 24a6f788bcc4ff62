# SPDX-License-Identifier: Apache-2.0
"""The dialog that adds a secret or edits one: key, owner, name, description, and the value in a
password field. It only collects; the Secrets tab stores (off the UI thread)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from keybroker.core.errors import InvalidInputError
from keybroker.core.models import MAX_VALUE_BYTES, SecretRecord, SecretValue, validate_key
from keybroker.ui.accessible import name_controls
from keybroker.ui.settings.asker import plain
from keybroker.ui.settings.formatting import owner_label, secret_label
from keybroker.ui.settings.status_line import ERROR_COLOR, WARN_COLOR

#: (owner slug or None for shared, label) for the owner chooser.
OwnerChoice = tuple[str | None, str]


@dataclass(frozen=True)
class SecretEdit:
    """What the user entered. `value` is None when the value stays as it is (edit only)."""

    key: str
    owner: str | None
    name: str
    description: str
    value: SecretValue | None


class SecretDialog(QDialog):
    """Add (`record=None`) or edit `record`."""

    def __init__(
        self,
        parent: QWidget | None,
        *,
        record: SecretRecord | None = None,
        owners: Sequence[OwnerChoice] = ((None, "Shared (any agent, after you allow it)"),),
        existing: Callable[[str, str | None], SecretRecord | None] | None = None,
        initial_owner: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.record = record
        self._existing = existing or (lambda _key, _owner: None)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setWindowTitle("Edit secret" if record else "Add a secret")
        self.setMinimumWidth(480)

        intro = QLabel(
            f"Change the name, the description or the value of {secret_label(record)}."
            if record
            else "The value goes to the OS vault; Keybroker's catalog only keeps its name."
        )
        intro.setWordWrap(True)

        self.key_edit = QLineEdit()
        self.key_edit.setPlaceholderText("e.g. GITHUB_TOKEN: the key an agent demands")
        self.owner_combo = QComboBox()
        for slug, label in owners:
            self.owner_combo.addItem(label, slug)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("A name you recognise (defaults to the key)")
        self.description_edit = QPlainTextEdit()
        self.description_edit.setPlaceholderText("What it is for, where it came from (optional)")
        self.description_edit.setTabChangesFocus(True)
        self.description_edit.setFixedHeight(self.fontMetrics().lineSpacing() * 3 + 14)
        self.value_edit = QLineEdit()
        self.value_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.value_edit.setPlaceholderText(
            "Leave empty to keep the current value" if record else "Paste or type the value"
        )
        self.value_edit.setObjectName("secretValue")
        self.show_button = QToolButton()
        self.show_button.setText("Show")
        self.show_button.setCheckable(True)
        self.show_button.setToolTip("Show the value while you type it")
        self.show_button.setAccessibleName("Show the value")
        self.show_button.toggled.connect(self._on_show_toggled)
        value_row = QHBoxLayout()
        value_row.setContentsMargins(0, 0, 0, 0)
        value_row.addWidget(self.value_edit, 1)
        value_row.addWidget(self.show_button)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        if record is None:
            form.addRow("&Key:", self.key_edit)
            form.addRow("&Owner:", self.owner_combo)
            if initial_owner is not None:
                found = self.owner_combo.findData(initial_owner)
                self.owner_combo.setCurrentIndex(max(found, 0))
        else:
            key_label = QLabel(record.key)
            key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow("Key:", key_label)
            form.addRow("Owner:", QLabel(owner_label(record.owner)))
            self.key_edit.setText(record.key)
            self.name_edit.setText(record.name)
            self.description_edit.setPlainText(record.description)
        form.addRow("&Name:", self.name_edit)
        form.addRow("&Description:", self.description_edit)
        value_label = QLabel("&Value:")
        value_label.setBuddy(self.value_edit)  # a layout cannot be a buddy: the label needs its field
        form.addRow(value_label, value_row)

        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setVisible(False)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        plain(self.buttons.button(QDialogButtonBox.StandardButton.Cancel))
        self.save_button = self.buttons.addButton(
            "Save" if record else "Add", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.save_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addSpacing(4)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)

        for edit in (self.key_edit, self.name_edit, self.value_edit):
            edit.textChanged.connect(self._validate)
        self.description_edit.textChanged.connect(self._validate)
        self.owner_combo.currentIndexChanged.connect(self._validate)
        self._validate()
        name_controls(self)
        (self.name_edit if record else self.key_edit).setFocus()

    # state --------------------------------------------------------------------------------------

    @property
    def owner(self) -> str | None:
        """The chosen owner slug, None for shared."""
        if self.record is not None:
            return self.record.owner
        data = self.owner_combo.currentData()
        return data if isinstance(data, str) else None

    def problem(self) -> str | None:
        """Why Save is disabled, or None."""
        if self.record is None:
            try:
                validate_key(self.key_edit.text())
            except InvalidInputError as exc:
                return "Enter a key." if not self.key_edit.text() else str(exc).capitalize() + "."
            if not self.value_edit.text():
                return "Enter the value."
        size = len(self.value_edit.text().encode("utf-8", "surrogatepass"))
        if size > MAX_VALUE_BYTES:
            return f"The value is {size} bytes; the limit is 64 KiB."
        if self.record is not None and not self._changed():
            return "Nothing changed yet."
        return None

    def _changed(self) -> bool:
        assert self.record is not None
        return (
            bool(self.value_edit.text())
            or self.name_edit.text().strip() != self.record.name
            or self.description_edit.toPlainText().strip() != self.record.description
        )

    def _validate(self) -> None:
        problem = self.problem()
        self.save_button.setEnabled(problem is None)
        replaced = None
        if self.record is None and problem is None:
            replaced = self._existing(self.key_edit.text(), self.owner)
        if replaced is not None:
            self._note(
                f"{secret_label(replaced)} exists already: saving replaces its value "
                "(its id, name and grants stay).",
                WARN_COLOR,
            )
            self.save_button.setText("Replace")
        else:
            self.save_button.setText("Save" if self.record else "Add")
            show_problem = problem is not None and bool(self.key_edit.text() or self.value_edit.text())
            if show_problem and self.record is None and problem not in ("Enter the value.", "Enter a key."):
                self._note(problem or "", ERROR_COLOR)
            else:
                self.note.setVisible(False)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter saves once Save is enabled, else says what is missing; it never cancels.

        Left to QDialog, Enter clicks the default button, and while Save is disabled Qt makes Cancel
        the default: a user who typed a value and pressed Enter lost it without a word. A focused
        button still gets its own Enter (the user chose it).
        """
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        plain = not (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier)
        if enter and plain and not isinstance(self.focusWidget(), QAbstractButton):
            event.accept()
            if self.save_button.isEnabled():
                self.save_button.click()
            else:
                self._note(self.problem() or "", WARN_COLOR)
            return
        super().keyPressEvent(event)

    def _note(self, text: str, color: object) -> None:
        palette = self.note.palette()
        palette.setColor(self.note.foregroundRole(), color)
        self.note.setPalette(palette)
        self.note.setText(text)
        self.note.setVisible(True)

    def _on_show_toggled(self, shown: bool) -> None:
        self.value_edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.show_button.setText("Hide" if shown else "Show")

    # result -------------------------------------------------------------------------------------

    def take(self) -> SecretEdit:
        """What was entered; the value field is emptied so the dialog keeps no copy."""
        text = self.value_edit.text()
        self.value_edit.clear()
        return SecretEdit(
            key=self.record.key if self.record else self.key_edit.text(),
            owner=self.owner,
            name=self.name_edit.text().strip(),
            description=self.description_edit.toPlainText().strip(),
            value=SecretValue(text) if text else None,
        )

    def done(self, result: int) -> None:
        if result != QDialog.DialogCode.Accepted:
            self.value_edit.clear()
        super().done(result)
