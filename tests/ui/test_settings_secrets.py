# SPDX-License-Identifier: Apache-2.0
"""The Secrets tab against a real catalog and a memory vault: list, add, edit, reveal, revoke, delete."""

# The fixtures are imported from test_settings_support by name (pytest finds them here), and test
# parameters of the same names shadow them, as pytest intends.
# ruff: noqa: F811

from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QDialog, QLineEdit
from pytestqt.qtbot import QtBot

from keybroker.core.broker.grant_rules import make_grant
from keybroker.core.errors import VaultLocked
from keybroker.core.models import AuditDecision, GrantScope, SecretValue
from keybroker.ui.settings.asker import Answer
from keybroker.ui.settings.reveal_box import PASSWORD_HINT_MIME
from keybroker.ui.settings.secret_dialog import SecretDialog
from keybroker.ui.settings.secrets_tab import SecretsTab
from keybroker.ui.settings_window import SettingsWindow
from keybroker.wiring.services import Services
from tests.ui.test_settings_support import (  # noqa: F401 - fixtures are used by name
    ChangeLog,
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

VALUE = "ghp_s3cr3t-value-never-shown"


def _tab(window: SettingsWindow) -> SecretsTab:
    window.show_tab("secrets")
    return window.secrets_tab


def _add_agent(services: Services, cards: FakeCards, base: str = "http://127.0.0.1:9001") -> str:
    cards.cards[base] = demo_card()
    return services.agents.add(base).slug


def _select(tab: SecretsTab, key: str, owner: str | None) -> None:
    for row, record in enumerate(tab.model.rows()):
        if record.key == key and record.owner == owner:
            tab.view.selectRow(row)
            return
    raise AssertionError(f"{key} ({owner}) is not listed")


def _all_cell_text(tab: SecretsTab) -> str:
    model = tab.model
    return "\n".join(
        str(model.data(model.index(r, c), role) or "")
        for r in range(model.rowCount())
        for c in range(model.columnCount())
        for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole)
    )


def test_empty_tab_explains_instead_of_showing_a_bare_grid(window: SettingsWindow) -> None:
    tab = _tab(window)
    assert tab.area.showing_placeholder
    assert tab.area.empty.title.text() == "No secrets yet"
    assert "when an agent asks or you add one" in tab.area.empty.body.text()


def test_lists_secrets_with_owner_and_use_but_never_a_value(
    window: SettingsWindow, services: Services, cards: FakeCards
) -> None:
    slug = _add_agent(services, cards)
    services.secrets.set("GITHUB_TOKEN", SecretValue(VALUE), description="read-only PAT")
    own = services.secrets.set("SLACK_WEBHOOK_URL", SecretValue(VALUE + "2"), owner=slug).record
    services.catalog.record_use(own.secret_id)
    tab = _tab(window)
    assert not tab.area.showing_placeholder
    rows = {(r.key, r.owner): r for r in tab.model.rows()}
    assert set(rows) == {("GITHUB_TOKEN", None), ("SLACK_WEBHOOK_URL", slug)}
    owners = [tab.model.data(tab.model.index(r, 2)) for r in range(2)]
    assert sorted(owners) == sorted(["shared", slug])
    uses = {tab.model.data(tab.model.index(r, 0)): tab.model.data(tab.model.index(r, 6)) for r in range(2)}
    assert uses == {"GITHUB_TOKEN": "0", "SLACK_WEBHOOK_URL": "1"}
    assert VALUE not in _all_cell_text(tab)
    assert "read-only PAT" in _all_cell_text(tab)  # the description as the key's tooltip


def test_filter_narrows_rows_and_explains_no_match(window: SettingsWindow, services: Services) -> None:
    services.secrets.set("GITHUB_TOKEN", SecretValue("a"))
    services.secrets.set("OPENAI_API_KEY", SecretValue("b"))
    tab = _tab(window)
    tab.filter_edit.setText("openai")
    assert [r.key for r in tab.model.rows()] == ["OPENAI_API_KEY"]
    tab.filter_edit.setText("nothing-like-this")
    assert tab.area.showing_placeholder
    assert "nothing-like-this" in tab.area.empty.body.text()


