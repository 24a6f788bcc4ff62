# SPDX-License-Identifier: Apache-2.0
"""The Grants tab: live grants, what each lets an agent receive and until when; revoke; lock now.

"N minutes" grants count down. The countdown timer runs only while this tab is visible and shows at
least one such grant: a hidden or idle window costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeySequence
from PySide6.QtWidgets import QLabel, QStyle, QVBoxLayout, QWidget

from keybroker.core.agents.status import AgentStatus
from keybroker.core.broker.grant_rules import grant_is_live
from keybroker.core.models import Grant, GrantScope, SecretRecord
from keybroker.ui.settings import questions
from keybroker.ui.settings.action_bar import ActionBar
from keybroker.ui.settings.asker import Answer
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.formatting import (
    full_time,
    grant_ends,
    grant_scope_text,
    owner_label,
    scope_label,
    when,
)
from keybroker.ui.settings.status_line import StatusLine
from keybroker.ui.settings.tab_base import SettingsTab
from keybroker.ui.settings.table import (
    Column,
    RecordTableModel,
    TableArea,
    make_table_view,
    select_key,
    selected_record,
)

SUSPENDED_COLOR = QColor("#8a8a8a")
EMPTY_TITLE = "No live grants"
EMPTY_TEXT = (
    "When you allow an agent to receive a secret, the grant shows here until it ends. "
    "Values you store for an agent carry an “always” grant for it."
)


@dataclass(frozen=True)
class GrantRow:
    """A grant with the names the table shows."""

    grant: Grant
    agent_name: str
    key: str
    owner: str | None
    suspended: bool  # the agent's card changed since the grant was given

    @property
    def grant_id(self) -> str:
        """The grant's id."""
        return self.grant.grant_id


def grant_rows(
    grants: list[Grant], agents: dict[str, AgentStatus], secrets: dict[str, SecretRecord], now: float
) -> list[GrantRow]:
    """Live grants joined with their agent and secret; ended ones left out."""
    rows = []
    for g in grants:
        if not grant_is_live(g, now, task_id=g.task_id, context_id=g.context_id):
            continue
        agent, secret = agents.get(g.agent), secrets.get(g.secret_id)
        rows.append(
            GrantRow(
                grant=g,
                agent_name=agent.name if agent else g.agent,
                key=secret.key if secret else g.secret_id,
                owner=secret.owner if secret else None,
                suspended=agent is not None and g.card_fingerprint != agent.fingerprint,
            )
        )
    return rows


