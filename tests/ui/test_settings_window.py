# SPDX-License-Identifier: Apache-2.0
"""The window as the tray uses it: tabs by name, banners, hiding, refreshing only what is visible."""

# The fixtures are imported from test_settings_support by name (pytest finds them here), and test
# parameters of the same names shadow them, as pytest intends.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QProxyStyle,
    QStyle,
    QStyleFactory,
    QVBoxLayout,
    QWidget,
)
from pytestqt.qtbot import QtBot

from keybroker.core.models import AuditDecision, AuditEvent, SecretValue
from keybroker.ui.app_state import vault_text
from keybroker.ui.banner import clear_banner, show_banner
from keybroker.ui.events import AppEvents
from keybroker.ui.notices import confirm_memory_vault
from keybroker.ui.settings.asker import Answer, Confirmation, QtAsker
from keybroker.ui.settings.secret_dialog import SecretDialog
from keybroker.ui.settings.topics import topics_for_event
from keybroker.ui.settings_host import NO_TRAY_TEXT, SettingsHost
from keybroker.ui.settings_window import TAB_NAMES, SettingsWindow
from keybroker.wiring.services import Services
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


def test_show_tab_opens_each_tab_by_name(qtbot: QtBot, window: SettingsWindow) -> None:
    for name in TAB_NAMES:
        window.show_tab(name)
        assert window.isVisible()
        assert window.current_tab_name() == name
        assert window.tabs.currentWidget() is window.tab(name)
    with pytest.raises(ValueError, match="no settings tab 'nope'"):
        window.show_tab("nope")


def test_banners_show_dedupe_replace_by_key_and_dismiss(window: SettingsWindow) -> None:
    window.show_tab("secrets")
    assert not window.banners.isVisibleTo(window)
    window.show_banner("This desktop has no system tray.")
    window.show_banner("This desktop has no system tray.")
    assert window.banners.texts == ["This desktop has no system tray."]
    window.show_banner("Vault unavailable: locked", "error", key="vault")
    window.show_banner("Vault unavailable: no D-Bus", "error", key="vault")
    assert window.banners.texts == ["This desktop has no system tray.", "Vault unavailable: no D-Bus"]
    assert window.banners.isVisibleTo(window)
    window.clear_banner("vault")
    assert window.banners.texts == ["This desktop has no system tray."]
    banner = window.show_banner("This desktop has no system tray.")
    banner.close_button.click()
    assert window.banners.texts == []
    assert not window.banners.isVisibleTo(window)


def test_only_the_visible_tab_rereads_on_a_change(
    qtbot: QtBot, window: SettingsWindow, services: Services
) -> None:
    window.show()
    window.show_tab("secrets")
    qtbot.waitExposed(window)
    counts = {name: window.tab(name).refresh_count for name in TAB_NAMES}
    services.secrets.set("KEY", SecretValue("v"))
    for topic in ("secrets", "agents", "grants", "audit"):
        window.ctx.events.changed.emit(topic)
    qtbot.waitUntil(lambda: window.secrets_tab.refresh_count == counts["secrets"] + 1)
    qtbot.wait(300)
    for name in ("agents", "grants", "activity", "general"):
        assert window.tab(name).refresh_count == counts[name], name
    assert window.agents_tab.dirty and window.activity_tab.dirty
    assert not window.general_tab.dirty or counts["general"] == 0  # "settings" did not change
    window.show_tab("activity")
    assert window.activity_tab.refresh_count == counts["activity"] + 1
    assert window.activity_tab.model.rowCount() == 1


def test_closing_hides_revealed_values_and_the_token(
    qtbot: QtBot, window: SettingsWindow, services: Services, asker: ScriptedAsker
) -> None:
    services.secrets.set("KEY", SecretValue("revealed-value"))
    asker.answers.append(Answer(True))
    window.show_tab("secrets")
    window.secrets_tab.view.selectRow(0)
    window.secrets_tab.reveal_selected()
    wait_jobs(qtbot, window)
    assert window.secrets_tab.reveal_box.showing
    window.close()
    assert not window.isVisible()
    assert not window.secrets_tab.reveal_box.showing
    assert window.secrets_tab.reveal_box.field.text() == ""


