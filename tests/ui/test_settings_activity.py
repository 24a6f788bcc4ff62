# SPDX-License-Identifier: Apache-2.0
"""The Activity tab: the audit log filtered, exported to CSV and JSON, and its chain verified."""

# The fixtures are imported from test_settings_support by name (pytest finds them here), and test
# parameters of the same names shadow them, as pytest intends.
# ruff: noqa: F811

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

from pytestqt.qtbot import QtBot

from keybroker.core.models import AuditDecision
from keybroker.ui.settings.activity_tab import EXPORT_FILTERS, ActivityTab
from keybroker.ui.settings.audit_export import to_csv
from keybroker.ui.settings_window import SettingsWindow
from keybroker.wiring.services import Services
from tests.ui.test_settings_support import (  # noqa: F401 - fixtures are used by name
    ScriptedAsker,
    asker,
    autostart,
    cards,
    clock,
    events,
    runtime,
    services,
    wait_jobs,
    window,
)


def _log(services: Services) -> None:
    a = services.audit
    a.append(AuditDecision.AGENT_ADDED, agent="notes", detail="Release Notes Writer at http://127.0.0.1:9001")
    a.append(AuditDecision.RELEASED, agent="notes", key="GITHUB_TOKEN", scope="always", task_id="t-1")
    a.append(AuditDecision.DENIED, agent="travel", key="AMADEUS_API_KEY", detail="declined in the prompt")
    a.append(AuditDecision.RELEASED, agent="travel", key="OPENAI_API_KEY", scope="minutes")
    a.append(AuditDecision.TIMED_OUT, agent="notes", key="SLACK_WEBHOOK_URL", detail='=HYPERLINK("x")')


def _tab(window: SettingsWindow) -> ActivityTab:
    window.show_tab("activity")
    return window.activity_tab


def _decisions(tab: ActivityTab) -> list[str]:
    return [e.decision.value for e in sorted(tab.model.rows(), key=lambda e: e.seq)]


def test_empty_log_explains_itself(window: SettingsWindow) -> None:
    tab = _tab(window)
    assert tab.area.showing_placeholder
    assert tab.area.empty.title.text() == "No activity yet"
    assert tab.footer.text() == ""


def test_lists_events_newest_first(window: SettingsWindow, services: Services) -> None:
    _log(services)
    tab = _tab(window)
    assert tab.model.rowCount() == 5
    first = tab.model.record(0)
    assert first.seq == 5  # newest on top
    assert tab.model.data(tab.model.index(0, 1)) == "Timed out"
    assert tab.footer.text() == "5 events."
    assert [tab.agent_combo.itemData(i) for i in range(tab.agent_combo.count())] == [None, "notes", "travel"]
    assert tab.agent_combo.itemText(1) == "notes (removed)"  # in the log, no longer an agent


def test_filters_by_agent_decision_and_text(window: SettingsWindow, services: Services) -> None:
    _log(services)
    tab = _tab(window)
    tab.agent_combo.setCurrentIndex(tab.agent_combo.findData("notes"))
    assert _decisions(tab) == ["agent_added", "released", "timed_out"]
    tab.decision_combo.setCurrentIndex(tab.decision_combo.findData("released"))
    assert _decisions(tab) == ["released"]
    assert tab.footer.text() == "1 of 5 events match."
    tab.agent_combo.setCurrentIndex(0)
    assert [e.key for e in tab.model.rows()] == ["OPENAI_API_KEY", "GITHUB_TOKEN"]  # newest first
    tab.decision_combo.setCurrentIndex(0)
    tab.search_edit.setText("declined")
    tab.refresh_now()  # the search waits 250 ms for more typing
    assert _decisions(tab) == ["denied"]
    tab.search_edit.setText("no such text anywhere")
    tab.refresh_now()
    assert tab.area.showing_placeholder
    assert tab.area.empty.title.text() == "No matching events"


def test_search_is_debounced_while_typing(qtbot: QtBot, window: SettingsWindow, services: Services) -> None:
    _log(services)
    window.show()
    tab = _tab(window)
    qtbot.waitExposed(window)
    before = tab.refresh_count
    qtbot.keyClicks(tab.search_edit, "declined")
    assert tab.refresh_count == before  # nothing re-read per keystroke
    qtbot.waitUntil(lambda: _decisions(tab) == ["denied"], timeout=2000)
    assert tab.refresh_count == before + 1


def test_export_csv_writes_the_filtered_events(
    qtbot: QtBot, window: SettingsWindow, services: Services, asker: ScriptedAsker, tmp_path: Path
) -> None:
    _log(services)
    tab = _tab(window)
    tab.agent_combo.setCurrentIndex(tab.agent_combo.findData("notes"))
    asker.save_to = (tmp_path / "activity", EXPORT_FILTERS[0])
    tab.export()
    wait_jobs(qtbot, window)
    _title, suggested, filters = asker.save_requests[-1]
    assert suggested.endswith(".csv") and tuple(filters) == EXPORT_FILTERS
    target = tmp_path / "activity.csv"  # the suffix of the chosen format was added
    assert tab.status.kind == "ok" and str(target) in tab.status.text and "3 events" in tab.status.text
    with open(target, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["decision"] for r in rows] == ["agent_added", "released", "timed_out"]
    assert {r["agent"] for r in rows} == {"notes"}
    assert rows[1]["key"] == "GITHUB_TOKEN" and rows[1]["task_id"] == "t-1"
    assert rows[0]["time"].endswith("Z") and rows[0]["hash"] == services.audit.events()[0].hash
    assert rows[2]["detail"] == '\'=HYPERLINK("x")'  # a spreadsheet will not run it


