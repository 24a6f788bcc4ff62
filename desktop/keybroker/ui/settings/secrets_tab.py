# SPDX-License-Identifier: Apache-2.0
"""The Secrets tab: every stored secret (never a value), add, edit, reveal, versions, revoke and delete.

Longer than 300 lines because its six actions share the table, the busy state and the status line; the
edit dialog (secret_dialog.py), the reveal box (reveal_box.py) and the versions (versions_dialog.py) are
modules of their own. A team's secret (from the team vault) shows as `team NAME`; it is read-only here.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLineEdit, QStyle, QVBoxLayout, QWidget

from keybroker.core.admin import SecretRef
from keybroker.core.errors import UnknownGrantError
from keybroker.core.models import SecretRecord, SecretValue
from keybroker.core.secrets.write import StoreResult
from keybroker.ui.settings import questions
from keybroker.ui.settings.action_bar import ActionBar
from keybroker.ui.settings.asker import Answer
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.formatting import full_time, owner_label, plural, secret_label, when
from keybroker.ui.settings.reveal_box import RevealBox
from keybroker.ui.settings.secret_dialog import SecretDialog, SecretEdit
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
from keybroker.ui.settings.versions_dialog import VersionsDialog

EMPTY_TITLE = "No secrets yet"
EMPTY_TEXT = (
    "They appear here when an agent asks or you add one. Values stay in your OS vault: "
    "this list shows only their names and when they were used."
)


class SecretsTab(SettingsTab):
    """Secrets as the catalog knows them; values stay in the vault until revealed."""

    topics = frozenset({"secrets", "agents"})

    def __init__(self, ctx: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        now = ctx.now
        columns: list[Column[SecretRecord]] = [
            Column("Key", lambda s: s.key, chars=24, tooltip=lambda s: s.description or s.key),
            Column("Name", lambda s: s.name, tooltip=lambda s: s.description or s.name),
            Column("Owner", _owner, chars=22),
            Column(
                "Created",
                lambda s: when(s.created, now()),
                sort_key=lambda s: s.created,
                chars=14,
                tooltip=lambda s: full_time(s.created),
            ),
            Column(
                "Updated",
                lambda s: when(s.updated, now()),
                sort_key=lambda s: s.updated,
                chars=14,
                tooltip=lambda s: full_time(s.updated),
            ),
            Column(
                "Last used",
                lambda s: when(s.last_used, now()),
                sort_key=lambda s: s.last_used or 0.0,
                chars=14,
                tooltip=lambda s: full_time(s.last_used) or "never released to an agent",
            ),
            Column(
                "Uses", lambda s: str(s.use_count), sort_key=lambda s: s.use_count, chars=5, align_right=True
            ),
        ]
        self.model: RecordTableModel[SecretRecord] = RecordTableModel(columns, key=lambda s: s.secret_id)
        self.view = make_table_view(self.model)
        self.view.setAccessibleName("Secrets")
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.area = TableArea(self.view, EMPTY_TITLE, EMPTY_TEXT)

        self.bar = ActionBar()
        self.add_action = self.bar.add(
            "addSecret",
            "Add…",
            self.add_secret,
            tip="Store a new value in the OS vault (Ctrl+N)",
        )
        self.edit_action = self.bar.add(
            "editSecret", "Edit…", self.edit_selected, tip="Change the name, description or value (F2)"
        )
        self.reveal_action = self.bar.add(
            "revealSecret",
            "Reveal…",
            self.reveal_selected,
            tip="Show the value here for a few seconds (audited)",
        )
        self.versions_action = self.bar.add(
            "secretVersions",
            "Versions…",
            self.versions_selected,
            tip="Earlier versions of the value (a team vault keeps them); make one current again",
        )
        self.revoke_action = self.bar.add(
            "revokeSecretGrants",
            "Revoke access…",
            self.revoke_selected,
            tip="End every grant for this secret: agents are asked again",
            icon=QStyle.StandardPixmap.SP_DialogCancelButton,  # as the Grants tab's Revoke…
        )
        self.delete_action = self.bar.add(
            "deleteSecret",
            "Delete…",
            self.delete_selected,
            tip="Remove the value from the vault and the secret from Keybroker",
            icon=QStyle.StandardPixmap.SP_TrashIcon,
            shortcut=QKeySequence(QKeySequence.StandardKey.Delete),
            owner=self.view,
        )
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("secretsFilter")
        self.filter_edit.setPlaceholderText("Filter by key, name or owner")
        self.filter_edit.setToolTip("Show only the secrets whose key, name or owner has this text (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setMaximumWidth(260)
        self.filter_edit.textChanged.connect(lambda _t: self.refresh_now())
        self.bar.add_right(self.filter_edit, 1)

        self.status = StatusLine()
        self.reveal_box = RevealBox()

        layout = QVBoxLayout(self)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.area, 1)
        layout.addWidget(self.reveal_box)

        self.view.selectionModel().selectionChanged.connect(lambda *_a: self._update_actions())
        self.view.doubleClicked.connect(lambda _i: self.edit_selected())
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self._busy = False
        self._revealed_id: str | None = None
        self._update_actions()

    # reading ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the secrets (catalog only: no vault call)."""
        keep = self.selected()
        records = self.ctx.admin.secrets()
        needle = self.filter_edit.text().strip().lower()
        if needle:
            records = [
                r
                for r in records
                if needle in r.key.lower() or needle in r.name.lower() or needle in _owner(r).lower()
            ]
            self.area.empty.set_text(
                "No matching secrets", f"No secret's key, name or owner contains “{needle}”."
            )
        else:
            self.area.empty.set_text(EMPTY_TITLE, EMPTY_TEXT)
        self.model.set_rows(records)
        if keep is not None:
            select_key(self.view, keep.secret_id)
        shown = self.reveal_box.showing and self._revealed_id
        if shown and self.model.row_of(shown) is None:
            self.reveal_box.hide_value()
        self._update_actions()

    def selected(self) -> SecretRecord | None:
        """The selected secret."""
        record = selected_record(self.view)
        return record if isinstance(record, SecretRecord) else None

    def on_hidden(self) -> None:
        """Switching away hides a revealed value."""
        self.reveal_box.hide_value()

    def _update_actions(self) -> None:
        record = self.selected()
        has = record is not None and not self._busy
        for action in (self.reveal_action, self.versions_action, self.revoke_action):
            action.setEnabled(has)
        writable = has and record is not None and record.team is None  # a team's: read-only here
        for action in (self.edit_action, self.delete_action):
            action.setEnabled(writable)
        self.add_action.setEnabled(not self._busy)

    def _context_menu(self, pos: QPoint) -> None:
        if self.view.indexAt(pos).isValid():
            self.bar.context_menu(self).popup(self.view.viewport().mapToGlobal(pos))

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        if busy:
            self.status.busy(text)
        self._update_actions()

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.status.failed(exc)

    # add and edit -------------------------------------------------------------------------------

    def focus_filter(self) -> None:
        """Ctrl+F."""
        self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_edit.selectAll()

    def new_item(self) -> None:
        """Ctrl+N: the Add dialog (when Add is enabled)."""
        if self.add_action.isEnabled():
            self.add_secret()

    def edit_item(self) -> None:
        """F2: the Edit dialog for the selected secret."""
        if self.edit_action.isEnabled():
            self.edit_selected()

    def add_secret(self, owner: str | None = None) -> SecretDialog:
        """Open the add dialog (optionally with an owner chosen)."""
        admin = self.ctx.admin
        owners: list[tuple[str | None, str]] = [(None, "Shared (any agent, after you allow it)")]
        owners += [(a.slug, f"{a.name} ({a.slug})") for a in admin.agents()]
        dialog = SecretDialog(self, owners=owners, existing=admin.find_secret, initial_owner=owner)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._store_new(dialog.take()))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _store_new(self, edit: SecretEdit) -> None:
        assert edit.value is not None
        value = edit.value
        admin = self.ctx.admin
        self._set_busy(True, f"Storing {edit.key} in the vault…")

        def work() -> StoreResult:
            name, description = edit.name or None, edit.description or None
            return admin.set_secret(edit.key, value, owner=edit.owner, name=name, description=description)

        def done(result: StoreResult) -> None:
            self._set_busy(False)
            verb = "Stored" if result.created else "Replaced the value of"
            self.status.ok(f"{verb} {secret_label(result.record)}.")
            self._changed(result.record.secret_id)

        self.ctx.jobs.submit(work, on_done=done, on_error=self._failed)

    def edit_selected(self) -> SecretDialog | None:
        """Open the edit dialog for the selected secret (not a team's: read-only here)."""
        record = self.selected()
        if record is None or self._busy:
            return None
        if record.team is not None:
            self.status.warning(f"{secret_label(record)} is managed in the team vault: read-only here.")
            return None
        dialog = SecretDialog(self, record=record)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._store_edit(record, dialog.take()))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _store_edit(self, record: SecretRecord, edit: SecretEdit) -> None:
        admin = self.ctx.admin
        name = edit.name if edit.name != record.name else None
        description = edit.description if edit.description != record.description else None
        value = edit.value
        self._set_busy(True, f"Updating {secret_label(record)}…")

        def done(updated: SecretRecord) -> None:
            self._set_busy(False)
            changed = [
                w
                for w, v in (("name", name), ("description", description), ("value", value))
                if v is not None
            ]
            self.status.ok(f"Updated the {', '.join(changed)} of {secret_label(updated)}.")
            self._changed(record.secret_id)

        ref = SecretRef.to(record)
        self.ctx.jobs.submit(
            lambda: admin.update_secret(ref, name=name, description=description, value=value),
            on_done=done,
            on_error=self._failed,
        )

    # reveal -------------------------------------------------------------------------------------

    def reveal_selected(self) -> None:
        """Ask, then read the value from the vault (audited) and show it for a while."""
        record = self.selected()
        if record is None or self._busy:
            return
        question = questions.reveal_secret(record, self.reveal_box.seconds)
        self.ctx.asker.confirm(self, question, lambda answer: self._reveal(record, answer))

    def _reveal(self, record: SecretRecord, answer: Answer) -> None:
        if not answer.accepted:
            return
        admin = self.ctx.admin
        self._set_busy(True, f"Reading {secret_label(record)} from the vault…")

        def done(value: SecretValue) -> None:
            self._set_busy(False)
            self.status.clear()
            self._revealed_id = record.secret_id
            self.reveal_box.show_value(secret_label(record), value)
            self.ctx.announce("audit")

        self.ctx.jobs.submit(lambda: admin.reveal(SecretRef.to(record)), on_done=done, on_error=self._failed)

    # versions -----------------------------------------------------------------------------------

    def versions_selected(self) -> VersionsDialog | None:
        """Show the selected secret's versions (read from the vault off the UI thread)."""
        record = self.selected()
        if record is None or self._busy:
            return None
        dialog = VersionsDialog(self.ctx, record, lambda updated: self._changed(updated.secret_id), self)
        self.versions_dialog = dialog
        dialog.open()
        dialog.load()
        return dialog

    # revoke and delete --------------------------------------------------------------------------

    def revoke_selected(self) -> None:
        """Ask, then end every grant for the selected secret."""
        record = self.selected()
        if record is None or self._busy:
            return
        grants = self.ctx.admin.stored_grants(secret_id=record.secret_id)
        if not grants:
            self.status.ok(f"No agent holds a grant for {secret_label(record)}; nothing to revoke.")
            return
        question = questions.revoke_secret_grants(record, grants)

        def answered(answer: Answer) -> None:
            if answer.accepted:
                self._revoke(record, [g.grant_id for g in grants])

        self.ctx.asker.confirm(self, question, answered)

    def _revoke(self, record: SecretRecord, grant_ids: list[str]) -> None:
        admin = self.ctx.admin
        self._set_busy(True, f"Revoking access to {secret_label(record)}…")

        def work() -> int:
            ended = 0
            for grant_id in grant_ids:
                try:
                    admin.revoke_grant(grant_id)
                    ended += 1
                except UnknownGrantError:  # ended meanwhile (expired, lock)
                    continue
            return ended

        def done(ended: int) -> None:
            self._set_busy(False)
            self.status.ok(f"Revoked {plural(ended, 'grant')} for {secret_label(record)}.")
            self._changed(record.secret_id, "grants")

        self.ctx.jobs.submit(work, on_done=done, on_error=self._failed)

    def delete_selected(self) -> None:
        """Ask, then delete the value and the record."""
        record = self.selected()
        if record is None or self._busy:
            return
        grants = self.ctx.admin.stored_grants(secret_id=record.secret_id)
        question = questions.delete_secret(record, grants)

        def answered(answer: Answer) -> None:
            if answer.accepted:
                self._delete(record)

        self.ctx.asker.confirm(self, question, answered)

    def _delete(self, record: SecretRecord) -> None:
        admin = self.ctx.admin
        self._set_busy(True, f"Deleting {secret_label(record)}…")

        def done(_record: SecretRecord) -> None:
            self._set_busy(False)
            if self._revealed_id == record.secret_id:
                self.reveal_box.hide_value()
            self.status.ok(f"Deleted {secret_label(record)}.")
            self._changed(None, "grants", "agents")

        self.ctx.jobs.submit(
            lambda: admin.remove_secret(SecretRef.to(record)), on_done=done, on_error=self._failed
        )

    def _changed(self, select: str | None, *topics: str) -> None:
        self.refresh_now()
        if select is not None:
            select_key(self.view, select)
        self.ctx.announce("secrets", *topics, "audit")


def _owner(record: SecretRecord) -> str:
    """`shared`, the agent's slug, or `team NAME` for a team's secret."""
    return f"team {record.team}" if record.team is not None else owner_label(record.owner)
