# SPDX-License-Identifier: Apache-2.0
"""The Activity tab: the audit log, filtered by agent, decision and text; exported; verified.

Longer than 300 lines because its filters, table, export and chain check act on the same widgets and
the same filtered events; how an event reads is formatting.py's, the export format audit_export.py's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from keybroker.core.audit.log import AuditReport
from keybroker.core.models import AuditDecision, AuditEvent
from keybroker.ui.settings.audit_export import format_for, with_suffix, write_export
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.formatting import (
    DECISION_LABELS,
    decision_label,
    event_summary,
    event_tooltip,
    full_time,
    scope_label,
    when,
)
from keybroker.ui.settings.status_line import ERROR_COLOR, OK_COLOR, WARN_COLOR, StatusLine
from keybroker.ui.settings.tab_base import SettingsTab
from keybroker.ui.settings.table import Column, RecordTableModel, TableArea, make_table_view, selected_record
from keybroker.ui.settings.verify_result import VerifyResult

#: The newest events shown; exports and checks cover everything.
DISPLAY_LIMIT = 2000
EXPORT_FILTERS = ("CSV files (*.csv)", "JSON files (*.json)")

_DECISION_COLORS: dict[AuditDecision, QColor] = {
    AuditDecision.RELEASED: OK_COLOR,
    AuditDecision.GRANTED: OK_COLOR,
    AuditDecision.DENIED: ERROR_COLOR,
    AuditDecision.TIMED_OUT: WARN_COLOR,
    AuditDecision.REVEALED: WARN_COLOR,
    AuditDecision.REVOKED: WARN_COLOR,
    AuditDecision.DELETED: WARN_COLOR,
    AuditDecision.AGENT_CHANGED: WARN_COLOR,
    AuditDecision.PURGED: ERROR_COLOR,
    AuditDecision.REPAIRED: WARN_COLOR,
}
EMPTY_TITLE = "No activity yet"
EMPTY_TEXT = (
    "Every release, denial, reveal and change shows here, hash-chained so that editing or removing "
    "an event is caught by “Verify chain”."
)


class ActivityTab(SettingsTab):
    """The audit log."""

    topics = frozenset({"audit"})
    refresh_delay_ms = 250  # a busy bridge appends many events: re-read at most four times a second

    def __init__(self, ctx: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.agent_combo = QComboBox()
        self.agent_combo.setObjectName("auditAgent")
        self.agent_combo.addItem("All agents", None)
        self.agent_combo.setMinimumContentsLength(14)
        self.agent_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.decision_combo = QComboBox()
        self.decision_combo.setObjectName("auditDecision")
        self.decision_combo.addItem("All decisions", None)
        for decision, label in DECISION_LABELS.items():
            self.decision_combo.addItem(label, decision.value)
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("auditSearch")
        self.search_edit.setPlaceholderText("Search keys, agents, details")
        self.search_edit.setToolTip("Show only the events that mention this text (Ctrl+F)")
        self.search_edit.setClearButtonEnabled(True)
        self._search_delay = QTimer(self)
        self._search_delay.setSingleShot(True)
        self._search_delay.setInterval(250)
        self._search_delay.timeout.connect(self.refresh_now)
        self.search_edit.textChanged.connect(lambda _t: self._search_delay.start())
        self.agent_combo.currentIndexChanged.connect(lambda _i: self.refresh_now())
        self.decision_combo.currentIndexChanged.connect(lambda _i: self.refresh_now())

        style = self.style()
        self.verify_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton), "Verify chain"
        )
        self.verify_button.setObjectName("verifyAudit")
        self.verify_button.setToolTip(
            "Recompute every hash and compare the end with the head kept in the vault"
        )
        self.verify_button.clicked.connect(self.verify)
        self.export_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_DialogSaveButton), "Export…"
        )
        self.export_button.setObjectName("exportAudit")
        self.export_button.setToolTip("Save the events these filters select as CSV or JSON")
        self.export_button.clicked.connect(self.export)

        filters = QHBoxLayout()
        agent_label = QLabel("&Agent:")
        agent_label.setBuddy(self.agent_combo)
        filters.addWidget(agent_label)
        filters.addWidget(self.agent_combo)
        filters.addSpacing(6)
        decision_caption = QLabel("&Decision:")
        decision_caption.setBuddy(self.decision_combo)
        filters.addWidget(decision_caption)
        filters.addWidget(self.decision_combo)
        filters.addSpacing(6)
        filters.addWidget(self.search_edit, 1)
        filters.addSpacing(12)
        filters.addWidget(self.verify_button)
        filters.addWidget(self.export_button)

        now = ctx.now
        columns: list[Column[AuditEvent]] = [
            Column(
                "Time",
                lambda e: when(e.ts, now()),
                sort_key=lambda e: e.seq,
                chars=14,
                tooltip=lambda e: f"{full_time(e.ts)} — event {e.seq}",
            ),
            Column(
                "Decision",
                lambda e: decision_label(e.decision),
                chars=13,
                foreground=lambda e: _DECISION_COLORS.get(e.decision),
            ),
            Column("Agent", lambda e: e.agent or "", chars=16),
            Column("Key", lambda e: e.key or "", chars=18, tooltip=lambda e: e.secret_id or e.key),
            Column("Scope", lambda e: scope_label(e.scope), chars=11),
            Column("Caller", lambda e: e.caller or "", chars=18),
            Column("Detail", lambda e: e.detail or "", tooltip=lambda e: event_tooltip(e)),
        ]
        self.model: RecordTableModel[AuditEvent] = RecordTableModel(columns, key=lambda e: str(e.seq))
        self.view = make_table_view(self.model)
        self.view.setAccessibleName("Activity log")
        self.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.area = TableArea(self.view, EMPTY_TITLE, EMPTY_TEXT)
        self.result = VerifyResult()
        self.status = StatusLine()
        self.footer = QLabel()
        self.footer.setObjectName("auditFooter")
        # The selected event in full: its detail column is often cut to fit.
        self.event_detail = QLabel()
        self.event_detail.setObjectName("auditEventDetail")
        self.event_detail.setTextFormat(Qt.TextFormat.PlainText)
        self.event_detail.setWordWrap(True)
        self.event_detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.event_detail.setVisible(False)
        self.view.selectionModel().selectionChanged.connect(lambda *_a: self._show_selected())
        self.model.modelReset.connect(self._show_selected)

        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.result)
        layout.addWidget(self.status)
        layout.addWidget(self.area, 1)
        layout.addWidget(self.event_detail)
        layout.addWidget(self.footer)
        self.total = 0

    def focus_filter(self) -> None:
        """Ctrl+F: the search field."""
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    # filters ------------------------------------------------------------------------------------

    def filters(self) -> dict[str, Any]:
        """The current agent, decision and search filters (None: any)."""
        search = self.search_edit.text().strip()
        return {
            "agent": self.agent_combo.currentData(),
            "decision": self.decision_combo.currentData(),
            "search": search or None,
        }

    def matching_events(self, f: dict[str, Any], limit: int | None) -> list[AuditEvent]:
        """Events the filters `f` select, oldest first, at most the newest `limit` (any thread)."""
        admin = self.ctx.admin
        decision = f["decision"]
        # The log has no decision filter: with one, read everything and keep the newest matches.
        events = admin.audit_events(agent=f["agent"], search=f["search"], limit=None if decision else limit)
        if decision:
            events = [e for e in events if e.decision == decision]
            if limit is not None:
                events = events[-limit:]
        return events

    def _update_agents(self) -> None:
        admin = self.ctx.admin
        known = {a.slug for a in admin.agents()}
        logged = admin.audit_agents()
        wanted = sorted(known | logged)
        current = [self.agent_combo.itemData(i) for i in range(1, self.agent_combo.count())]
        if current == wanted:
            return
        chosen = self.agent_combo.currentData()
        self.agent_combo.blockSignals(True)
        try:
            while self.agent_combo.count() > 1:
                self.agent_combo.removeItem(1)
            for slug in wanted:
                self.agent_combo.addItem(slug if slug in known else f"{slug} (removed)", slug)
            found = self.agent_combo.findData(chosen) if chosen else 0
            self.agent_combo.setCurrentIndex(max(found, 0))
        finally:
            self.agent_combo.blockSignals(False)

    # reading ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the newest events the filters select."""
        self._search_delay.stop()
        self._update_agents()
        f = self.filters()
        events = self.matching_events(f, DISPLAY_LIMIT)
        self.total = self.ctx.admin.audit_count()
        filtered = any(v is not None for v in f.values())
        if filtered and self.total:
            self.area.empty.set_text(
                "No matching events",
                "No event matches these filters; widen the agent, decision or search to see more.",
            )
        else:
            self.area.empty.set_text(EMPTY_TITLE, EMPTY_TEXT)
        self.model.set_rows(events)
        if len(events) >= DISPLAY_LIMIT:
            self.footer.setText(
                f"Showing the newest {len(events):,} matching events of {self.total:,}; "
                "exports include them all."
            )
        elif filtered:
            self.footer.setText(f"{len(events):,} of {self.total:,} events match.")
        else:
            self.footer.setText(
                f"{self.total:,} event{'s' if self.total != 1 else ''}." if self.total else ""
            )

    def _show_selected(self) -> None:
        event = selected_record(self.view)
        self.event_detail.setVisible(isinstance(event, AuditEvent))
        self.event_detail.setText(event_summary(event) if isinstance(event, AuditEvent) else "")

    # verify -------------------------------------------------------------------------------------

    def verify(self) -> None:
        """Check the whole chain and the head in the vault (off the UI thread: it reads the vault)."""
        admin = self.ctx.admin
        self.verify_button.setEnabled(False)
        self.status.busy("Checking every event's hash…")

        def done(report: AuditReport) -> None:
            self.verify_button.setEnabled(True)
            self.status.clear()
            self.result.show_report(report, self.ctx.now())

        def failed(exc: BaseException) -> None:
            self.verify_button.setEnabled(True)
            self.status.failed(exc)

        self.ctx.jobs.submit(admin.verify_audit, on_done=done, on_error=failed)

    # export -------------------------------------------------------------------------------------

    def export(self) -> None:
        """Ask where, then write the events the filters select (all of them, not only those shown)."""
        stamp = dt.datetime.fromtimestamp(self.ctx.now()).strftime("%Y-%m-%d")
        self.ctx.asker.save_path(
            self,
            "Export the activity log",
            f"keybroker-activity-{stamp}.csv",
            EXPORT_FILTERS,
            self._export_to,
        )

    def _export_to(self, path: Path, chosen_filter: str) -> None:
        fmt = format_for(path, chosen_filter)
        target = with_suffix(path, fmt)
        chosen = self.filters()
        filters = {k: v for k, v in chosen.items() if v is not None}
        exported_at = self.ctx.now()
        self.export_button.setEnabled(False)
        self.status.busy(f"Exporting to {target}…")

        def work() -> tuple[Path, int]:
            events = self.matching_events(chosen, None)
            write_export(target, events, fmt, filters=filters, exported_at=exported_at)
            return target, len(events)

        def done(result: tuple[Path, int]) -> None:
            self.export_button.setEnabled(True)
            written, count = result
            self.status.ok(
                f"Exported {count:,} event{'s' if count != 1 else ''} as {fmt.upper()} to {written}"
            )

        def failed(exc: BaseException) -> None:
            self.export_button.setEnabled(True)
            if isinstance(exc, OSError):
                self.status.error(f"Could not write {target}: {exc.strerror or exc}")
            else:
                self.status.failed(exc)

        self.ctx.jobs.submit(work, on_done=done, on_error=failed)