def test_a_window_without_a_running_core_says_so(
    qtbot: QtBot, services: Services, events: AppEvents, asker: ScriptedAsker, autostart: object
) -> None:
    runtime = StubRuntime(services)
    runtime.services = None
    win = SettingsWindow(runtime, events, asker=asker, autostart=autostart)  # type: ignore[arg-type]
    qtbot.addWidget(win)
    win.show_tab("secrets")  # no exception: the tab says why and retries when shown again
    assert win.secrets_tab.dirty
    assert win.secrets_tab.status.kind == "error"
    assert win.secrets_tab.status.text.startswith("Keybroker's core is not running")
    win.jobs.close(wait=True)


def test_every_tab_renders_with_data(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards
) -> None:
    cards.cards["http://127.0.0.1:9001"] = demo_card()
    agent = services.agents.add("http://127.0.0.1:9001")
    services.secrets.set("GITHUB_TOKEN", SecretValue("v"), owner=agent.slug)
    window.show()
    for name in TAB_NAMES:
        window.show_tab(name)
        image = window.grab()
        assert not image.isNull() and image.width() >= 760, name


def test_topics_cover_what_each_decision_changes() -> None:
    def event(decision: AuditDecision) -> AuditEvent:
        return AuditEvent(seq=1, ts=0.0, decision=decision)

    assert topics_for_event(event(AuditDecision.CREATED))[-1] == "audit"
    assert "secrets" in topics_for_event(event(AuditDecision.CREATED))
    assert "grants" in topics_for_event(event(AuditDecision.LOCKED))
    assert "agents" in topics_for_event(event(AuditDecision.AGENT_REMOVED))
    assert topics_for_event(event(AuditDecision.REVEALED)) == ("audit",)
    for decision in AuditDecision:
        assert topics_for_event(event(decision))[-1] == "audit"