def test_export_json_keeps_every_field_and_the_filters(
    qtbot: QtBot, window: SettingsWindow, services: Services, asker: ScriptedAsker, tmp_path: Path
) -> None:
    _log(services)
    tab = _tab(window)
    tab.decision_combo.setCurrentIndex(tab.decision_combo.findData("released"))
    asker.save_to = (tmp_path / "audit.json", EXPORT_FILTERS[0])  # the suffix wins over the filter
    tab.export()
    wait_jobs(qtbot, window)
    doc = json.loads((tmp_path / "audit.json").read_text("utf-8"))
    assert doc["filters"] == {"decision": "released"}
    assert doc["count"] == 2
    expected = [e.to_json() for e in services.audit.events() if e.decision is AuditDecision.RELEASED]
    assert [{k: v for k, v in e.items() if k != "time"} for e in doc["events"]] == expected


def test_export_to_an_unwritable_place_says_so(
    qtbot: QtBot, window: SettingsWindow, services: Services, asker: ScriptedAsker, tmp_path: Path
) -> None:
    _log(services)
    tab = _tab(window)
    asker.save_to = (tmp_path / "missing-dir" / "audit.csv", EXPORT_FILTERS[0])
    tab.export()
    wait_jobs(qtbot, window)
    assert tab.status.kind == "error" and "Could not write" in tab.status.text
    assert tab.export_button.isEnabled()


def test_export_cancelled_writes_nothing(
    window: SettingsWindow, services: Services, asker: ScriptedAsker
) -> None:
    _log(services)
    tab = _tab(window)
    tab.export()
    assert asker.save_requests and not window.jobs.busy
    assert tab.status.kind == ""


def test_verify_reports_an_intact_chain(qtbot: QtBot, window: SettingsWindow, services: Services) -> None:
    _log(services)
    tab = _tab(window)
    tab.verify()
    wait_jobs(qtbot, window)
    assert tab.result.ok is True
    assert tab.result.title.text() == "The audit log is intact"
    assert "5 events checked" in tab.result.body.text()
    assert tab.result.isVisibleTo(tab)


def test_verify_catches_an_edited_event(qtbot: QtBot, window: SettingsWindow, services: Services) -> None:
    _log(services)
    services.audit.flush()
    with sqlite3.connect(services.paths.catalog_db) as db:
        db.execute("UPDATE audit SET detail = 'nothing to see' WHERE seq = 3")
    tab = _tab(window)
    tab.verify()
    wait_jobs(qtbot, window)
    assert tab.result.ok is False
    assert tab.result.title.text().startswith("The audit log is broken")
    assert "event 3: its contents do not match its hash (edited)" in tab.result.body.text()


def test_verify_catches_events_cut_off_the_end(
    qtbot: QtBot, window: SettingsWindow, services: Services
) -> None:
    _log(services)
    with sqlite3.connect(services.paths.catalog_db) as db:
        db.execute("DELETE FROM audit WHERE seq = 5")
    tab = _tab(window)
    tab.verify()
    wait_jobs(qtbot, window)
    assert tab.result.ok is False
    assert "removed from the end" in tab.result.body.text()


def test_audit_changes_refresh_a_visible_tab_once_and_a_hidden_one_later(
    qtbot: QtBot, window: SettingsWindow, services: Services
) -> None:
    window.show()
    tab = _tab(window)
    qtbot.waitExposed(window)
    before = tab.refresh_count
    _log(services)
    for _ in range(20):
        window.ctx.events.changed.emit("audit")
    qtbot.waitUntil(lambda: tab.model.rowCount() == 5, timeout=2000)
    qtbot.wait(300)
    assert tab.refresh_count == before + 1

    window.show_tab("general")
    hidden_count = tab.refresh_count
    services.audit.append(AuditDecision.LOCKED, detail="ended 0 grant(s)")
    window.ctx.events.changed.emit("audit")
    qtbot.wait(300)
    assert tab.refresh_count == hidden_count and tab.dirty  # no work while hidden
    window.show_tab("activity")
    assert tab.model.rowCount() == 6


def test_csv_has_a_header_even_without_events() -> None:
    assert to_csv([]).splitlines() == [
        "seq,time,decision,agent,key,secret_id,scope,task_id,context_id,caller,detail,prev_hash,hash"
    ]


def test_the_selected_event_shows_in_full_under_the_table(window: SettingsWindow, services: Services) -> None:
    long_detail = "preflight: prompt pr_0123456789ab: a value typed into the prompt, " + "x" * 120
    services.audit.append(
        AuditDecision.RELEASED,
        agent="notes",
        key="GITHUB_TOKEN",
        scope="minutes",
        task_id="task-42",
        context_id="ctx-7",
        detail=long_detail,
    )
    tab = _tab(window)
    assert not tab.event_detail.isVisibleTo(tab)  # nothing selected: no empty line
    tab.view.selectRow(0)
    text = tab.event_detail.text()
    assert tab.event_detail.isVisibleTo(tab)
    assert "Released GITHUB_TOKEN · notes · Minutes" in text
    assert long_detail in text and "task task-42" in text and "conversation ctx-7" in text
    tab.view.clearSelection()
    assert not tab.event_detail.isVisibleTo(tab)