def test_add_stores_the_value_in_the_vault_off_the_ui_thread(
    qtbot: QtBot, window: SettingsWindow, services: Services, events: object
) -> None:
    tab = _tab(window)
    changes = ChangeLog(window.ctx.events)
    threads: list[str] = []
    real_set = services.vault.set

    def recording_set(account: str, value: SecretValue | str) -> None:
        threads.append(threading.current_thread().name)
        real_set(account, value)

    services.vault.set = recording_set  # type: ignore[method-assign]
    dialog = tab.add_secret()
    assert not dialog.save_button.isEnabled()  # no key, no value yet
    qtbot.keyClicks(dialog.key_edit, "GITHUB_TOKEN")
    qtbot.keyClicks(dialog.value_edit, VALUE)
    dialog.description_edit.setPlainText("read-only PAT")
    assert dialog.value_edit.echoMode() == QLineEdit.EchoMode.Password
    assert dialog.save_button.isEnabled()
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    wait_jobs(qtbot, window)

    record = services.secrets.resolve("GITHUB_TOKEN", None)
    assert services.vault.get(record.secret_id) == SecretValue(VALUE)
    assert record.description == "read-only PAT"
    assert threads and threading.main_thread().name not in threads
    assert [r.key for r in tab.model.rows()] == ["GITHUB_TOKEN"]
    assert tab.selected() is not None and tab.selected().secret_id == record.secret_id
    assert tab.status.kind == "ok" and "Stored GITHUB_TOKEN (shared)" in tab.status.text
    assert "secrets" in changes.topics and "audit" in changes.topics


def test_the_dialog_keeps_no_copy_of_the_value(qtbot: QtBot) -> None:
    dialog = SecretDialog(None)
    qtbot.addWidget(dialog)
    dialog.key_edit.setText("K")
    dialog.value_edit.setText(VALUE)
    edit = dialog.take()
    assert edit.value == SecretValue(VALUE) and VALUE not in repr(edit)
    assert dialog.value_edit.text() == ""


def test_add_for_an_agent_and_replacing_says_so(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards, runtime: StubRuntime
) -> None:
    slug = _add_agent(services, cards)
    old = services.secrets.set("SLACK_WEBHOOK_URL", SecretValue("old"), owner=slug).record
    tab = _tab(window)
    dialog = tab.add_secret(owner=slug)
    assert dialog.owner == slug
    qtbot.keyClicks(dialog.key_edit, "SLACK_WEBHOOK_URL")
    qtbot.keyClicks(dialog.value_edit, "new-value")
    assert dialog.save_button.text() == "Replace"
    assert "exists already" in dialog.note.text()
    dialog.accept()
    wait_jobs(qtbot, window)
    assert services.vault.get(old.secret_id) == SecretValue("new-value")
    assert old.secret_id in runtime.broker.forgotten  # no stale cached value is released
    assert "Replaced the value of SLACK_WEBHOOK_URL" in tab.status.text


def test_invalid_key_keeps_save_disabled_with_the_reason(qtbot: QtBot, window: SettingsWindow) -> None:
    dialog = _tab(window).add_secret()
    qtbot.keyClicks(dialog.value_edit, "v")
    dialog.key_edit.setText("x" * 129)
    assert not dialog.save_button.isEnabled()
    assert "1-128 characters" in (dialog.problem() or "")
    dialog.reject()
    assert dialog.value_edit.text() == ""


def test_edit_changes_metadata_and_value_and_forgets_the_cache(
    qtbot: QtBot, window: SettingsWindow, services: Services, runtime: StubRuntime
) -> None:
    record = services.secrets.set("GITHUB_TOKEN", SecretValue("v1"), name="GitHub").record
    tab = _tab(window)
    _select(tab, "GITHUB_TOKEN", None)
    dialog = tab.edit_selected()
    assert dialog is not None
    assert not dialog.save_button.isEnabled()  # nothing changed yet
    dialog.name_edit.setText("GitHub (work)")
    qtbot.keyClicks(dialog.value_edit, "v2")
    dialog.accept()
    wait_jobs(qtbot, window)
    updated = services.catalog.get_secret(record.secret_id)
    assert updated.name == "GitHub (work)"
    assert services.vault.get(record.secret_id) == SecretValue("v2")
    assert runtime.broker.forgotten == [record.secret_id]
    last = services.audit.events()[-1]
    assert last.decision is AuditDecision.UPDATED and last.detail == "changed: name, value"
    assert last.caller == "settings window"


