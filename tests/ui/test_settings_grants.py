# SPDX-License-Identifier: Apache-2.0
"""The Grants tab: live grants, a countdown that runs only while visible, revoke, lock now."""

# The fixtures are imported from test_settings_support by name (pytest finds them here), and test
# parameters of the same names shadow them, as pytest intends.
# ruff: noqa: F811

from __future__ import annotations

from pytestqt.qtbot import QtBot

from keybroker.core.broker.grant_rules import make_grant
from keybroker.core.models import AuditDecision, GrantScope, SecretValue
from keybroker.ui.settings.asker import Answer
from keybroker.ui.settings.grants_tab import GrantsTab
from keybroker.ui.settings_window import SettingsWindow
from keybroker.wiring.services import Services
from tests.fakes import FakeClock
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

BASE = "http://127.0.0.1:9001"


def _seed(services: Services, cards: FakeCards, clock: FakeClock) -> dict[str, str]:
    """An agent, a shared secret with a 15-minute and an until-lock grant, an own secret (always)."""
    cards.cards[BASE] = demo_card()
    agent = services.agents.add(BASE)
    shared = services.secrets.set("GITHUB_TOKEN", SecretValue("a")).record
    own = services.secrets.set("SLACK_WEBHOOK_URL", SecretValue("b"), owner=agent.slug).record
    minutes = make_grant(
        agent=agent, secret=shared, scope=GrantScope.MINUTES, minutes=15, now=clock.now(), grant_id="gr_min"
    )
    lock = make_grant(
        agent=agent, secret=shared, scope=GrantScope.UNTIL_LOCK, now=clock.now(), grant_id="gr_lock"
    )
    services.catalog.add_grant(minutes)
    services.catalog.add_grant(lock)
    always = services.catalog.list_grants(secret_id=own.secret_id)[0].grant_id
    return {"minutes": "gr_min", "lock": "gr_lock", "always": always, "shared": shared.secret_id}


def _tab(window: SettingsWindow) -> GrantsTab:
    window.show_tab("grants")
    return window.grants_tab


def _ends(tab: GrantsTab, grant_id: str) -> str:
    row = tab.model.row_of(grant_id)
    assert row is not None, f"{grant_id} is not listed"
    return str(tab.model.data(tab.model.index(row, GrantsTab.ENDS_COLUMN)))


def _select(tab: GrantsTab, grant_id: str) -> None:
    row = tab.model.row_of(grant_id)
    assert row is not None
    tab.view.selectRow(row)


def test_empty_tab_explains_grants(window: SettingsWindow) -> None:
    tab = _tab(window)
    assert tab.area.showing_placeholder
    assert tab.area.empty.title.text() == "No live grants"
    assert not tab.counting_down


def test_lists_live_grants_with_scope_and_time_left(
    window: SettingsWindow, services: Services, cards: FakeCards, clock: FakeClock
) -> None:
    ids = _seed(services, cards, clock)
    tab = _tab(window)
    assert {r.grant_id for r in tab.model.rows()} == {ids["minutes"], ids["lock"], ids["always"]}
    assert _ends(tab, ids["minutes"]) == "in 15:00"
    assert _ends(tab, ids["lock"]) == "at the next lock"
    assert _ends(tab, ids["always"]) == "when revoked"
    row = tab.model.row_of(ids["minutes"])
    assert tab.model.data(tab.model.index(row, 2)) == "15 minutes"
    assert tab.model.data(tab.model.index(row, 1)) == "GITHUB_TOKEN  (shared)"
    assert tab.summary.text() == "3 live grants"


def test_countdown_runs_only_while_visible_and_something_counts_down(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards, clock: FakeClock
) -> None:
    ids = _seed(services, cards, clock)
    tab = window.grants_tab
    tab.refresh_now()
    assert not tab.counting_down  # never shown
    window.show()
    window.show_tab("grants")
    qtbot.waitExposed(window)
    assert tab.counting_down
    clock.advance(61)
    qtbot.waitUntil(lambda: _ends(tab, ids["minutes"]) == "in 13:59", timeout=3000)
    window.show_tab("secrets")
    assert not tab.counting_down  # hidden: no timer
    window.show_tab("grants")
    assert tab.counting_down
    window.hide()
    assert not tab.counting_down
    window.show()
    window.show_tab("grants")
    services.grants.revoke(ids["minutes"])
    window.ctx.events.changed.emit("grants")
    qtbot.waitUntil(lambda: tab.model.row_of(ids["minutes"]) is None)
    assert not tab.counting_down  # nothing left that ends by itself


