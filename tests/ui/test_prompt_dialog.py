# SPDX-License-Identifier: Apache-2.0
"""The prompt dialog on its own: every way to answer it, what it shows, and keyboard-only use."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QLineEdit, QRadioButton, QWidget
from pytestqt.qtbot import QtBot

from keybroker.core.broker.prompts import (
    SCOPE_ORDER,
    NewValue,
    PromptAnswer,
    PromptRequest,
    SkipItem,
    UseOffered,
    UseStored,
)
from keybroker.core.models import GrantScope, SecretValue
from keybroker.ui.allow_guard import GUARD_MS
from keybroker.ui.prompt_dialog import CARD_CHANGED_TEXT, NEW_AGENT_TEXT, PromptDialog
from keybroker.ui.prompt_style import MIN_CONTRAST, colours_for, contrast, luminance
from keybroker.ui.prompt_text import SCOPE_LABELS
from tests.fakes import FakeClock
from tests.ui.support import ManualTimer, agent, item, record, request

TYPED = "ghp_CANARY_typed_0123456789"


def dialog_for(
    qtbot: QtBot, req: PromptRequest, clock: FakeClock | None = None, *, armed: bool = True
) -> PromptDialog:
    """The dialog on screen and active; `armed`: the second during which Allow is inert has passed."""
    guard = ManualTimer()
    dialog = PromptDialog(req, clock=clock or FakeClock(), guard_timer=guard)
    qtbot.addWidget(dialog)
    dialog.open()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    if armed:
        guard.fire()
    return dialog


def guard_of(dialog: PromptDialog) -> ManualTimer:
    timer = dialog.guard_timer
    assert isinstance(timer, ManualTimer)
    return timer


def finish(qtbot: QtBot, dialog: PromptDialog, press: Qt.Key | None = None) -> PromptAnswer:
    with qtbot.waitSignal(dialog.finished, timeout=2000):
        if press is None:
            dialog.allow_button.click()
        else:
            QTest.keyClick(QApplication.focusWidget() or dialog, press)
    return dialog.answer()


def focused() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None, "nothing has the focus"
    return widget


def texts(dialog: PromptDialog) -> list[str]:
    return [label.text() for label in dialog.findChildren(QLabel) if label.isVisible()]


# Allowing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", SCOPE_ORDER, ids=lambda s: s.value)
def test_allow_with_each_scope(app: QApplication, qtbot: QtBot, scope: GrantScope) -> None:
    stored = record("GITHUB_TOKEN", "research")
    dialog = dialog_for(qtbot, request(item(stored=stored)))
    dialog.scope.choose(scope, minutes=42)
    assert dialog.scope.minutes_box.isVisibleTo(dialog) == (scope is GrantScope.MINUTES)
    answer = finish(qtbot, dialog)
    assert answer.allow
    assert answer.scope is scope
    assert answer.minutes == (42.0 if scope is GrantScope.MINUTES else None)
    assert answer.choices == {"GITHUB_TOKEN": UseStored()}
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_only_offered_scopes_are_listed_default_selected(app: QApplication, qtbot: QtBot) -> None:
    offered = (GrantScope.ONCE, GrantScope.CONVERSATION, GrantScope.ALWAYS)
    dialog = dialog_for(qtbot, request(scopes=offered, default=GrantScope.CONVERSATION))
    assert dialog.scope.offered() == list(offered)
    assert dialog.scope.box.currentText() == SCOPE_LABELS[GrantScope.CONVERSATION]
    assert dialog.scope.scope() is GrantScope.CONVERSATION
    with pytest.raises(ValueError, match="not offered"):
        dialog.scope.choose(GrantScope.TASK)


def test_a_typed_value_goes_into_a_secret_value_and_the_field_is_cleared(
    app: QApplication, qtbot: QtBot
) -> None:
    dialog = dialog_for(qtbot, request(item("OPENAI_API_KEY")))
    field = dialog.items[0].input
    assert field.echoMode() is QLineEdit.EchoMode.Password
    assert not dialog.allow_button.isEnabled()  # nothing to give yet
    QTest.keyClicks(field, TYPED)
    assert dialog.allow_button.isEnabled()
    answer = finish(qtbot, dialog)
    choice = answer.choices["OPENAI_API_KEY"]
    assert isinstance(choice, NewValue)
    assert choice.value == SecretValue(TYPED)
    assert TYPED not in repr(answer)
    assert field.text() == ""  # cleared as the dialog closed


def test_stored_value_needs_no_typing(app: QApplication, qtbot: QtBot) -> None:
    stored = record("GITHUB_TOKEN", None)
    dialog = dialog_for(qtbot, request(item(stored=stored)))
    widget = dialog.items[0]
    assert not widget.input.isEnabled()  # the stored value is chosen: the field waits
    assert any("shared stored value" in r.text() for r in widget.findChildren(QRadioButton))
    assert dialog.allow_button.isEnabled()
    assert finish(qtbot, dialog).choices == {"GITHUB_TOKEN": UseStored()}


def test_a_new_value_can_replace_the_stored_one(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(item(stored=record("GITHUB_TOKEN", "research"))))
    widget = dialog.items[0]
    widget.select("new")
    assert widget.input.isEnabled()
    assert not dialog.allow_button.isEnabled()  # "new value" chosen but empty
    QTest.keyClicks(widget.input, TYPED)
    choice = finish(qtbot, dialog).choices["GITHUB_TOKEN"]
    assert isinstance(choice, NewValue) and choice.value == SecretValue(TYPED)


def test_an_offer_names_both_agents_and_answers_with_its_id(app: QApplication, qtbot: QtBot) -> None:
    offer = record("SLACK_TOKEN", "release-bot", secret_id="sec_offer")
    dialog = dialog_for(qtbot, request(item("SLACK_TOKEN", offers=(offer,)), who=agent("research")))
    radios = {r.text(): r for r in dialog.items[0].findChildren(QRadioButton)}
    offer_text = next(t for t in radios if "release-bot" in t)
    assert "research" in offer_text  # both agents named (DESIGN §3)
    assert not radios[offer_text].isChecked()  # never the default: it takes a deliberate choice
    assert not dialog.allow_button.isEnabled()
    radios[offer_text].click()
    assert dialog.allow_button.isEnabled() and not dialog.items[0].input.isEnabled()
    assert finish(qtbot, dialog).choices == {"SLACK_TOKEN": UseOffered("sec_offer")}


def test_several_demands_in_one_dialog(app: QApplication, qtbot: QtBot) -> None:
    req = request(
        item("GITHUB_TOKEN", stored=record("GITHUB_TOKEN", "research")),
        item("SLACK_TOKEN", offers=(record("SLACK_TOKEN", "other", secret_id="sec_s"),)),
        item("OPENAI_API_KEY"),
        item("SKIPPED_KEY"),
    )
    dialog = dialog_for(qtbot, req)
    assert [w.item.key for w in dialog.items] == list(req.keys)
    dialog.items[1].select("sec_s")
    QTest.keyClicks(dialog.items[2].input, TYPED)
    answer = finish(qtbot, dialog)
    assert answer.choices["GITHUB_TOKEN"] == UseStored()
    assert answer.choices["SLACK_TOKEN"] == UseOffered("sec_s")
    assert answer.choices["OPENAI_API_KEY"] == NewValue(SecretValue(TYPED))
    assert answer.choices["SKIPPED_KEY"] == SkipItem()


# Declining --------------------------------------------------------------------------------------


def test_deny_button_declines(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(item(stored=record("GITHUB_TOKEN", "research"))))
    QTest.keyClicks(dialog.items[0].input, "x")
    with qtbot.waitSignal(dialog.finished):
        dialog.deny_button.click()
    assert dialog.answer() == PromptAnswer.deny()
    assert dialog.result() == QDialog.DialogCode.Rejected


def test_closing_the_window_declines(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(item(stored=record("GITHUB_TOKEN", "research"))))
    with qtbot.waitSignal(dialog.finished):
        dialog.close()
    assert not dialog.answer().allow


def test_withdraw_closes_without_an_answer(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(item("OPENAI_API_KEY")))
    QTest.keyClicks(dialog.items[0].input, TYPED)
    with qtbot.waitSignal(dialog.finished):
        dialog.withdraw()
    assert dialog.withdrawn and dialog.closed and not dialog.isVisible()
    assert dialog.items[0].input.text() == ""
    dialog.withdraw()  # twice is harmless


# A key meant for another window ------------------------------------------------------------------


def test_enter_right_after_the_prompt_appears_does_not_allow(app: QApplication, qtbot: QtBot) -> None:
    """A Return typed for another window ~450 ms after the prompt appeared released a stored token."""
    dialog = dialog_for(qtbot, request(item(stored=record("GITHUB_TOKEN", "research"))), armed=False)
    assert not dialog.armed and not dialog.allow_button.isEnabled()
    QTest.keyClick(focused(), Qt.Key.Key_Return)
    QTest.keyClick(focused(), Qt.Key.Key_Space)
    dialog.allow_button.click()
    assert dialog.isVisible() and not dialog.closed
    guard_of(dialog).fire()  # a second later
    assert dialog.armed and dialog.allow_button.isEnabled()
    assert QApplication.focusWidget() is dialog.allow_button  # where a keyboard user starts, now armed
    answer = finish(qtbot, dialog, Qt.Key.Key_Return)
    assert answer.allow and answer.choices == {"GITHUB_TOKEN": UseStored()}


def test_typing_into_the_prompt_by_mistake_then_enter_releases_nothing(
    app: QApplication, qtbot: QtBot
) -> None:
    dialog = dialog_for(qtbot, request(item("OPENAI_API_KEY")), armed=False)
    QTest.keyClicks(focused(), "meant for the chat window")
    QTest.keyClick(focused(), Qt.Key.Key_Return)
    assert dialog.isVisible() and not dialog.closed and not dialog.allow_button.isEnabled()


def test_regaining_the_focus_makes_allow_inert_again(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(item(stored=record("GITHUB_TOKEN", "research"))))
    guard = guard_of(dialog)
    assert dialog.armed
    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: not dialog.isActiveWindow())
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    assert not dialog.armed and guard.isActive()
    QTest.keyClick(focused(), Qt.Key.Key_Return)
    assert dialog.isVisible() and not dialog.closed
    guard.fire()
    assert finish(qtbot, dialog, Qt.Key.Key_Return).allow


def test_deny_and_escape_work_at_once(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(item(stored=record("GITHUB_TOKEN", "research"))), armed=False)
    assert dialog.deny_button.isEnabled()
    assert finish(qtbot, dialog, Qt.Key.Key_Escape) == PromptAnswer.deny()


def test_allow_arms_by_itself_after_about_a_second(app: QApplication, qtbot: QtBot) -> None:
    """The real timer: inert at first, usable without anything but time passing."""
    dialog = PromptDialog(request(item(stored=record("GITHUB_TOKEN", "research"))), clock=FakeClock())
    qtbot.addWidget(dialog)
    dialog.open()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    QTest.keyClick(focused(), Qt.Key.Key_Return)
    assert not dialog.closed and not dialog.allow_button.isEnabled()
    assert dialog.guard_timer.interval() == GUARD_MS
    qtbot.waitUntil(dialog.allow_button.isEnabled, timeout=GUARD_MS * 5)
    assert finish(qtbot, dialog, Qt.Key.Key_Return).allow


# How many wait on the answer --------------------------------------------------------------------


def test_it_says_how_many_requests_the_answer_goes_to(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request())
    assert not dialog.waiting_label.isVisible()  # one request: nothing to say
    dialog.set_waiting(200)
    assert dialog.waiting_label.isVisible()
    assert dialog.waiting_label.text() == "Answers 200 waiting requests"
    dialog.set_waiting(1)
    assert not dialog.waiting_label.isVisible()


# Keyboard only ----------------------------------------------------------------------------------


def test_keyboard_only_type_then_enter_allows(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(item("OPENAI_API_KEY")))
    assert QApplication.focusWidget() is dialog.items[0].input  # the focus starts where typing starts
    QTest.keyClicks(focused(), TYPED)
    answer = finish(qtbot, dialog, Qt.Key.Key_Return)
    assert answer.allow and answer.choices["OPENAI_API_KEY"] == NewValue(SecretValue(TYPED))


def test_keyboard_only_enter_allows_a_stored_value(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(item(stored=record("GITHUB_TOKEN", "research"))))
    assert QApplication.focusWidget() is dialog.allow_button
    answer = finish(qtbot, dialog, Qt.Key.Key_Enter)
    assert answer.allow and answer.choices == {"GITHUB_TOKEN": UseStored()}


def test_keyboard_only_escape_denies(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(item("OPENAI_API_KEY")))
    QTest.keyClicks(focused(), TYPED)
    answer = finish(qtbot, dialog, Qt.Key.Key_Escape)
    assert answer == PromptAnswer.deny()


def test_enter_with_nothing_to_give_does_not_allow(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(item("OPENAI_API_KEY")))
    QTest.keyClick(focused(), Qt.Key.Key_Return)
    assert dialog.isVisible() and not dialog.closed


def test_tab_order_follows_the_dialog_down(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(item("OPENAI_API_KEY")))
    widget = dialog.items[0]
    QTest.keyClicks(widget.input, TYPED)  # Allow is disabled (and skipped by Tab) until then
    seen = [QApplication.focusWidget()]
    for _ in range(8):
        QTest.keyClick(focused(), Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    order = [widget.input, widget.show_button, widget.paste_button, dialog.scope.box]
    order += [dialog.deny_button, dialog.allow_button]
    positions = [seen.index(w) for w in order]
    assert positions == sorted(positions), [type(w).__name__ for w in seen]


# What it shows ----------------------------------------------------------------------------------


def test_shows_who_asks_what_and_for_which_task(app: QApplication, qtbot: QtBot) -> None:
    req = request(item("GITHUB_TOKEN", name="GitHub token"), task_id="task-77", context_id="ctx-88")
    dialog = dialog_for(qtbot, req)
    shown = "\n".join(texts(dialog))
    for expected in (
        "Research Assistant",
        "http://127.0.0.1:9999",
        "GITHUB_TOKEN",
        "GitHub token",
        "PAT with repo scope",
        "no grant for this agent yet",
        "task-77",
        "ctx-88",
        "pid 4242 (python3)",
        "known agent",
    ):
        assert expected in shown, expected
    assert NEW_AGENT_TEXT not in shown and CARD_CHANGED_TEXT not in shown


def test_the_title_says_who_asks_and_names_the_app_once(app: QApplication, qtbot: QtBot) -> None:
    one = dialog_for(qtbot, request(item("GITHUB_TOKEN")))
    assert one.windowTitle() == "Research Assistant asks for a secret — Keybroker"
    two = dialog_for(qtbot, request(item("A"), item("B")))
    assert two.windowTitle() == "Research Assistant asks for 2 secrets — Keybroker"
    # Qt appends the display name to a title that does not end with it: these end with it already.
    assert all(d.windowTitle().count("Keybroker") == 1 for d in (one, two))


def test_new_agent_and_changed_card_are_flagged(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(first_contact=True, card_changed=True))
    names = {label.objectName(): label.text() for label in dialog.findChildren(QLabel) if label.isVisible()}
    assert names["warning"] == NEW_AGENT_TEXT
    assert names["alert"] == CARD_CHANGED_TEXT


def test_agent_text_is_never_rich_text(app: QApplication, qtbot: QtBot) -> None:
    who = agent("evil", name='<a href="x">Trusted</a><img src=x>')
    dialog = dialog_for(qtbot, request(item("K", description="<b>bold</b>\x1b[31m"), who=who))
    assert dialog.agent_label.textFormat() is Qt.TextFormat.PlainText
    assert dialog.agent_label.text().startswith("<a href")
    for label in dialog.findChildren(QLabel):
        assert label.textFormat() is Qt.TextFormat.PlainText or not label.text()
    assert not any("\x1b" in t for t in texts(dialog))


def test_a_bidi_override_in_the_name_cannot_reverse_what_the_user_reads(
    app: QApplication, qtbot: QtBot
) -> None:
    """ "GitHub Official \u202etnega-live" renders as "GitHub Official evil-agent" if shown as is."""
    who = agent("evil", name="GitHub Official \u202etnega-live\u200b")
    dialog = dialog_for(qtbot, request(item("K"), who=who))
    shown = [*texts(dialog), dialog.windowTitle()]
    assert not any(c in t for t in shown for c in ("\u202e", "\u200b"))
    assert dialog.windowTitle() == "GitHub Official tnega-live asks for a secret — Keybroker"


def test_show_and_paste_buttons(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(item(stored=record("GITHUB_TOKEN", "research"))))
    widget = dialog.items[0]
    QGuiApplication.clipboard().setText(TYPED + "\n")
    widget.paste_button.click()
    assert widget.input.text() == TYPED  # the trailing newline of a copied line is dropped
    assert widget.needs_typing()  # pasting chose "new value"
    widget.show_button.click()
    assert widget.input.echoMode() is QLineEdit.EchoMode.Normal
    widget.show_button.click()
    assert widget.input.echoMode() is QLineEdit.EchoMode.Password
    QGuiApplication.clipboard().clear()
    assert finish(qtbot, dialog).choices["GITHUB_TOKEN"] == NewValue(SecretValue(TYPED))


def test_countdown_follows_the_deadline(app: QApplication, qtbot: QtBot) -> None:
    clock = FakeClock(1000.0)
    dialog = dialog_for(qtbot, request(created=1000.0, deadline=1300.0), clock)
    assert dialog.countdown_label.text() == "Declines in 5:00"
    assert dialog._timer.isActive()
    clock.advance(275.5)
    dialog._tick()
    assert dialog.countdown_label.text() == "Declines in 0:25"
    assert dialog.countdown_label.property("urgent") is True
    dialog.hide()
    assert not dialog._timer.isActive()  # no timer while hidden


def test_no_deadline_no_countdown(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request(deadline=0.0))
    assert not dialog.countdown_label.isVisible()
    assert not dialog._timer.isActive()


def test_queue_label(app: QApplication, qtbot: QtBot) -> None:
    dialog = dialog_for(qtbot, request())
    assert not dialog.queue_label.isVisible()
    dialog.set_queue(1, 3)
    assert dialog.queue_label.isVisible() and dialog.queue_label.text() == "1 of 3 waiting"
    dialog.set_queue(1, 1)
    assert not dialog.queue_label.isVisible()


# The desktop's colours ---------------------------------------------------------------------------


def dark_palette() -> QPalette:
    """A dark desktop palette, as a dark theme or Qt's dark colour scheme gives."""
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, "#2d2d30"),
        (QPalette.ColorRole.WindowText, "#e6e6e6"),
        (QPalette.ColorRole.Base, "#1e1e1e"),
        (QPalette.ColorRole.AlternateBase, "#262626"),
        (QPalette.ColorRole.Text, "#e6e6e6"),
        (QPalette.ColorRole.Button, "#3a3a3d"),
        (QPalette.ColorRole.ButtonText, "#e6e6e6"),
        (QPalette.ColorRole.Highlight, "#3d8ee6"),
        (QPalette.ColorRole.HighlightedText, "#ffffff"),
    ):
        palette.setColor(role, QColor(colour))
    return palette


