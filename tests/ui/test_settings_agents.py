# SPDX-License-Identifier: Apache-2.0
"""The Agents tab: add by URL off the UI thread, clear errors, details, copy, refresh, remove."""

# The fixtures are imported from test_settings_support by name (pytest finds them here), and test
# parameters of the same names shadow them, as pytest intends.
# ruff: noqa: F811

from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QStyle
from pytestqt.qtbot import QtBot

from keybroker.core.agents.status import DemandStatus
from keybroker.core.errors import AgentUnreachable
from keybroker.core.models import AuditDecision, SecretValue
from keybroker.ui.settings.agent_details import demands_summary
from keybroker.ui.settings.agents_tab import AgentsTab
from keybroker.ui.settings.asker import Answer
from keybroker.ui.settings.status_line import WARN_COLOR
from keybroker.ui.settings_window import SettingsWindow
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

BASE = "http://127.0.0.1:9001"


def _tab(window: SettingsWindow) -> AgentsTab:
    window.show_tab("agents")
    return window.agents_tab


def _add_via_ui(qtbot: QtBot, window: SettingsWindow, url: str = BASE) -> AgentsTab:
    tab = _tab(window)
    tab.url_edit.setText(url)
    qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)
    wait_jobs(qtbot, window)
    return tab


def test_empty_tab_explains_how_to_add_an_agent(window: SettingsWindow) -> None:
    tab = _tab(window)
    assert tab.area.showing_placeholder
    assert tab.area.empty.title.text() == "No agents yet"
    assert "URL" in tab.area.empty.body.text()
    assert not tab.add_button.isEnabled()
    assert not tab.details.content.isVisibleTo(tab)


def test_add_fetches_the_card_on_a_worker_and_shows_what_it_demands(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards
) -> None:
    cards.cards[BASE] = demo_card()
    cards.gate = threading.Event()
    tab = _tab(window)
    tab.url_edit.setText(BASE)
    qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)
    # The fetch is held: the UI thread is free, and says what it waits for.
    assert tab.status.kind == "busy" and f"Fetching the agent card from {BASE}" in tab.status.text
    assert not tab.add_button.isEnabled()
    cards.gate.set()
    wait_jobs(qtbot, window)

    assert cards.threads and threading.main_thread().name not in cards.threads
    assert tab.status.kind == "ok"
    assert "Release Notes Writer" in tab.status.text and "release-notes-writer" in tab.status.text
    assert tab.url_edit.text() == ""
    assert [a.slug for a in tab.model.rows()] == ["release-notes-writer"]
    assert tab.selected_slug() == "release-notes-writer"
    details = tab.details
    assert details.bridged.text() == "http://127.0.0.1:7411/agents/release-notes-writer/"
    assert details.fields["url"].text() == BASE
    assert details.fields["protocols"].text() == "A2A 0.3"
    demands = {d.key: d.status for d in details.demands_model.rows()}
    assert set(demands) == {"GITHUB_TOKEN", "SLACK_WEBHOOK_URL"}
    assert all(s.startswith("missing") for s in demands.values())
    assert tab.model.data(tab.model.index(0, 2)) == "0 of 2 ready"
    assert services.audit.events()[-1].decision is AuditDecision.AGENT_ADDED


def test_demand_status_follows_stored_secrets(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards
) -> None:
    cards.cards[BASE] = demo_card()
    tab = _add_via_ui(qtbot, window)
    services.secrets.set("GITHUB_TOKEN", SecretValue("x"), owner="release-notes-writer")
    window.ctx.events.changed.emit("secrets")
    qtbot.waitUntil(lambda: tab.model.data(tab.model.index(0, 2)) == "1 of 2 ready")
    status = {d.key: d.status for d in tab.details.demands_model.rows()}
    assert status["GITHUB_TOKEN"] == "satisfied (own value, always)"
    shown = tab.details.demands_model.data(tab.details.demands_model.index(0, 2))
    assert shown == "Satisfied (own value, always)"


