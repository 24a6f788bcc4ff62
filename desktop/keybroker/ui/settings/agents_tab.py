# SPDX-License-Identifier: Apache-2.0
"""The Agents tab: add an agent by URL (the card is fetched off the UI thread), see its card and
demands, copy its bridged URL, give it a loopback port of its own, refresh its card, remove it (and,
if asked, its secrets)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSplitter, QVBoxLayout, QWidget

from keybroker.core.admin import AgentRefresh, AgentRemoval
from keybroker.core.agents.status import AgentStatus
from keybroker.core.errors import KeybrokerError, UnknownAgentError
from keybroker.ui.settings import questions
from keybroker.ui.settings.agent_details import AgentDetails, demands_summary
from keybroker.ui.settings.asker import Answer
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.formatting import when
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

EMPTY_TITLE = "No agents yet"
EMPTY_TEXT = (
    "Add a local A2A agent by its URL above. Keybroker reads its card, shows what it demands, "
    "and gives you a bridged URL to point clients at."
)


#: The list's and the details' widths (their ratio holds in any window width).
SPLIT = (400, 580)


class AgentsTab(SettingsTab):
    """Agents behind the bridge."""

    topics = frozenset({"agents", "secrets", "grants"})
    #: Ask the window to open the Secrets tab's add dialog for this agent.
    add_secret_requested = Signal(str)

    def __init__(self, ctx: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self._busy = False
        self.add_button = QPushButton("Add agent")
        self.add_button.setObjectName("addAgent")
        self.add_button.setEnabled(False)
        self.add_button.clicked.connect(self.add_agent)
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("agentUrl")
        self.url_edit.setPlaceholderText(
            "http://127.0.0.1:8000 — the agent's base URL or its agent-card.json URL"
        )
        self.url_edit.setClearButtonEnabled(True)
        self.url_edit.setToolTip("Paste a local agent's URL, then Enter (Ctrl+N comes here)")
        self.url_edit.returnPressed.connect(self.add_agent)
        self.url_edit.textChanged.connect(
            lambda t: self.add_button.setEnabled(bool(t.strip()) and not self._busy)
        )
        add_row = QHBoxLayout()
        url_label = QLabel("Add an &agent:")
        url_label.setBuddy(self.url_edit)
        add_row.addWidget(url_label)
        add_row.addWidget(self.url_edit, 1)
        add_row.addWidget(self.add_button)
        self.status = StatusLine()

        now = ctx.now
        columns: list[Column[AgentStatus]] = [
            Column(
                "Name",
                lambda a: a.name or a.slug,
                tooltip=lambda a: (
                    f"{a.name}\n{a.description}\ncard read {when(a.last_seen, now()).lower()}".strip()
                ),
            ),
            Column("Slug", lambda a: a.slug, chars=20),
            Column(
                "Demands",
                lambda a: demands_summary(a.demands),
                chars=11,
                sort_key=lambda a: len(a.demands),
            ),
        ]
        self.model: RecordTableModel[AgentStatus] = RecordTableModel(columns, key=lambda a: a.slug)
        self.view = make_table_view(self.model)
        self.view.setAccessibleName("Agents")
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.area = TableArea(self.view, EMPTY_TITLE, EMPTY_TEXT)
        self.details = AgentDetails()
        self.details.refresh_requested.connect(self.refresh_agent)
        self.details.remove_requested.connect(self.remove_agent)
        self.details.add_secret_requested.connect(self.add_secret_requested)
        self.details.copied.connect(lambda url: self.status.ok(f"Copied {url}"))
        self.details.port_row.port_requested.connect(self.set_port)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.area)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes(list(SPLIT))
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.addLayout(add_row)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)
        self.view.selectionModel().selectionChanged.connect(lambda *_a: self._show_selected())

    # reading ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read agents and their demand status (catalog only)."""
        keep = self.selected_slug()
        rows = self.ctx.admin.agents()
        self.model.set_rows(rows)
        if not select_key(self.view, keep) and rows:
            self.view.selectRow(0)
        self._show_selected()

    def selected_slug(self) -> str | None:
        """The selected agent's slug."""
        row = selected_record(self.view)
        return row.slug if row else None

    def _show_selected(self) -> None:
        self.details.show_agent(selected_record(self.view))
        # With no agent, the list's empty state explains across the whole tab: no blank pane beside it.
        has_agents = self.model.rowCount() > 0
        if has_agents and self.details.isHidden():
            self.details.setVisible(True)
            total = max(self.splitter.width(), sum(SPLIT))
            self.splitter.setSizes([total * SPLIT[0] // sum(SPLIT), total * SPLIT[1] // sum(SPLIT)])
        elif not has_agents:
            self.details.setVisible(False)
        self.details.setEnabled(not self._busy)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        if busy:
            self.status.busy(text)
        self.add_button.setEnabled(not busy and bool(self.url_edit.text().strip()))
        self.url_edit.setReadOnly(busy)
        self.details.setEnabled(not busy)

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.status.failed(exc)

    def new_item(self) -> None:
        """Ctrl+N: the URL field, to add an agent."""
        self.url_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.url_edit.selectAll()

    # add ----------------------------------------------------------------------------------------

    def add_agent(self) -> None:
        """Fetch the card at the URL field's address and add the agent (on a worker thread)."""
        url = self.url_edit.text().strip()
        if not url or self._busy:
            return
        from keybroker.core.agents.url import normalise_agent_url

        try:
            normalise_agent_url(url)
        except KeybrokerError as exc:
            self.status.failed(exc)
            return
        admin = self.ctx.admin
        self._set_busy(True, f"Fetching the agent card from {url}…")

        def done(agent: AgentStatus) -> None:
            self._set_busy(False)
            self.url_edit.clear()
            bridged = agent.bridged_url
            count = len(agent.demands)
            demands = f"; it demands {count} secret{'s' if count != 1 else ''}" if count else ""
            self.status.ok(f"Added {agent.name} as “{agent.slug}”{demands}. Point A2A clients at {bridged}")
            self._changed(agent.slug)

        self.ctx.jobs.submit(lambda: admin.add_agent(url), on_done=done, on_error=self._failed)

    # refresh and remove -------------------------------------------------------------------------

    def refresh_agent(self, slug: str) -> None:
        """Fetch the agent's card again."""
        if self._busy:
            return
        admin = self.ctx.admin
        self._set_busy(True, f"Fetching the card of {slug}…")

        def done(result: AgentRefresh) -> None:
            self._set_busy(False)
            if result.changed:
                self.status.warning(
                    f"The card of {slug} changed ({result.previous_fingerprint[:12]} → "
                    f"{result.agent.fingerprint[:12]}): its grants ask again before the next release."
                )
            else:
                self.status.ok(f"The card of {slug} is unchanged.")
            self._changed(slug)

        self.ctx.jobs.submit(lambda: admin.refresh_agent(slug), on_done=done, on_error=self._failed)

    def set_port(self, slug: str, port: int | None) -> None:
        """Serve the agent at the root of its own loopback port `port` (None: no more); a taken port is
        refused with the reason, and the row shows the agent's port again."""
        if self._busy:
            return
        admin = self.ctx.admin
        self._set_busy(True, f"Opening port {port} for {slug}…" if port else f"Closing the port of {slug}…")

        def done(agent: AgentStatus) -> None:
            self._set_busy(False)
            if agent.bridge_port is not None:
                self.status.ok(f"{slug} is served at {agent.bridged_url} too. Point A2A clients at it.")
            else:
                self.status.ok(f"{slug} has no port of its own now; its bridged URL is {agent.bridged_url}")
            self._changed(slug)

        def failed(exc: BaseException) -> None:
            self._failed(exc)
            self.refresh_now()  # the row shows the agent's port again

        self.ctx.jobs.submit(lambda: admin.set_agent_port(slug, port), on_done=done, on_error=failed)

    def remove_agent(self, slug: str) -> None:
        """Ask (offering to delete its secrets too), then remove."""
        if self._busy:
            return
        admin = self.ctx.admin
        try:
            agent = admin.agent(slug)
        except UnknownAgentError:
            self.refresh_now()
            return
        question = questions.remove_agent(agent, admin.secrets(slug), admin.stored_grants(agent=slug))

        def answered(answer: Answer) -> None:
            if answer.accepted:
                self._remove(slug, purge=answer.option)

        self.ctx.asker.confirm(self, question, answered)

    def _remove(self, slug: str, *, purge: bool) -> None:
        admin = self.ctx.admin
        self._set_busy(True, f"Removing {slug}…")

        def done(removal: AgentRemoval) -> None:
            self._set_busy(False)
            deleted = removal.deleted
            also = f" and its {len(deleted)} secret{'s' if len(deleted) != 1 else ''}" if deleted else ""
            self.status.ok(f"Removed {slug}{also}.")
            self._changed(None, "secrets")

        def failed(exc: BaseException) -> None:
            self._failed(exc)
            self.refresh_now()  # some secrets may be gone already

        self.ctx.jobs.submit(lambda: admin.remove_agent(slug, purge=purge), on_done=done, on_error=failed)

    def _changed(self, select: str | None, *topics: str) -> None:
        self.refresh_now()
        if select is not None:
            select_key(self.view, select)
        self.ctx.announce("agents", *topics, "grants", "audit")
