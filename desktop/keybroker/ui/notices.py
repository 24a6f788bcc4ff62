# SPDX-License-Identifier: Apache-2.0
"""Small message boxes of the tray: why the vault or bridge is down (with the way out), and the
explicit choice of a session-only vault. All shown with `open()`, never `exec()`."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMessageBox, QWidget

from keybroker.ui.accessible import name_controls
from keybroker.ui.icons import app_icon

MEMORY_VAULT_TEXT = (
    "A session-only vault keeps values in memory while Keybroker runs. Nothing is written to disk, "
    "and every value you type is lost when Keybroker quits; agents will ask again next time."
)


def _box(title: str, text: str, parent: QWidget | None) -> QMessageBox:
    box = QMessageBox(parent)
    box.setWindowTitle(title)
    box.setWindowIcon(app_icon())
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(text)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    return box


def problem_box(
    title: str,
    problem: str,
    *,
    retry: Callable[[], None] | None = None,
    memory_vault: Callable[[], None] | None = None,
    parent: QWidget | None = None,
) -> QMessageBox:
    """Say what is wrong and how to fix it; offer to retry and (vault only) a session-only vault."""
    box = _box(f"{title[:1].upper()}{title[1:]} — Keybroker", problem, parent)
    box.setIcon(QMessageBox.Icon.Warning)
    actions: dict[object, Callable[[], None]] = {}
    if retry is not None:
        actions[box.addButton("Try again", QMessageBox.ButtonRole.AcceptRole)] = retry
    if memory_vault is not None:
        button = box.addButton("Use a session-only vault…", QMessageBox.ButtonRole.ActionRole)
        actions[button] = memory_vault
    box.addButton(QMessageBox.StandardButton.Close).setIcon(QIcon())
    box.buttonClicked.connect(lambda button: actions.get(button, lambda: None)())
    name_controls(box)
    box.open()
    return box


def confirm_memory_vault(accepted: Callable[[], None], parent: QWidget | None = None) -> QMessageBox:
    """Ask once before switching to the session-only vault; `accepted` runs on "Use it"."""
    box = _box("Use a session-only vault? — Keybroker", MEMORY_VAULT_TEXT, parent)
    box.setIcon(QMessageBox.Icon.Question)
    use = box.addButton("Use a session-only vault", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel).setIcon(QIcon())  # no red ✗ on the safe way out
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.buttonClicked.connect(lambda button: accepted() if button is use else None)
    name_controls(box)
    box.open()
    return box
