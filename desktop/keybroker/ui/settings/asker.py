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
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QFileDialog,
    QMessageBox,
    QPushButton,
    QStyle,
    QWidget,
)

from keybroker.ui.accessible import name_controls


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
    #: The go-ahead button's mark when destructive (default: the ✗ of the toolbars' Revoke).
    icon: QStyle.StandardPixmap | None = None


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


def plain(button: QAbstractButton | None) -> None:
    """Take the style's icon off a Cancel or Close button (some styles draw a red ✗ on it: the mark
    that belongs on the button that destroys)."""
    if button is not None:
        button.setIcon(QIcon())


class QtAsker:
    """The real thing: a window-modal `QMessageBox` and `QFileDialog`, opened with `open()`."""

    def confirm(self, parent: QWidget, question: Confirmation, on_answer: Callable[[Answer], None]) -> None:
        """A message box whose go-ahead button says what it does (and, destructive, carries the mark);
        Cancel is plain, and the default when destructive."""
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
        plain(cancel)
        if question.destructive:  # the mark goes on what destroys, never on Cancel
            go.setIcon(box.style().standardIcon(question.icon or QStyle.StandardPixmap.SP_DialogCancelButton))
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
        name_controls(box)
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