def test_edit_of_metadata_only_keeps_the_value_and_the_cache(
    qtbot: QtBot, window: SettingsWindow, services: Services, runtime: StubRuntime
) -> None:
    record = services.secrets.set("GITHUB_TOKEN", SecretValue("v1")).record
    tab = _tab(window)
    _select(tab, "GITHUB_TOKEN", None)
    dialog = tab.edit_selected()
    assert dialog is not None
    dialog.description_edit.setPlainText("rotated monthly")
    dialog.accept()
    wait_jobs(qtbot, window)
    assert services.catalog.get_secret(record.secret_id).description == "rotated monthly"
    assert services.vault.get(record.secret_id) == SecretValue("v1")
    assert runtime.broker.forgotten == []


def test_reveal_asks_first_and_a_no_reads_nothing(
    qtbot: QtBot, window: SettingsWindow, services: Services, asker: ScriptedAsker
) -> None:
    services.secrets.set("GITHUB_TOKEN", SecretValue(VALUE))
    tab = _tab(window)
    _select(tab, "GITHUB_TOKEN", None)
    tab.reveal_selected()
    wait_jobs(qtbot, window)
    assert len(asker.asked) == 1
    question = asker.asked[0]
    assert question.action == "Reveal" and "GITHUB_TOKEN (shared)" in question.text
    assert not tab.reveal_box.showing
    assert not [e for e in services.audit.events() if e.decision is AuditDecision.REVEALED]


def test_reveal_shows_copies_and_hides_again(
    qtbot: QtBot, window: SettingsWindow, services: Services, asker: ScriptedAsker
) -> None:
    record = services.secrets.set("GITHUB_TOKEN", SecretValue(VALUE)).record
    asker.answers.append(Answer(True))
    tab = _tab(window)
    tab.reveal_box.seconds = 1
    _select(tab, "GITHUB_TOKEN", None)
    tab.reveal_selected()
    wait_jobs(qtbot, window)
    assert tab.reveal_box.showing and tab.reveal_box.field.text() == VALUE
    assert tab.reveal_box.field.isReadOnly()
    revealed = [e for e in services.audit.events() if e.decision is AuditDecision.REVEALED]
    assert [(e.key, e.secret_id, e.caller) for e in revealed] == [
        ("GITHUB_TOKEN", record.secret_id, "settings window")
    ]

    tab.reveal_box.copy()
    clipboard = QGuiApplication.clipboard()
    assert clipboard.text() == VALUE
    assert bytes(clipboard.mimeData().data(PASSWORD_HINT_MIME)) == b"secret"
    qtbot.waitUntil(lambda: not tab.reveal_box.showing, timeout=4000)  # auto-hide after 1 s
    assert tab.reveal_box.field.text() == ""
    assert clipboard.text() != VALUE  # cleared with it
    assert not tab.reveal_box.ticking


def test_switching_tab_hides_a_revealed_value(
    qtbot: QtBot, window: SettingsWindow, services: Services, asker: ScriptedAsker
) -> None:
    services.secrets.set("GITHUB_TOKEN", SecretValue(VALUE))
    asker.answers.append(Answer(True))
    window.show()
    tab = _tab(window)
    _select(tab, "GITHUB_TOKEN", None)
    tab.reveal_selected()
    wait_jobs(qtbot, window)
    assert tab.reveal_box.showing
    window.show_tab("grants")
    assert not tab.reveal_box.showing and tab.reveal_box.field.text() == ""