def test_an_expired_grant_leaves_the_table(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards, clock: FakeClock
) -> None:
    ids = _seed(services, cards, clock)
    window.show()
    tab = _tab(window)
    qtbot.waitExposed(window)
    clock.advance(15 * 60)
    qtbot.waitUntil(lambda: tab.model.row_of(ids["minutes"]) is None, timeout=3000)
    assert tab.model.row_of(ids["lock"]) is not None


def test_a_grant_for_an_old_card_shows_as_suspended(
    window: SettingsWindow, services: Services, cards: FakeCards, clock: FakeClock
) -> None:
    ids = _seed(services, cards, clock)
    cards.cards[BASE] = demo_card(demands={"OTHER": {"name": "Other"}})
    services.agents.refresh("release-notes-writer")
    tab = _tab(window)
    assert _ends(tab, ids["lock"]) == "at the next lock (suspended: card changed)"


def test_revoke_asks_naming_agent_and_secret_then_ends_the_grant(
    qtbot: QtBot,
    window: SettingsWindow,
    services: Services,
    cards: FakeCards,
    clock: FakeClock,
    asker: ScriptedAsker,
    runtime: StubRuntime,
) -> None:
    ids = _seed(services, cards, clock)
    tab = _tab(window)
    _select(tab, ids["lock"])
    tab.revoke_selected()  # declined
    assert services.catalog.find_grant(ids["lock"]) is not None
    question = asker.asked[-1]
    assert question.text == (
        "Revoke the grant that lets Release Notes Writer (release-notes-writer) receive "
        "GITHUB_TOKEN (shared)?"
    )
    assert "until lock" in question.detail

    asker.answers.append(Answer(True))
    tab.revoke_selected()
    wait_jobs(qtbot, window)
    assert services.catalog.find_grant(ids["lock"]) is None
    assert tab.model.row_of(ids["lock"]) is None
    assert runtime.broker.forgotten == [ids["shared"]]
    last = services.audit.events()[-1]
    assert (last.decision, last.scope, last.caller) == (
        AuditDecision.REVOKED,
        "until_lock",
        "settings window",
    )


def test_lock_now_goes_to_the_app_when_it_listens(
    qtbot: QtBot,
    window: SettingsWindow,
    services: Services,
    cards: FakeCards,
    clock: FakeClock,
    runtime: StubRuntime,
) -> None:
    _seed(services, cards, clock)
    heard: list[bool] = []
    window.lock_requested.connect(lambda: heard.append(True))
    tab = _tab(window)
    tab.lock_action.trigger()
    assert heard == [True]
    assert runtime.broker.locks == 0  # the app locks, not the window


def test_lock_now_locks_itself_when_nothing_listens(
    qtbot: QtBot,
    window: SettingsWindow,
    services: Services,
    cards: FakeCards,
    clock: FakeClock,
    runtime: StubRuntime,
) -> None:
    ids = _seed(services, cards, clock)
    tab = _tab(window)
    tab.lock_action.trigger()
    wait_jobs(qtbot, window)
    assert runtime.broker.locks == 1
    assert {r.grant_id for r in tab.model.rows()} == {ids["always"]}
    assert "2 grants ended" in tab.status.text


def test_a_task_grant_ends_with_its_task_or_at_its_ceiling() -> None:
    from keybroker.core.models import Grant
    from keybroker.ui.settings.formatting import grant_ends

    task = Grant("g1", "agent", "s1", GrantScope.TASK, created=1000.0, expires=1000.0 + 86400, task_id="t1")
    assert grant_ends(task, 1000.0) == "when the task ends (at the latest in 1 d 0 h)"
    assert grant_ends(task, 1000.0 + 86400 - 90) == "when the task ends (at the latest in 1:30)"
    assert grant_ends(task, 1000.0 + 86400) == "ended"
    legacy = Grant("g2", "agent", "s1", GrantScope.TASK, created=1000.0, task_id="t1")
    assert grant_ends(legacy, 1000.0) == "when the task ends"
