# SPDX-License-Identifier: Apache-2.0
"""The settings window from the keyboard: Ctrl+F filters, Ctrl+N adds, F2 edits, on every tab that has
them; and a name for assistive technology on every control."""

# The fixtures are imported from test_settings_support by name (pytest finds them here), and test
# parameters of the same names shadow them, as pytest intends.
# ruff: noqa: F811

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from keybroker.core.models import SecretValue
from keybroker.ui.prompt_dialog import PromptDialog
from keybroker.ui.settings.asker import Confirmation, QtAsker
from keybroker.ui.settings.secret_dialog import SecretDialog
from keybroker.ui.settings_window import SettingsWindow
from keybroker.wiring.services import Services
from tests.fakes import FakeClock
from tests.ui.support import item, record, request
from tests.ui.test_settings_support import (  # noqa: F401 - fixtures are used by name
    FakeCards,
    ScriptedAsker,
    StubRuntime,
    asker,
    autostart,
    cards,
    clock,
    demo_card,
    events,
    runtime,
    services,
    wait_jobs,
    window,
)

CTRL = Qt.KeyboardModifier.ControlModifier


def shown(qtbot: QtBot, window: SettingsWindow, tab: str) -> None:
    window.show_tab(tab)
    qtbot.waitExposed(window)
    qtbot.waitUntil(window.isActiveWindow)


def open_dialogs() -> list[SecretDialog]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, SecretDialog) and w.isVisible()]


def test_ctrl_f_goes_to_the_filter_of_the_tab_on_top(qtbot: QtBot, window: SettingsWindow) -> None:
    shown(qtbot, window, "secrets")
    window.secrets_tab.view.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_F, CTRL)
    assert QApplication.focusWidget() is window.secrets_tab.filter_edit
    shown(qtbot, window, "activity")
    qtbot.keyClick(window, Qt.Key.Key_F, CTRL)
    assert QApplication.focusWidget() is window.activity_tab.search_edit


def test_ctrl_n_adds_a_secret_or_an_agent(qtbot: QtBot, window: SettingsWindow) -> None:
    shown(qtbot, window, "secrets")
    qtbot.keyClick(window, Qt.Key.Key_N, CTRL)
    qtbot.waitUntil(lambda: len(open_dialogs()) == 1)
    dialog = open_dialogs()[0]
    assert dialog.record is None and dialog.windowTitle() == "Add a secret"
    dialog.reject()
    shown(qtbot, window, "agents")
    qtbot.keyClick(window, Qt.Key.Key_N, CTRL)
    assert QApplication.focusWidget() is window.agents_tab.url_edit


def test_f2_edits_the_selected_secret(qtbot: QtBot, window: SettingsWindow, services: Services) -> None:
    services.secrets.set("GITHUB_TOKEN", SecretValue("v"))
    shown(qtbot, window, "secrets")
    window.secrets_tab.view.selectRow(0)
    window.secrets_tab.view.setFocus()
    qtbot.keyClick(window.secrets_tab.view, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: len(open_dialogs()) == 1)
    dialog = open_dialogs()[0]
    assert dialog.record is not None and dialog.record.key == "GITHUB_TOKEN"
    dialog.reject()


def test_the_shortcuts_are_told_in_the_tooltips(window: SettingsWindow) -> None:
    tab = window.secrets_tab
    assert "Ctrl+N" in tab.bar.buttons["addSecret"].toolTip()
    assert "F2" in tab.bar.buttons["editSecret"].toolTip()
    assert "Ctrl+F" in tab.filter_edit.toolTip() and "Ctrl+F" in window.activity_tab.search_edit.toolTip()
    assert "Ctrl+N" in window.agents_tab.url_edit.toolTip()


# A name on every control ---------------------------------------------------------------------------

CONTROLS = (
    QAbstractButton,
    QLineEdit,
    QComboBox,
    QAbstractSpinBox,
    QAbstractItemView,
    QPlainTextEdit,
    QTextEdit,
)
#: Their insides (a combo box's list, a spin box's field, a table's header) are Qt's to name.
COMPOSITES = (QComboBox, QAbstractSpinBox, QAbstractItemView, QLineEdit, QPlainTextEdit, QTextEdit)


def unnamed(root: QWidget) -> list[str]:
    """Every control under `root` (its own, not a composite's insides) without an accessible name."""
    missing = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not isinstance(widget, CONTROLS):
            continue
        parent, inside = widget.parentWidget(), False
        while parent is not None and parent is not root.parentWidget():
            inside = inside or isinstance(parent, COMPOSITES)
            parent = parent.parentWidget()
        if inside:
            continue
        if not widget.accessibleName().strip():
            missing.append(
                f"{type(widget).__name__} {widget.objectName()!r} {getattr(widget, 'text', str)()!r}"
            )
    return missing


def test_every_control_of_the_settings_window_has_a_name(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards
) -> None:
    cards.cards["http://127.0.0.1:9001"] = demo_card(
        schemes={"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    )
    agent = services.agents.add("http://127.0.0.1:9001")
    services.secrets.set("GITHUB_TOKEN", SecretValue("v"), owner=agent.slug)
    window.show_banner("This desktop has no system tray.")
    for name in ("secrets", "agents", "grants", "activity", "general"):
        shown(qtbot, window, name)
    assert unnamed(window) == [], "\n".join(unnamed(window))
    names = {w.accessibleName() for w in window.findChildren(QAbstractItemView)}
    assert {"Secrets", "Agents", "Live grants", "Activity log", "Secret demands"} <= names


def test_every_control_of_the_secret_dialogs_has_a_name(qtbot: QtBot, services: Services) -> None:
    record = services.secrets.set("GITHUB_TOKEN", SecretValue("v")).record
    for dialog in (SecretDialog(None), SecretDialog(None, record=record)):
        qtbot.addWidget(dialog)
        assert unnamed(dialog) == []
    assert SecretDialog(None).value_edit.accessibleName() == "Value"


def test_every_control_of_the_prompt_and_the_confirmation_has_a_name(qtbot: QtBot) -> None:
    req = request(
        item("GITHUB_TOKEN", stored=record("GITHUB_TOKEN", None)),
        item("SLACK", offers=(record("SLACK", "other"),)),
        item("OPENAI_API_KEY"),
    )
    prompt = PromptDialog(req, clock=FakeClock())
    qtbot.addWidget(prompt)
    assert unnamed(prompt) == []
    assert prompt.items[0].show_button.accessibleName() == "Show the value for GITHUB_TOKEN"
    parent = QWidget()
    qtbot.addWidget(parent)
    QtAsker().confirm(parent, Confirmation(title="t", text="Delete X?", option="also Y"), lambda _a: None)
    box = parent.findChild(QMessageBox)
    assert box is not None and unnamed(box) == []
    box.reject()