def test_revoke_access_ends_every_grant_for_the_secret(
    qtbot: QtBot,
    window: SettingsWindow,
    services: Services,
    cards: FakeCards,
    asker: ScriptedAsker,
    runtime: StubRuntime,
) -> None:
    slug = _add_agent(services, cards)
    record = services.secrets.set("GITHUB_TOKEN", SecretValue(VALUE)).record
    agent = services.catalog.get_agent(slug)
    services.catalog.add_grant(
        make_grant(agent=agent, secret=record, scope=GrantScope.UNTIL_LOCK, now=1.0, grant_id="gr_1")
    )
    asker.answers.append(Answer(True))
    tab = _tab(window)
    _select(tab, "GITHUB_TOKEN", None)
    tab.revoke_selected()
    wait_jobs(qtbot, window)
    question = asker.asked[-1]
    assert "Revoke 1 grant for GITHUB_TOKEN (shared)" in question.text
    assert slug in question.detail and "until lock" in question.detail
    assert services.catalog.list_grants(secret_id=record.secret_id) == []
    assert runtime.broker.forgotten == [record.secret_id]
    assert services.vault.get(record.secret_id) == SecretValue(VALUE)  # the value stays


def test_delete_names_what_goes_and_removes_value_and_record(
    qtbot: QtBot,
    window: SettingsWindow,
    services: Services,
    cards: FakeCards,
    asker: ScriptedAsker,
    runtime: StubRuntime,
) -> None:
    slug = _add_agent(services, cards)
    own = services.secrets.set("SLACK_WEBHOOK_URL", SecretValue(VALUE), owner=slug).record
    tab = _tab(window)
    _select(tab, "SLACK_WEBHOOK_URL", slug)
    tab.delete_selected()  # declined
    assert services.catalog.find_secret_by_id(own.secret_id) is not None
    question = asker.asked[-1]
    assert question.text == f"Delete the secret SLACK_WEBHOOK_URL (agent {slug})?"
    assert "1 grant" in question.detail and "cannot be undone" in question.detail

    asker.answers.append(Answer(True))
    tab.delete_selected()
    wait_jobs(qtbot, window)
    assert services.catalog.find_secret_by_id(own.secret_id) is None
    assert services.vault.get(own.secret_id) is None
    assert runtime.broker.forgotten == [own.secret_id]
    assert tab.area.showing_placeholder
    assert len(asker.asked) == 2  # asked once per attempt, never twice for one action


def test_a_vault_error_shows_its_message_and_fix(
    qtbot: QtBot, window: SettingsWindow, services: Services, asker: ScriptedAsker
) -> None:
    services.secrets.set("GITHUB_TOKEN", SecretValue(VALUE))

    def locked(account: str) -> SecretValue | None:
        raise VaultLocked("the OS vault is locked", hint="unlock it in your keyring app")

    services.vault.get = locked  # type: ignore[method-assign]
    asker.answers.append(Answer(True))
    tab = _tab(window)
    _select(tab, "GITHUB_TOKEN", None)
    tab.reveal_selected()
    wait_jobs(qtbot, window)
    assert tab.status.kind == "error"
    assert tab.status.text == "The OS vault is locked — unlock it in your keyring app"
    assert not tab.reveal_box.showing
    assert tab.reveal_action.isEnabled()  # usable again


def test_the_ui_stays_responsive_while_the_vault_blocks(
    qtbot: QtBot, window: SettingsWindow, services: Services
) -> None:
    gate = threading.Event()
    real_set = services.vault.set

    def slow_set(account: str, value: SecretValue | str) -> None:
        assert gate.wait(10)
        real_set(account, value)

    services.vault.set = slow_set  # type: ignore[method-assign]
    tab = _tab(window)
    dialog = tab.add_secret()
    dialog.key_edit.setText("SLOW_KEY")
    dialog.value_edit.setText("v")
    dialog.accept()
    # The accept returned although the vault call has not: the UI thread is free and says it works.
    assert window.jobs.busy
    assert tab.status.kind == "busy" and "Storing SLOW_KEY" in tab.status.text
    assert not tab.add_action.isEnabled()
    qtbot.wait(50)
    gate.set()
    wait_jobs(qtbot, window)
    assert tab.status.kind == "ok"
    assert tab.add_action.isEnabled()


