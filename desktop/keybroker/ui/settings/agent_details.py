# SPDX-License-Identifier: Apache-2.0
"""The right-hand side of the Agents tab: one agent's card, demands, schemes and bridged URL."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase, QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from keybroker.core.agents.status import AgentStatus, DemandStatus, SchemeStatus
from keybroker.ui.icons import app_icon
from keybroker.ui.settings.agent_port_row import AgentPortRow
from keybroker.ui.settings.formatting import full_time, short_id
from keybroker.ui.settings.status_line import OK_COLOR, WARN_COLOR
from keybroker.ui.settings.table import HINT_COLOR, Column, CompactTable, RecordTableModel, make_table_view

MISSING_COLOR = QColor("#8a8a8a")

Row = DemandStatus | SchemeStatus


#: core/agents/status.py's sentence for a value that is stored but not granted to the agent yet.
_ASKS_FIRST = "; will ask on first use"


def demand_state(status: str) -> str:
    """`ok`, `asks` (stored; the first use asks), `partial` (stored, but the card changed since its
    grant), `missing` or `unsupported`, from a status sentence of `core.status.agent_status`."""
    if status.startswith("satisfied"):
        return "ok"
    if status.startswith("stored"):
        return "asks" if status.endswith(_ASKS_FIRST) else "partial"
    if status.startswith("not supported"):
        return "unsupported"
    return "missing"


def status_text(status: str) -> str:
    """`satisfied (shared value, until_lock)` -> `Satisfied (shared value, until lock)`;
    `stored (shared value); will ask on first use` -> `Stored (shared value) · asks first`."""
    if status.startswith("stored") and status.endswith(_ASKS_FIRST):
        status = status[: -len(_ASKS_FIRST)] + " · asks first"
    return status.replace("_", " ").capitalize()


def demands_summary(demands: Sequence[DemandStatus]) -> str:
    """`2 of 3 ready`, `stored · asks first` (nothing granted yet, nothing missing), `none`.

    A value stored but not yet granted is normal (the first use asks): it is counted apart, never as
    not ready."""
    if not demands:
        return "none"
    states = [demand_state(d.status) for d in demands]
    ready, asks, total = states.count("ok"), states.count("asks"), len(states)
    if asks == total:
        return "stored · asks first"
    if asks and ready + asks == total:
        return f"{ready} ready · {asks} asks first"
    counted = f"{ready} of {total} ready"
    return f"{counted} · {asks} asks first" if asks else counted


def _value_field() -> QLineEdit:
    """A selectable, frameless one-line value: long URLs scroll instead of wrapping or clipping."""
    field = QLineEdit()
    field.setReadOnly(True)
    field.setFrame(False)
    field.setStyleSheet("QLineEdit { background: transparent; padding: 0; }")
    field.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
    return field


def _section_title(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    label.setContentsMargins(0, 10, 0, 2)
    return label


class AgentDetails(QScrollArea):
    """Shows `agent_status(...)` of the selected agent, or a hint when none is selected."""

    refresh_requested = Signal(str)
    remove_requested = Signal(str)
    add_secret_requested = Signal(str)
    copied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.slug: str | None = None
        body = QWidget()
        self.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(12, 4, 4, 4)

        self.hint = QLabel("Select an agent to see its card, what it demands and its bridged URL.")
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        palette = self.hint.palette()
        palette.setColor(self.hint.foregroundRole(), HINT_COLOR)
        self.hint.setPalette(palette)
        layout.addWidget(self.hint)

        self.content = QWidget()
        content = QVBoxLayout(self.content)
        content.setContentsMargins(0, 0, 0, 0)
        self.name = QLabel()
        font = self.name.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.name.setFont(font)
        self.name.setWordWrap(True)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        content.addWidget(self.name)
        content.addWidget(self.description)

        self.bridged = QLineEdit()
        self.bridged.setObjectName("bridgedUrl")
        self.bridged.setReadOnly(True)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setObjectName("copyBridgedUrl")
        self.copy_button.setToolTip("Copy the bridged URL: point any A2A client at it instead of the agent")
        self.copy_button.clicked.connect(self.copy_bridged_url)
        bridged_row = QHBoxLayout()
        bridged_row.addWidget(self.bridged, 1)
        bridged_row.addWidget(self.copy_button)

        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.copy_button.setAccessibleName("Copy the bridged URL")
        bridged_label = QLabel("Bridged URL:")
        bridged_label.setBuddy(self.bridged)
        bridged_label.setToolTip("Point any A2A client at this URL instead of the agent's own")
        bridged_row.insertWidget(0, bridged_label)
        content.addSpacing(4)
        content.addLayout(bridged_row)
        self.port_row = AgentPortRow()  # issue 18: the agent at the root of a port of its own
        content.addWidget(self.port_row)
        self.fields: dict[str, QLineEdit] = {}
        for key, label in (
            ("url", "Agent URL:"),
            ("card_url", "Card:"),
            ("protocols", "Protocols:"),
            ("streaming", "Streaming:"),
            ("callers", "Callers:"),
            ("fingerprint", "Fingerprint:"),
            ("added", "Added:"),
            ("last_seen", "Card read:"),
        ):
            value = _value_field()
            self.fields[key] = value
            self.form.addRow(label, value)
        self.fields["fingerprint"].setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        content.addLayout(self.form)
        content.addWidget(_section_title("Secret demands"))
        style = self.style()
        icons = {
            "ok": style.standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton),
            "asks": app_icon(),  # kept by Keybroker; nothing is wrong
            "partial": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning),
            "missing": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxQuestion),
            "unsupported": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation),
        }
        colors: dict[str, QColor | None] = {
            "ok": OK_COLOR,
            "asks": None,  # the table's own text colour
            "partial": WARN_COLOR,
            "missing": MISSING_COLOR,
            "unsupported": MISSING_COLOR,
        }

        def icon_of(d: Row) -> QIcon:
            return icons[demand_state(d.status)]

        def color_of(d: Row) -> QColor | None:
            return colors[demand_state(d.status)]

        demand_columns: list[Column[DemandStatus]] = [
            Column("Key", lambda d: d.key, chars=17),
            Column(
                "Name",
                lambda d: d.name,
                chars=16,
                tooltip=lambda d: d.description or d.name,
            ),
            Column("Status", lambda d: status_text(d.status), icon=icon_of, foreground=color_of),
        ]
        self.demands_model: RecordTableModel[DemandStatus] = RecordTableModel(
            demand_columns, key=lambda d: d.key
        )
        self.demands_view = make_table_view(self.demands_model)
        self.demands_view.setAccessibleName("Secret demands")
        self.demands_area = CompactTable(
            self.demands_view,
            "Its card declares no secrets; it may still ask for one while it runs.",
            wrap=True,
        )
        content.addWidget(self.demands_area)

        content.addWidget(_section_title("Security schemes"))
        scheme_columns: list[Column[SchemeStatus]] = [
            Column("Name", lambda s: s.name, chars=19),
            Column("Kind", lambda s: s.summary, chars=15),
            Column("Status", lambda s: status_text(s.status), icon=icon_of, foreground=color_of),
        ]
        self.schemes_model: RecordTableModel[SchemeStatus] = RecordTableModel(
            scheme_columns, key=lambda s: s.name
        )
        self.schemes_view = make_table_view(self.schemes_model)
        self.schemes_view.setAccessibleName("Security schemes")
        self.schemes_area = CompactTable(
            self.schemes_view, "Its card asks callers for no authentication.", wrap=True
        )
        content.addWidget(self.schemes_area)

        buttons = QHBoxLayout()
        self.refresh_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_BrowserReload), "Refresh card"
        )
        self.refresh_button.setObjectName("refreshAgent")
        self.refresh_button.setToolTip("Fetch the card again and notice changes")
        self.refresh_button.clicked.connect(lambda: self.slug and self.refresh_requested.emit(self.slug))
        self.add_secret_button = QPushButton("Add a secret for it…")
        self.add_secret_button.setObjectName("addAgentSecret")
        self.add_secret_button.clicked.connect(
            lambda: self.slug and self.add_secret_requested.emit(self.slug)
        )
        self.remove_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_TrashIcon), "Remove…")
        self.remove_button.setObjectName("removeAgent")
        self.remove_button.clicked.connect(lambda: self.slug and self.remove_requested.emit(self.slug))
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.add_secret_button)
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)
        content.addSpacing(6)
        content.addLayout(buttons)
        content.addStretch(1)
        layout.addWidget(self.content)
        self.show_agent(None)

    def show_agent(self, status: AgentStatus | None) -> None:
        """Fill in `agent_status(...)`, or show the hint for None."""
        self.hint.setVisible(status is None)
        self.content.setVisible(status is not None)
        self.port_row.show_agent(status)
        if status is None:
            self.slug = None
            self.demands_model.set_rows([])
            self.schemes_model.set_rows([])
            return
        self.slug = status.slug
        self.name.setText(status.name or self.slug)
        self.description.setText(status.description)
        self.description.setVisible(bool(status.description))
        self.bridged.setText(status.bridged_url)
        self.bridged.setCursorPosition(0)
        versions = status.protocol_versions
        self.fields["url"].setText(status.url)
        self.fields["card_url"].setText(status.card_url)
        self.fields["protocols"].setText(", ".join(f"A2A {v}" for v in versions) or "unknown")
        self.fields["streaming"].setText("yes" if status.streaming else "no")
        self.fields["callers"].setText(
            "only callers that present the API token" if status.require_token else "any local process"
        )
        fingerprint = status.fingerprint
        self.fields["fingerprint"].setText(short_id(fingerprint, 16))
        self.fields["fingerprint"].setToolTip(f"SHA-256 of the card: {fingerprint}")
        self.fields["added"].setText(full_time(status.added))
        self.fields["last_seen"].setText(full_time(status.last_seen))
        for key, field in self.fields.items():
            field.setCursorPosition(0)
            if key != "fingerprint":
                field.setToolTip(field.text())
        self.demands_model.set_rows(list(status.demands))
        self.schemes_model.set_rows(list(status.schemes))

    def copy_bridged_url(self) -> None:
        """Copy the bridged URL."""
        url = self.bridged.text()
        if url:
            QGuiApplication.clipboard().setText(url)
            self.copied.emit(url)
