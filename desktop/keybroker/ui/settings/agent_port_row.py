# SPDX-License-Identifier: Apache-2.0
"""The Agents tab's "Own port" row: serve one agent at the root of a loopback port of its own.

Tools that look for `/.well-known/agent-card.json` only at a host's root (the A2A TCK, and others)
cannot find an agent under `/agents/<slug>/`; with a port of its own the agent is that port's root
(issue 18; core/agents/own_port.py). The spin box shows the agent's port ("none" for 0); Apply asks
for the shown one (0: none), and is enabled only when it differs from the agent's.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from keybroker.core.agents.status import AgentStatus

__all__ = ["AgentPortRow"]

TOOLTIP = (
    "Also serve this agent at the root of a loopback port of its own (http://127.0.0.1:PORT/), for "
    "clients that only look for the agent card at a host's root. Every bridge rule still applies there. "
    "“none”: only under /agents/<slug>/ on the bridge's port."
)


class AgentPortRow(QWidget):
    """A spin box for the agent's own port and an Apply button (module docstring)."""

    #: (slug, port or None) when Apply is clicked.
    port_requested = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slug: str | None = None
        self.current: int | None = None
        self.spin = QSpinBox()
        self.spin.setObjectName("agentPort")
        self.spin.setRange(0, 65535)
        self.spin.setSpecialValueText("none")
        self.spin.setAccessibleName("The agent's own port")
        self.spin.setToolTip(TOOLTIP)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("applyAgentPort")
        self.apply_button.setToolTip("Open (or close) the agent's own port now")
        self.apply_button.clicked.connect(self._apply)
        self.spin.valueChanged.connect(lambda _v: self._sync_button())
        label = QLabel("Own port:")
        label.setBuddy(self.spin)
        label.setToolTip(TOOLTIP)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(label)
        row.addWidget(self.spin)
        row.addWidget(self.apply_button)
        row.addStretch(1)

    def show_agent(self, status: AgentStatus | None) -> None:
        """Show `status`'s own port (none for None)."""
        self.slug = status.slug if status is not None else None
        self.current = status.bridge_port if status is not None else None
        self.spin.setValue(self.current or 0)
        self._sync_button()

    def _wanted(self) -> int | None:
        return self.spin.value() or None

    def _sync_button(self) -> None:
        self.apply_button.setEnabled(self.slug is not None and self._wanted() != self.current)

    def _apply(self) -> None:
        if self.slug is not None and self._wanted() != self.current:
            self.port_requested.emit(self.slug, self._wanted())