class GrantsTab(SettingsTab):
    """Who may receive what, and until when."""

    topics = frozenset({"grants", "secrets", "agents"})
    #: The user pressed "Lock now" (the window forwards it to the app).
    lock_requested = Signal()

    ENDS_COLUMN = 4

    def __init__(self, ctx: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        now = ctx.now

        def ends(r: GrantRow) -> str:
            text = grant_ends(r.grant, now())
            return f"{text} (suspended: card changed)" if r.suspended else text

        def ends_key(r: GrantRow) -> float:
            return r.grant.expires if r.grant.expires is not None else float("inf")

        columns: list[Column[GrantRow]] = [
            Column(
                "Agent",
                lambda r: r.grant.agent,
                chars=21,
                tooltip=lambda r: f"{r.agent_name} ({r.grant.agent})",
                italic=lambda r: r.suspended,
            ),
            Column("Secret", lambda r: f"{r.key}  ({owner_label(r.owner)})", chars=36),
            Column("Scope", lambda r: grant_scope_text(r.grant), chars=18, tooltip=self._scope_tip),
            Column(
                "Granted",
                lambda r: when(r.grant.created, now()),
                sort_key=lambda r: r.grant.created,
                chars=14,
                tooltip=lambda r: full_time(r.grant.created),
            ),
            Column(
                "Ends",
                ends,
                sort_key=ends_key,
                foreground=lambda r: SUSPENDED_COLOR if r.suspended else None,
                tooltip=lambda r: (
                    "The agent's card changed since this grant: the next release asks again"
                    if r.suspended
                    else (full_time(r.grant.expires) or None)
                ),
            ),
        ]
        self.model: RecordTableModel[GrantRow] = RecordTableModel(columns, key=lambda r: r.grant_id)
        self.view = make_table_view(self.model)
        self.view.setAccessibleName("Live grants")
        self.view.sortByColumn(3, Qt.SortOrder.DescendingOrder)
        self.area = TableArea(self.view, EMPTY_TITLE, EMPTY_TEXT)

        self.bar = ActionBar()
        self.revoke_action = self.bar.add(
            "revokeGrant",
            "Revoke…",
            self.revoke_selected,
            tip="End this grant: the agent is asked again",
            icon=QStyle.StandardPixmap.SP_DialogCancelButton,
            shortcut=QKeySequence(QKeySequence.StandardKey.Delete),
            owner=self.view,
        )
        self.lock_action = self.bar.add(
            "lockNow",
            "Lock now",
            self.lock_requested.emit,
            tip="End every grant except “always” ones and forget cached values",
        )
        self.summary = QLabel()
        self.bar.add_right(self.summary)
        self.status = StatusLine()

        layout = QVBoxLayout(self)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.area, 1)

        self.view.selectionModel().selectionChanged.connect(lambda *_a: self._update_actions())
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick)
        self._busy = False
        self._update_actions()

    @staticmethod
    def _scope_tip(r: GrantRow) -> str:
        g = r.grant
        if g.scope is GrantScope.TASK:
            return f"Only for task {g.task_id}"
        if g.scope is GrantScope.CONVERSATION:
            return f"Only for conversation {g.context_id}"
        if g.scope is GrantScope.ALWAYS:
            return "Survives restarts and locks; ends when revoked"
        return scope_label(g.scope)

    # reading ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read live grants (catalog reads only; expired ones are left out, not deleted here)."""
        keep = selected_record(self.view)
        admin = self.ctx.admin
        agents = {a.slug: a for a in admin.agents()}
        secrets = {s.secret_id: s for s in admin.secrets()}
        rows = grant_rows(admin.stored_grants(), agents, secrets, admin.now)
        self.model.set_rows(rows)
        if keep is not None:
            select_key(self.view, keep.grant_id)
        timed = sum(1 for r in rows if r.grant.scope is GrantScope.MINUTES)
        self.summary.setText(f"{len(rows)} live grant{'s' if len(rows) != 1 else ''}" if rows else "")
        self.summary.setToolTip(f"{timed} of them end by themselves" if timed else "")
        self._update_timer()
        self._update_actions()

    # countdown ----------------------------------------------------------------------------------

    @property
    def counting_down(self) -> bool:
        """Whether the one-second countdown timer runs."""
        return self._tick.isActive()

    def _update_timer(self) -> None:
        wanted = self.isVisible() and any(r.grant.scope is GrantScope.MINUTES for r in self.model.rows())
        if wanted and not self._tick.isActive():
            self._tick.start()
        elif not wanted:
            self._tick.stop()

    def on_shown(self) -> None:
        """Start the countdown if something counts down."""
        self._update_timer()

    def on_hidden(self) -> None:
        """No countdown while hidden."""
        self._tick.stop()

    def _on_tick(self) -> None:
        now = self.ctx.now()
        ended = any(
            r.grant.scope is GrantScope.MINUTES and r.grant.expires is not None and now >= r.grant.expires
            for r in self.model.rows()
        )
        if ended:
            self.refresh_now()
        else:
            self.model.refresh_column(self.ENDS_COLUMN)

    # actions ------------------------------------------------------------------------------------

    def _update_actions(self) -> None:
        self.revoke_action.setEnabled(selected_record(self.view) is not None and not self._busy)

    def _context_menu(self, pos: QPoint) -> None:
        if self.view.indexAt(pos).isValid():
            self.bar.context_menu(self).popup(self.view.viewport().mapToGlobal(pos))

    def revoke_selected(self) -> None:
        """Ask, then end the selected grant."""
        row = selected_record(self.view)
        if not isinstance(row, GrantRow) or self._busy:
            return
        question = questions.revoke_grant(row.grant, row.agent_name, row.key, row.owner)

        def answered(answer: Answer) -> None:
            if answer.accepted:
                self._revoke(row)

        self.ctx.asker.confirm(self, question, answered)

    def _revoke(self, row: GrantRow) -> None:
        admin = self.ctx.admin
        self._busy = True
        self._update_actions()
        self.status.busy(f"Revoking the grant for {row.grant.agent}…")

        def done(grant: Grant) -> None:
            self._busy = False
            self.status.ok(f"Revoked: {row.grant.agent} no longer receives {row.key} without asking.")
            self.refresh_now()
            self.ctx.announce("grants", "agents", "audit")

        def failed(exc: BaseException) -> None:
            self._busy = False
            self.status.failed(exc)
            self.refresh_now()

        self.ctx.jobs.submit(lambda: admin.revoke_grant(row.grant_id), on_done=done, on_error=failed)

    def locked(self, ended: int) -> None:
        """Called after a lock the window ran itself (no app listening)."""
        self.status.ok(f"Locked: {ended} grant{'s' if ended != 1 else ''} ended; “always” grants stay.")
        self.refresh_now()