def test_a_change_made_elsewhere_shows_at_once_when_visible(
    qtbot: QtBot, window: SettingsWindow, services: Services
) -> None:
    window.show()
    tab = _tab(window)
    qtbot.waitExposed(window)
    before = tab.refresh_count
    services.secrets.set("FROM_THE_CLI", SecretValue("x"))
    for _ in range(5):
        window.ctx.events.changed.emit("secrets")
    qtbot.waitUntil(lambda: [r.key for r in tab.model.rows()] == ["FROM_THE_CLI"])
    qtbot.wait(20)
    assert tab.refresh_count == before + 1  # five changes, one re-read


def test_the_delete_key_on_the_table_asks_to_delete(
    window: SettingsWindow, services: Services, asker: ScriptedAsker
) -> None:
    services.secrets.set("GITHUB_TOKEN", SecretValue(VALUE))
    tab = _tab(window)
    _select(tab, "GITHUB_TOKEN", None)
    action = tab.delete_action
    # Bound to the table only, so the Grants tab's Delete key does not make the shortcut ambiguous.
    assert action in tab.view.actions()
    assert action.shortcut() == QKeySequence(QKeySequence.StandardKey.Delete)
    assert action.shortcutContext() == Qt.ShortcutContext.WidgetWithChildrenShortcut
    action.trigger()
    assert [q.text for q in asker.asked] == ["Delete the secret GITHUB_TOKEN (shared)?"]


def test_enter_in_the_add_dialog_adds_once_save_is_enabled(
    qtbot: QtBot, window: SettingsWindow, services: Services
) -> None:
    """Save starts disabled (no key, no value); Enter must still save once it is enabled, never cancel
    and drop what was typed (Qt makes another button the default while the default is disabled)."""
    window.show()
    tab = _tab(window)
    dialog = tab.add_secret()
    qtbot.waitExposed(dialog)
    qtbot.keyClick(dialog.key_edit, Qt.Key.Key_Return)  # nothing typed yet: it says what is missing
    assert dialog.isVisible()
    assert dialog.note.isVisible() and dialog.note.text() == "Enter a key."
    qtbot.keyClicks(dialog.key_edit, "GITHUB_TOKEN")
    qtbot.keyClicks(dialog.value_edit, VALUE)
    with qtbot.waitSignal(dialog.finished) as finished:
        qtbot.keyClick(dialog.value_edit, Qt.Key.Key_Return)
    assert finished.args == [int(QDialog.DialogCode.Accepted)]
    wait_jobs(qtbot, window)
    record = services.secrets.resolve("GITHUB_TOKEN", None)
    assert services.vault.get(record.secret_id) == SecretValue(VALUE)


def test_enter_in_the_edit_dialog_saves_the_change(
    qtbot: QtBot, window: SettingsWindow, services: Services
) -> None:
    record = services.secrets.set("GITHUB_TOKEN", SecretValue("v1")).record
    window.show()
    tab = _tab(window)
    _select(tab, "GITHUB_TOKEN", None)
    dialog = tab.edit_selected()
    assert dialog is not None
    qtbot.waitExposed(dialog)
    qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Return)  # nothing changed: Save stays disabled, no cancel
    assert dialog.isVisible()
    assert dialog.note.isVisible() and dialog.note.text() == "Nothing changed yet."
    qtbot.keyClicks(dialog.value_edit, "v2")
    with qtbot.waitSignal(dialog.finished) as finished:
        qtbot.keyClick(dialog.value_edit, Qt.Key.Key_Enter)
    assert finished.args == [int(QDialog.DialogCode.Accepted)]
    wait_jobs(qtbot, window)
    assert services.vault.get(record.secret_id) == SecretValue("v2")


def test_escape_still_cancels_the_secret_dialog(qtbot: QtBot) -> None:
    dialog = SecretDialog(None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    qtbot.keyClicks(dialog.key_edit, "K")
    with qtbot.waitSignal(dialog.finished) as finished:
        qtbot.keyClick(dialog.key_edit, Qt.Key.Key_Escape)
    assert finished.args == [int(QDialog.DialogCode.Rejected)]
