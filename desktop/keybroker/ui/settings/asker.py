# SPDX-License-Identifier: Apache-2.0
"""Questions the settings window asks the user: confirmations and where to save a file.

Both are asynchronous (`open()` and a callback, never `exec()`: a nested event loop breaks qasync,
DESIGN §2). Tests inject their own `Asker` that answers at once and records what was asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QFileDialog, QMessageBox, QPushButton, QWidget


@dataclass(frozen=True, slots=True)
class Confirmation:
    """One question before an action: `text` names exactly what goes."""

    title: str
    text: str
    detail: str = ""
    #: The label of the button that goes ahead ("Delete", "Revoke", ...).
    action: str = "Delete"
    destructive: bool = True
    #: An extra choice shown as a checkbox ("Also delete its 2 secrets"), or None.
    option: str | None = None
    option_default: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """What the user chose."""

    accepted: bool
    option: bool = False


class Asker(Protocol):
    """Asks the user, then calls back (on the UI thread)."""

    def confirm(self, parent: QWidget, question: Confirmation, on_answer: Callable[[Answer], None]) -> None:
        """Show `question`; `on_answer` gets the user's choice (cancel is `accepted=False`)."""
        ...

    def save_path(
        self,
        parent: QWidget,
        title: str,
        suggested: str,
        filters: Sequence[str],
        on_chosen: Callable[[Path, str], None],
    ) -> None:
        """Ask where to save; `on_chosen(path, chosen_filter)` only when the user picked a file."""
        ...


class QtAsker:
    """The real thing: a window-modal `QMessageBox` and `QFileDialog`, opened with `open()`."""

    def confirm(self, parent: QWidget, question: Confirmation, on_answer: Callable[[Answer], None]) -> None:
        """A message box whose go-ahead button says what it does; Cancel is the default when destructive."""
        box = QMessageBox(parent)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setIcon(QMessageBox.Icon.Warning if question.destructive else QMessageBox.Icon.Question)
        box.setWindowTitle(question.title)
        box.setText(question.text)
        box.setTextFormat(Qt.TextFormat.PlainText)
        if question.detail:
            box.setInformativeText(question.detail)
        go = box.addButton(
            question.action,
            QMessageBox.ButtonRole.DestructiveRole
            if question.destructive
            else QMessageBox.ButtonRole.AcceptRole,
        )
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel if question.destructive else go)
        box.setEscapeButton(cancel)
        checkbox: QCheckBox | None = None
        if question.option:
            checkbox = QCheckBox(question.option)
            checkbox.setChecked(question.option_default)
            box.setCheckBox(checkbox)

        def finished() -> None:
            clicked = box.clickedButton()
            accepted = isinstance(clicked, QPushButton) and clicked is go
            on_answer(Answer(accepted, bool(checkbox and checkbox.isChecked() and accepted)))

        box.finished.connect(finished)
        box.open()

    def save_path(
        self,
        parent: QWidget,
        title: str,
        suggested: str,
        filters: Sequence[str],
        on_chosen: Callable[[Path, str], None],
    ) -> None:
        """A save dialog; asks before replacing an existing file (Qt's own confirmation)."""
        dialog = QFileDialog(parent, title)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setNameFilters(list(filters))
        dialog.selectFile(suggested)

        def chosen(path: str) -> None:
            if path:
                on_chosen(Path(path), dialog.selectedNameFilter())

        dialog.fileSelected.connect(chosen)
        dialog.open()