def odd_palette() -> QPalette:
    """A light palette with a pale highlight whose white label would not read."""
    palette = QPalette(QColor("#f4f1e8"))
    palette.setColor(QPalette.ColorRole.Base, QColor("#fffdf5"))
    palette.setColor(QPalette.ColorRole.Highlight, QColor("#9ec9ff"))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    return palette


@pytest.fixture
def desktop_palette(app: QApplication) -> Iterator[Callable[[QPalette], None]]:
    """Set the application's palette (what a desktop switching to dark does); restored afterwards."""
    saved = QPalette(app.palette())
    yield app.setPalette
    app.setPalette(saved)


@pytest.mark.parametrize("make", [QPalette, dark_palette, odd_palette], ids=["default", "dark", "odd"])
def test_every_text_of_the_prompt_reads_in_any_palette(make: Callable[[], QPalette]) -> None:
    colours = colours_for(make() if make is not QPalette else QApplication.palette())
    for what, (fg, bg) in colours.pairs().items():
        assert contrast(fg, bg) >= MIN_CONTRAST, (what, fg.name(), bg.name())


def test_a_dark_desktop_gets_a_dark_prompt(
    app: QApplication, qtbot: QtBot, desktop_palette: Callable[[QPalette], None]
) -> None:
    desktop_palette(dark_palette())
    stored = record("GITHUB_TOKEN", "research")
    dialog = dialog_for(qtbot, request(item(stored=stored), first_contact=True, card_changed=True))
    colours = colours_for(dark_palette())
    assert colours.dark
    window = dialog.palette().color(QPalette.ColorRole.Window)
    assert window.name() == colours.background.name() and luminance(window) < 0.05
    labels = {label.objectName(): label for label in dialog.findChildren(QLabel) if label.objectName()}
    for name, fg, bg in (
        ("agentName", colours.text, colours.background),
        ("headline", colours.muted, colours.background),
        ("warning", colours.warn_text, colours.warn),
        ("alert", colours.alert_text, colours.alert),
        ("keyChip", colours.chip_text, colours.chip),
    ):
        shown = labels[name].palette().color(labels[name].foregroundRole())
        assert shown.name() == fg.name(), name
        assert contrast(shown, bg) >= MIN_CONTRAST, name
    allow = dialog.allow_button
    assert (
        contrast(
            allow.palette().color(QPalette.ColorRole.ButtonText),
            allow.palette().color(QPalette.ColorRole.Button),
        )
        >= MIN_CONTRAST
    )


def test_the_prompt_follows_the_desktop_switching_to_dark_while_it_shows(
    app: QApplication, qtbot: QtBot, desktop_palette: Callable[[QPalette], None]
) -> None:
    dialog = dialog_for(qtbot, request())
    light = dialog.palette().color(QPalette.ColorRole.Window)
    desktop_palette(dark_palette())
    qtbot.waitUntil(
        lambda: dialog.palette().color(QPalette.ColorRole.Window) == colours_for(dark_palette()).background
    )
    assert luminance(light) > 0.5
