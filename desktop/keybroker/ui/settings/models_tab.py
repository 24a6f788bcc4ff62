# SPDX-License-Identifier: Apache-2.0
"""The Models tab (issue 14): model providers, agents' answered model demands, and what they used.

Providers: name, base URL, whether a key is stored (never the key), whether handing it over is
allowed, the models `GET /models` listed, and a refusal (a provider that refuses its key shows it
here and in the tray). Add (provider_dialog.py), refresh the model list, test with one tiny call,
remove. Below: model grants (revoke ends their gateway tokens at once) and usage per agent and model
(requests, errors, tokens). Network calls run on the job runner, never on the UI thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QStyle, QVBoxLayout, QWidget

from keybroker.core.llm.admin import ProviderAdded
from keybroker.core.llm.records import ModelGrant, Provider, UsageRow
from keybroker.ui.settings.action_bar import ActionBar
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.formatting import full_time, when
from keybroker.ui.settings.provider_dialog import ProviderDialog
from keybroker.ui.settings.status_line import StatusLine
from keybroker.ui.settings.tab_base import SettingsTab
from keybroker.ui.settings.table import Column, RecordTableModel, TableArea, make_table_view, selected_record

REFUSED_COLOR = QColor("#c0392b")
EMPTY_TITLE = "No model providers"
EMPTY_TEXT = (
    "Agents that ask for a model (Agent Stack's LLM and embedding extensions) get one of yours through "
    "Keybroker's local gateway, never your key. Add OpenAI, OpenRouter, Ollama, LM Studio, vLLM or any "
    "OpenAI-compatible API."
)


class ModelsTab(SettingsTab):
    """Providers, model grants and usage."""

    topics = frozenset({"models", "agents"})

    def __init__(self, ctx: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        now = ctx.now
        provider_columns: list[Column[Provider]] = [
            Column("Provider", lambda p: p.name, chars=16),
            Column("Base URL", lambda p: p.base_url, chars=32),
            Column("Key", lambda p: "in the vault" if p.has_key else "none", chars=12),
            Column("Handover", lambda p: "allowed" if p.handover else "gateway only", chars=13),
            Column(
                "Models",
                lambda p: f"{len(p.models)}: " + ", ".join(p.models[:4]) if p.models else "none listed",
                tooltip=lambda p: "\n".join(p.models) or None,
                chars=30,
            ),
            Column(
                "Status",
                lambda p: p.status or "ok",
                foreground=lambda p: REFUSED_COLOR if p.status else None,
            ),
        ]
        self.providers: RecordTableModel[Provider] = RecordTableModel(provider_columns, key=lambda p: p.name)
        self.view = make_table_view(self.providers)
        self.view.setAccessibleName("Model providers")
        self.area = TableArea(self.view, EMPTY_TITLE, EMPTY_TEXT)

        grant_columns: list[Column[ModelGrant]] = [
            Column("Agent", lambda g: g.agent, chars=18),
            Column("Demand", lambda g: g.demand, chars=18),
            Column("Model", lambda g: f"{g.provider}/{g.model}", chars=26),
            Column("How", lambda g: "key handed over" if g.handover else "gateway", chars=14),
            Column("Scope", lambda g: g.scope.value, chars=12),
            Column("Given", lambda g: when(g.created, now()), tooltip=lambda g: full_time(g.created)),
        ]
        self.grants: RecordTableModel[ModelGrant] = RecordTableModel(grant_columns, key=lambda g: g.grant_id)
        self.grant_view = make_table_view(self.grants)
        self.grant_view.setAccessibleName("Model grants")

        usage_columns: list[Column[UsageRow]] = [
            Column("Agent", lambda u: u.agent, chars=18),
            Column("Model", lambda u: f"{u.provider}/{u.model}", chars=26),
            Column("Requests", lambda u: str(u.requests), sort_key=lambda u: u.requests, align_right=True),
            Column("Errors", lambda u: str(u.errors), sort_key=lambda u: u.errors, align_right=True),
            Column(
                "Tokens",
                lambda u: str(u.total_tokens),
                sort_key=lambda u: u.total_tokens,
                align_right=True,
                tooltip=lambda u: f"prompt {u.prompt_tokens}, completion {u.completion_tokens}",
            ),
        ]
        self.usage: RecordTableModel[UsageRow] = RecordTableModel(
            usage_columns, key=lambda u: f"{u.agent}\0{u.provider}\0{u.model}"
        )
        self.usage_view = make_table_view(self.usage)
        self.usage_view.setAccessibleName("Model usage")

        self.bar = ActionBar()
        self.add_action = self.bar.add("addProvider", "Add provider…", self.new_item)
        self.refresh_action = self.bar.add(
            "refreshModels",
            "Refresh models",
            self.refresh_selected,
            tip="Read the provider's model list again",
        )
        self.test_action = self.bar.add("testProvider", "Test", self.test_selected, tip="One tiny call")
        self.remove_action = self.bar.add(
            "removeProvider",
            "Remove",
            self.remove_selected,
            tip="Remove the provider, its key and its grants",
            icon=QStyle.StandardPixmap.SP_TrashIcon,
        )
        self.grant_bar = ActionBar()
        self.revoke_action = self.grant_bar.add(
            "revokeModelGrant", "Revoke", self.revoke_selected, tip="End this answer: its tokens die at once"
        )
        self.status = StatusLine()
        layout = QVBoxLayout(self)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.area, 2)
        layout.addWidget(QLabel("Answers to agents' model demands"))
        layout.addWidget(self.grant_bar)
        layout.addWidget(self.grant_view, 1)
        layout.addWidget(QLabel("Use through the gateway"))
        layout.addWidget(self.usage_view, 1)
        for view in (self.view, self.grant_view):
            view.selectionModel().selectionChanged.connect(lambda *_a: self._update_actions())
        self.usage_view.sortByColumn(2, Qt.SortOrder.DescendingOrder)
        self._busy = False
        self.dialog: ProviderDialog | None = None
        self._update_actions()

    # reading ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read providers, grants and usage (catalog reads only)."""
        admin = self.ctx.models
        self.providers.set_rows(admin.providers())
        self.grants.set_rows(admin.model_grants())
        self.usage.set_rows(admin.usage())
        self._update_actions()

    def _update_actions(self) -> None:
        chosen = selected_record(self.view) is not None and not self._busy
        for action in (self.refresh_action, self.test_action, self.remove_action):
            action.setEnabled(chosen)
        self.revoke_action.setEnabled(selected_record(self.grant_view) is not None and not self._busy)

    # actions ------------------------------------------------------------------------------------

    def new_item(self) -> None:
        """Open the add-provider dialog; save on a worker (the model list is read over the network)."""
        self.dialog = dialog = ProviderDialog(self)

        def finished(result: int) -> None:
            entered = dialog.entered
            self.dialog = None
            dialog.deleteLater()
            if result and entered is not None:
                admin = self.ctx.models
                self._run(
                    f"Adding {entered.name}…",
                    lambda: admin.add_provider(
                        entered.name,
                        entered.base_url,
                        entered.key,
                        preset=entered.preset,
                        handover=entered.handover,
                    ),
                    self._added,
                )

        dialog.finished.connect(finished)
        dialog.open()

    def _added(self, added: Any) -> None:
        assert isinstance(added, ProviderAdded)
        count = len(added.provider.models)
        if added.problem:
            self.status.ok(f"Added {added.provider.name}; its models could not be listed: {added.problem}")
        else:
            self.status.ok(f"Added {added.provider.name}: {count} model{'s' if count != 1 else ''}.")

    def refresh_selected(self) -> None:
        """Read the selected provider's models again."""
        row = selected_record(self.view)
        if isinstance(row, Provider):
            admin = self.ctx.models
            self._run(
                f"Reading {row.name}'s models…",
                lambda: admin.refresh_provider(row.name),
                lambda p: self.status.ok(f"{p.name}: {len(p.models)} models."),
            )

    def test_selected(self) -> None:
        """One tiny call to the selected provider."""
        row = selected_record(self.view)
        if isinstance(row, Provider):
            admin = self.ctx.models
            self._run(
                f"Testing {row.name}…",
                lambda: admin.test_provider(row.name),
                lambda r: self.status.ok(
                    f"{r['provider']}/{r['model']} answered HTTP {r['status']} in {r['seconds']:.2f} s."
                ),
            )

    def remove_selected(self) -> None:
        """Remove the selected provider (its key and grants go with it)."""
        row = selected_record(self.view)
        if isinstance(row, Provider):
            admin = self.ctx.models
            self._run(
                f"Removing {row.name}…",
                lambda: admin.remove_provider(row.name),
                lambda p: self.status.ok(f"Removed {p.name}, its key and its grants."),
            )

    def revoke_selected(self) -> None:
        """End the selected model grant."""
        row = selected_record(self.grant_view)
        if isinstance(row, ModelGrant):
            admin = self.ctx.models
            self._run(
                f"Revoking {row.agent}'s {row.demand}…",
                lambda: admin.revoke_model_grant(row.grant_id),
                lambda g: self.status.ok(f"Revoked: {g.agent} is asked again for {g.demand}."),
            )

    def _run(self, busy: str, work: Any, done: Any) -> None:
        self._busy = True
        self._update_actions()
        self.status.busy(busy)

        def ok(result: Any) -> None:
            self._busy = False
            done(result)
            self.refresh_now()
            self.ctx.announce("models", "audit")

        def failed(exc: BaseException) -> None:
            self._busy = False
            self.status.failed(exc)
            self.refresh_now()

        self.ctx.jobs.submit(work, on_done=ok, on_error=failed)