def test_a_stored_value_that_will_ask_first_reads_as_such_not_as_a_problem(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards
) -> None:
    """A shared value is stored; the agent has no grant yet: it is not "0 of 1 ready" with a warning."""
    cards.cards[BASE] = demo_card(demands={"GITHUB_TOKEN": {"name": "GitHub token"}})
    tab = _add_via_ui(qtbot, window)
    services.secrets.set("GITHUB_TOKEN", SecretValue("x"))
    window.ctx.events.changed.emit("secrets")
    qtbot.waitUntil(lambda: tab.model.data(tab.model.index(0, 2)) == "stored · asks first")
    model = tab.details.demands_model
    assert model.data(model.index(0, 2)) == "Stored (shared value) · asks first"
    warning = tab.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
    icon = model.data(model.index(0, 2), Qt.ItemDataRole.DecorationRole)
    assert icon is not None and not icon.isNull()
    assert icon.pixmap(16).toImage() != warning.pixmap(16).toImage()
    colour = model.data(model.index(0, 2), Qt.ItemDataRole.ForegroundRole)
    assert colour != WARN_COLOR


def test_the_summary_counts_each_kind_of_demand(window: SettingsWindow) -> None:
    def demand(key: str, status: str) -> DemandStatus:
        return DemandStatus(key, key, None, status, None)

    ready = demand("A", "satisfied (own value, always)")
    asks = demand("B", "stored (shared value); will ask on first use")
    missing = demand("C", "missing: will ask on first use")
    changed = demand("D", "stored (own value); card changed since the grant: will ask")
    assert demands_summary([]) == "none"
    assert demands_summary([ready]) == "1 of 1 ready"
    assert demands_summary([asks, asks]) == "stored · asks first"
    assert demands_summary([ready, asks]) == "1 ready · 1 asks first"
    assert demands_summary([ready, asks, missing]) == "1 of 3 ready · 1 asks first"
    assert demands_summary([missing, changed]) == "0 of 2 ready"


def test_a_dead_agent_gets_a_clear_error_and_the_url_stays(
    qtbot: QtBot, window: SettingsWindow, cards: FakeCards
) -> None:
    cards.errors[BASE] = AgentUnreachable(f"no agent answers at {BASE}: connection refused")
    tab = _add_via_ui(qtbot, window)
    assert tab.status.kind == "error"
    assert tab.status.text == f"No agent answers at {BASE}: connection refused"
    assert tab.url_edit.text() == BASE  # to fix and retry
    assert tab.add_button.isEnabled()
    assert tab.area.showing_placeholder


def test_a_malformed_card_says_what_is_wrong(qtbot: QtBot, window: SettingsWindow, cards: FakeCards) -> None:
    cards.cards[BASE] = {"name": 42, "skills": "nope"}
    tab = _add_via_ui(qtbot, window)
    assert tab.status.kind == "error"
    assert "card" in tab.status.text.lower()
    assert tab.model.rowCount() == 0


def test_a_malformed_url_is_refused_before_any_fetch(
    qtbot: QtBot, window: SettingsWindow, cards: FakeCards
) -> None:
    tab = _tab(window)
    tab.url_edit.setText("ftp://127.0.0.1/agent")
    tab.add_agent()
    assert not window.jobs.busy
    assert cards.threads == []
    assert tab.status.kind == "error" and "http:// or https://" in tab.status.text