def test_the_real_asker_confirms_with_a_named_button_and_an_option(qtbot: QtBot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    answers: list[Answer] = []
    question = Confirmation(
        title="Remove an agent",
        text="Remove the agent Demo (demo)?",
        action="Remove",
        option="Also delete its 2 secrets (A, B)",
    )
    QtAsker().confirm(parent, question, answers.append)
    box = parent.findChild(QMessageBox)
    assert box is not None and box.isVisible()
    assert box.text() == "Remove the agent Demo (demo)?"
    assert box.defaultButton() is not None and box.defaultButton().text() != "Remove"  # Cancel by default
    assert box.checkBox() is not None and box.checkBox().text() == question.option
    box.checkBox().setChecked(True)
    go = next(b for b in box.buttons() if b.text() == "Remove")
    go.click()
    qtbot.waitUntil(lambda: answers == [Answer(True, True)])


def test_the_real_asker_treats_cancel_as_no(qtbot: QtBot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    answers: list[Answer] = []
    QtAsker().confirm(parent, Confirmation(title="t", text="Delete X?", option="also Y"), answers.append)
    box = parent.findChild(QMessageBox)
    assert box is not None
    box.checkBox().setChecked(True)
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: answers == [Answer(False, False)])


class IconButtonsStyle(QProxyStyle):
    """The style of desktops that draw icons on dialog buttons (KDE, Fusion under X11): offscreen
    does not, so a Cancel button would have no ✗ to lose there."""

    def styleHint(self, hint: QStyle.StyleHint, *args: object) -> int:
        if hint == QStyle.StyleHint.SH_DialogButtonBox_ButtonsHaveIcons:
            return 1
        return int(super().styleHint(hint, *args))  # type: ignore[arg-type]


@pytest.fixture
def button_icons(app: QApplication) -> Iterator[None]:
    previous = app.style().name()
    app.setStyle(IconButtonsStyle(QStyleFactory.create(previous)))
    box = QMessageBox()
    assert not box.addButton(QMessageBox.StandardButton.Cancel).icon().isNull()  # the style draws them
    box.deleteLater()
    yield
    app.setStyle(QStyleFactory.create(previous))


@pytest.mark.parametrize(
    ("question", "marked"),
    [
        (
            Confirmation(
                title="t", text="Delete X?", action="Delete", icon=QStyle.StandardPixmap.SP_TrashIcon
            ),
            True,
        ),
        (Confirmation(title="t", text="Revoke X?", action="Revoke"), True),
        (Confirmation(title="t", text="Reveal X?", action="Reveal", destructive=False), False),
    ],
    ids=["delete", "revoke", "reveal"],
)
def test_the_destructive_button_is_marked_and_cancel_is_plain(
    qtbot: QtBot, button_icons: None, question: Confirmation, marked: bool
) -> None:
    """Cancel carried a red ✗ and Delete none: the mark belongs on what destroys."""
    parent = QWidget()
    qtbot.addWidget(parent)
    QtAsker().confirm(parent, question, lambda _a: None)
    box = parent.findChild(QMessageBox)
    assert box is not None
    go = next(b for b in box.buttons() if b.text() == question.action)
    cancel = box.button(QMessageBox.StandardButton.Cancel)
    assert cancel is not None and cancel.icon().isNull()
    assert go.icon().isNull() is not marked
    box.reject()


def test_no_cancel_button_carries_a_mark(
    qtbot: QtBot, button_icons: None, window: SettingsWindow, services: Services
) -> None:
    services.secrets.set("GITHUB_TOKEN", SecretValue("v"))
    window.show_tab("secrets")
    alone = SecretDialog(None)
    qtbot.addWidget(alone)
    for dialog in (window.secrets_tab.add_secret(), alone):  # the tab's deletes itself on close
        cancel = dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        assert cancel is not None and cancel.icon().isNull()
        dialog.reject()
    box = confirm_memory_vault(lambda: None)
    qtbot.addWidget(box)
    assert box.button(QMessageBox.StandardButton.Cancel).icon().isNull()
    box.reject()
    tab = window.secrets_tab
    assert not tab.bar.buttons["deleteSecret"].icon().isNull()  # the destructive ones are marked
    assert not tab.bar.buttons["revokeSecretGrants"].icon().isNull()
    assert tab.bar.buttons["addSecret"].icon().isNull()


def test_the_real_asker_asks_where_to_save(qtbot: QtBot, tmp_path: Path) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    chosen: list[tuple[Path, str]] = []
    QtAsker().save_path(
        parent,
        "Export",
        "audit.csv",
        ["CSV files (*.csv)", "JSON files (*.json)"],
        lambda p, f: chosen.append((p, f)),
    )
    dialog = parent.findChild(QFileDialog)
    assert dialog is not None and dialog.acceptMode() == QFileDialog.AcceptMode.AcceptSave
    assert dialog.nameFilters() == ["CSV files (*.csv)", "JSON files (*.json)"]
    dialog.selectFile(str(tmp_path / "out.json"))
    dialog.selectNameFilter("JSON files (*.json)")
    dialog.accept()
    qtbot.waitUntil(lambda: bool(chosen))
    assert chosen == [(tmp_path / "out.json", "JSON files (*.json)")]


def test_the_title_names_the_app_once(window: SettingsWindow) -> None:
    assert window.windowTitle() == "Settings — Keybroker"
    assert window.windowTitle().count("Keybroker") == 1


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ("locked", "Locked: every request asks on http://127.0.0.1:7411"),
        ("paused", "Bridge paused"),
        ("vault-unavailable", "Vault unavailable: nothing can be stored or released"),
        ("stopped", "Bridge stopped: agents cannot be reached"),
        ("ready", "Ready on http://127.0.0.1:7411"),
    ],
)
def test_the_app_state_shows_at_once_in_the_status_line(
    window: SettingsWindow, events: AppEvents, state: str, says: str
) -> None:
    window.show_tab("secrets")
    assert window.app_status.text == "Ready on http://127.0.0.1:7411"  # the runtime serves
    assert window.app_status.isVisibleTo(window)
    events.state_changed.emit(state)  # as the controller emits it; no event loop turn needed
    assert window.app_status.text == says
    assert window.app_status.state.value == state


