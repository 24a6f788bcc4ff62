# SPDX-License-Identifier: Apache-2.0
"""A secret's versions (a team vault keeps them): when each was written, which is current, and a way to
make an earlier one current again (asked once, audited; the old value is written as a new version).

Never a value: the list is metadata. The history is read off the UI thread (it asks the server).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from keybroker.core.admin import SecretHistory, SecretRef
from keybroker.core.models import SecretRecord
from keybroker.core.vault.backend import ValueVersion
from keybroker.ui.settings.asker import Answer, Confirmation
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.formatting import full_time, secret_label
from keybroker.ui.settings.status_line import StatusLine


def version_state(version: ValueVersion) -> str:
    """`current`, `deleted`, `destroyed` or nothing."""
    if version.destroyed:
        return "destroyed"
    if version.deleted:
        return "deleted"
    return "current" if version.current else ""


class VersionsDialog(QDialog):
    """See the module docstring. `on_restored(record)` runs after a restore went through."""

    def __init__(
        self,
        ctx: TabContext,
        record: SecretRecord,
        on_restored: Callable[[SecretRecord], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._record = record
        self._on_restored = on_restored
        self.versions: tuple[ValueVersion, ...] = ()
        self.setWindowTitle(f"Versions of {secret_label(record)}")
        self.status = StatusLine()
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("versionsTable")
        self.table.setHorizontalHeaderLabels(["Version", "Written", "State"])
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._update)
        self.restore_button = QPushButton("Make this version current…")
        self.restore_button.setObjectName("restoreVersion")
        self.restore_button.clicked.connect(self.restore_selected)
        note = QLabel(
            "The team vault keeps earlier versions of a value. Making one current writes it again as a "
            "new version; agents get it from then on."
            + (" Team secrets are managed in the team vault: view only." if record.team else "")
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.restore_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(460, 320)
        self._update()

    def load(self) -> None:
        """Read the history off the UI thread."""
        admin = self._ctx.admin
        ref = SecretRef.to(self._record)
        self.status.busy("Reading the versions from the vault…")

        def done(history: SecretHistory) -> None:
            self.status.clear()
            self.versions = history.versions
            self.table.setRowCount(len(self.versions))
            for row, version in enumerate(reversed(self.versions)):  # newest first
                cells = (str(version.version), full_time(version.created), version_state(version))
                for column, text in enumerate(cells):
                    self.table.setItem(row, column, QTableWidgetItem(text))
            if not self.versions:
                self.status.warning("The vault keeps no versions of this value.")
            self._update()

        self._ctx.jobs.submit(lambda: admin.secret_history(ref), on_done=done, on_error=self.status.failed)

    def selected(self) -> ValueVersion | None:
        """The version of the selected row."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return list(reversed(self.versions))[rows[0].row()]

    def _update(self) -> None:
        version = self.selected()
        usable = version is not None and not (version.current or version.deleted or version.destroyed)
        self.restore_button.setEnabled(usable and self._record.team is None)

    def restore_selected(self) -> None:
        """Ask once, then make the selected version current."""
        version = self.selected()
        if version is None:
            return
        question = Confirmation(
            title="Make an earlier version current",
            text=f"Make version {version.version} of {secret_label(self._record)} its current value?",
            detail="It is written again as a new version; the current one stays in the history.",
            action="Make current",
            destructive=False,
        )
        self._ctx.asker.confirm(self, question, lambda answer: self._restore(version, answer))

    def _restore(self, version: ValueVersion, answer: Answer) -> None:
        if not answer.accepted:
            return
        admin = self._ctx.admin
        ref = SecretRef.to(self._record)
        self.status.busy(f"Writing version {version.version} again…")

        def done(record: SecretRecord) -> None:
            self.status.ok(f"Version {version.version} is the current value again.")
            self._on_restored(record)
            self.load()

        self._ctx.jobs.submit(
            lambda: admin.restore_secret(ref, version.version), on_done=done, on_error=self.status.failed
        )