def test_copy_puts_the_bridged_url_on_the_clipboard(
    qtbot: QtBot, window: SettingsWindow, cards: FakeCards
) -> None:
    cards.cards[BASE] = demo_card()
    tab = _add_via_ui(qtbot, window)
    qtbot.mouseClick(tab.details.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "http://127.0.0.1:7411/agents/release-notes-writer/"
    assert "Copied" in tab.status.text


def test_refresh_reports_a_changed_card(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards
) -> None:
    cards.cards[BASE] = demo_card()
    tab = _add_via_ui(qtbot, window)
    tab.refresh_agent("release-notes-writer")
    wait_jobs(qtbot, window)
    assert tab.status.kind == "ok" and "unchanged" in tab.status.text

    cards.cards[BASE] = demo_card(demands={"NEW_KEY": {"name": "New"}})
    qtbot.mouseClick(tab.details.refresh_button, Qt.MouseButton.LeftButton)
    wait_jobs(qtbot, window)
    assert tab.status.kind == "warning" and "changed" in tab.status.text
    assert [d.key for d in tab.details.demands_model.rows()] == ["NEW_KEY"]
    assert services.audit.events()[-1].decision is AuditDecision.AGENT_CHANGED


def test_remove_keeps_its_secrets_unless_asked(
    qtbot: QtBot,
    window: SettingsWindow,
    services: Services,
    cards: FakeCards,
    asker: ScriptedAsker,
    runtime: StubRuntime,
) -> None:
    cards.cards[BASE] = demo_card()
    tab = _add_via_ui(qtbot, window)
    own = services.secrets.set("GITHUB_TOKEN", SecretValue("x"), owner="release-notes-writer").record
    asker.answers.append(Answer(True, option=False))
    qtbot.mouseClick(tab.details.remove_button, Qt.MouseButton.LeftButton)
    wait_jobs(qtbot, window)
    question = asker.asked[-1]
    assert question.text == "Remove the agent Release Notes Writer (release-notes-writer)?"
    assert question.option == "Also delete its 1 secret (GITHUB_TOKEN)"
    assert services.catalog.find_agent("release-notes-writer") is None
    assert services.catalog.find_secret_by_id(own.secret_id) is not None  # kept
    assert services.vault.get(own.secret_id) == SecretValue("x")
    assert runtime.broker.forgotten == []
    assert tab.area.showing_placeholder


def test_remove_with_its_secrets_deletes_them_too(
    qtbot: QtBot,
    window: SettingsWindow,
    services: Services,
    cards: FakeCards,
    asker: ScriptedAsker,
    runtime: StubRuntime,
) -> None:
    cards.cards[BASE] = demo_card()
    tab = _add_via_ui(qtbot, window)
    owned = [
        services.secrets.set(k, SecretValue("x"), owner="release-notes-writer").record.secret_id
        for k in ("GITHUB_TOKEN", "SLACK_WEBHOOK_URL")
    ]
    shared = services.secrets.set("OTHER", SecretValue("y")).record
    asker.answers.append(Answer(True, option=True))
    tab.remove_agent("release-notes-writer")
    wait_jobs(qtbot, window)
    assert "2 secrets" in (asker.asked[-1].option or "")
    assert services.catalog.find_agent("release-notes-writer") is None
    assert all(services.catalog.find_secret_by_id(i) is None for i in owned)
    assert all(services.vault.get(i) is None for i in owned)
    assert sorted(runtime.broker.forgotten) == sorted(owned)
    assert services.catalog.find_secret_by_id(shared.secret_id) is not None
    assert "and its 2 secrets" in tab.status.text


def test_declining_removal_changes_nothing(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards, asker: ScriptedAsker
) -> None:
    cards.cards[BASE] = demo_card()
    tab = _add_via_ui(qtbot, window)
    tab.remove_agent("release-notes-writer")
    wait_jobs(qtbot, window)
    assert len(asker.asked) == 1 and asker.asked[0].option is None  # it owns nothing: no checkbox
    assert services.catalog.find_agent("release-notes-writer") is not None


def test_add_a_secret_for_the_agent_opens_the_secrets_tab(
    qtbot: QtBot, window: SettingsWindow, cards: FakeCards
) -> None:
    cards.cards[BASE] = demo_card()
    tab = _add_via_ui(qtbot, window)
    qtbot.mouseClick(tab.details.add_secret_button, Qt.MouseButton.LeftButton)
    assert window.current_tab_name() == "secrets"
    dialog = window.secrets_tab.dialog
    assert dialog.owner == "release-notes-writer"
    dialog.reject()


def test_schemes_show_their_status(qtbot: QtBot, window: SettingsWindow, cards: FakeCards) -> None:
    cards.cards[BASE] = demo_card(
        schemes={
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "oidc": {"type": "openIdConnect", "openIdConnectUrl": "https://id.example/.well-known/x"},
        }
    )
    tab = _add_via_ui(qtbot, window)
    rows = {s.name: s for s in tab.details.schemes_model.rows()}
    assert set(rows) == {"apiKey", "oidc"}
    assert rows["apiKey"].summary == "API key in header X-API-Key"
    assert not tab.details.schemes_area.showing_placeholder


def test_without_agents_the_empty_state_spans_the_tab_and_the_details_come_back_at_their_width(
    qtbot: QtBot, window: SettingsWindow, cards: FakeCards
) -> None:
    window.resize(1000, 660)
    window.show()
    tab = _tab(window)
    qtbot.waitExposed(window)
    assert tab.area.showing_placeholder
    assert tab.details.isHidden()  # no blank pane beside "No agents yet"
    qtbot.waitUntil(lambda: tab.area.width() > tab.splitter.width() * 0.9)
    cards.cards[BASE] = demo_card(demands={"GITHUB_TOKEN": {"name": "GitHub token"}})
    _add_via_ui(qtbot, window)
    qtbot.waitUntil(lambda: not tab.details.isHidden())
    qtbot.wait(50)
    left, right = tab.splitter.sizes()
    assert right > left > 0, (left, right)  # the details get the larger share again
    assert "; it demands 1 secret. Point A2A clients at" in tab.status.text


def test_a_long_demand_status_wraps_instead_of_being_cut(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards
) -> None:
    cards.cards[BASE] = demo_card(demands={"WAREHOUSE_DSN": {"name": "Warehouse DSN"}})
    window.resize(760, 600)  # the narrowest window: the status column is too narrow for one line
    window.show()
    tab = _add_via_ui(qtbot, window)
    qtbot.waitExposed(window)
    services.secrets.set("WAREHOUSE_DSN", SecretValue("postgres://x"), owner="release-notes-writer")
    window.ctx.announce("secrets")
    view = tab.details.demands_view
    qtbot.waitUntil(lambda: str(view.model().index(0, 2).data()).startswith("Satisfied"))
    status = str(view.model().index(0, 2).data())
    column = view.columnWidth(2)
    needed = view.fontMetrics().horizontalAdvance(status) + 40  # text, icon and padding
    assert needed > column, (needed, column)
    # Too long for one line: the row grows to show all of it, and the table grows with its row.
    qtbot.waitUntil(lambda: view.rowHeight(0) > view.fontMetrics().height() * 2)
    qtbot.waitUntil(lambda: view.height() >= view.horizontalHeader().height() + view.rowHeight(0))
    assert view.textElideMode() == Qt.TextElideMode.ElideNone and view.wordWrap()


def test_an_own_port_is_set_refused_when_taken_and_cleared(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards
) -> None:
    import socket

    from tests.interop.conftest import free_port

    cards.cards[BASE] = demo_card()
    tab = _add_via_ui(qtbot, window)
    row, slug = tab.details.port_row, "release-notes-writer"
    assert (row.spin.text(), row.apply_button.isEnabled()) == ("none", False)

    port = free_port()
    row.spin.setValue(port)
    assert row.apply_button.isEnabled()
    qtbot.mouseClick(row.apply_button, Qt.MouseButton.LeftButton)
    wait_jobs(qtbot, window)
    assert tab.status.kind == "ok" and f"http://127.0.0.1:{port}/" in tab.status.text
    assert tab.details.bridged.text() == f"http://127.0.0.1:{port}/"
    assert services.catalog.get_agent(slug).bridge_port == port
    assert not row.apply_button.isEnabled()

    with socket.socket() as other:  # another program's port: refused, with the reason; nothing changes
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        taken = other.getsockname()[1]
        row.spin.setValue(taken)
        qtbot.mouseClick(row.apply_button, Qt.MouseButton.LeftButton)
        wait_jobs(qtbot, window)
    assert tab.status.kind == "error" and f"Port {taken} is in use by another program" in tab.status.text
    qtbot.waitUntil(lambda: row.spin.value() == port)
    assert services.catalog.get_agent(slug).bridge_port == port

    row.spin.setValue(0)
    qtbot.mouseClick(row.apply_button, Qt.MouseButton.LeftButton)
    wait_jobs(qtbot, window)
    assert tab.details.bridged.text() == f"http://127.0.0.1:7411/agents/{slug}/"
    assert services.catalog.get_agent(slug).bridge_port is None
    assert row.spin.text() == "none"