def test_waiting_prompts_show_in_the_status_line_and_the_vault_reads_plainly(
    window: SettingsWindow, events: AppEvents
) -> None:
    events.prompts_changed.emit(2)
    assert window.app_status.text == "2 requests waiting"
    events.prompts_changed.emit(0)
    assert window.app_status.text.startswith("Ready on ")
    assert window.app_status.vault.text() == "Session-only memory vault: values are lost when Keybroker exits"
    assert vault_text(
        "OS vault: SecretService (keybroker.core.vault.secret_service.SecretServiceKeyring)"
    ) == ("OS vault: SecretService")
    with pytest.raises(ValueError, match="unknown app state 'sleepy'"):
        window.set_app_state("sleepy")


def test_a_window_opened_later_shows_the_state_the_app_is_in(
    qtbot: QtBot, runtime: StubRuntime, events: AppEvents, asker: ScriptedAsker
) -> None:
    windows: list[SettingsWindow] = []

    def factory(rt: object, ev: AppEvents) -> QWidget:
        win = SettingsWindow(runtime, ev, asker=asker, autostart=None)
        qtbot.addWidget(win)
        windows.append(win)
        return win

    host = SettingsHost(runtime, events, factory=factory)
    events.state_changed.emit("locked")
    events.prompts_changed.emit(1)
    host.show("grants")
    (win,) = windows
    assert win.app_status.text == "1 request waiting"
    events.prompts_changed.emit(0)
    assert win.app_status.text == "Locked: every request asks on http://127.0.0.1:7411"
    win.jobs.close(wait=True)


def test_the_vault_banner_goes_when_the_vault_comes_back(
    qtbot: QtBot, runtime: StubRuntime, events: AppEvents, asker: ScriptedAsker
) -> None:
    windows: list[SettingsWindow] = []

    def factory(rt: object, ev: AppEvents) -> QWidget:
        win = SettingsWindow(runtime, ev, asker=asker, autostart=None)
        qtbot.addWidget(win)
        windows.append(win)
        return win

    host = SettingsHost(runtime, events, factory=factory, no_tray=True)
    host.set_problem("the keyring is locked. Fix: unlock it")
    host.show("secrets")
    (win,) = windows
    assert win.banners.texts == [NO_TRAY_TEXT, "Vault unavailable: the keyring is locked. Fix: unlock it"]
    host.set_problem("no D-Bus session")  # a new reason replaces the old one, under the same key
    assert win.banners.texts == [NO_TRAY_TEXT, "Vault unavailable: no D-Bus session"]
    win.clear_banner("vault")  # the banner is known to the window by its key
    assert win.banners.texts == [NO_TRAY_TEXT]
    host.set_problem("locked again")
    assert win.banners.texts[-1] == "Vault unavailable: locked again"
    host.set_problem(None)  # the vault works again
    assert win.banners.texts == [NO_TRAY_TEXT]
    win.jobs.close(wait=True)


def test_plain_windows_get_keyed_banners_that_clear_by_key(qtbot: QtBot) -> None:
    plain = QWidget()
    qtbot.addWidget(plain)
    QVBoxLayout(plain).addWidget(QLabel("content"))
    shown = show_banner(plain, "Vault unavailable: locked", kind="error", key="vault")
    assert shown is not None and shown.property("bannerKey") == "vault"
    clear_banner(plain, "vault")
    QApplication.processEvents()
    assert not [
        w for w in plain.findChildren(QLabel) if w.objectName() == "appBanner" and w.isVisibleTo(plain)
    ]
