# SPDX-License-Identifier: Apache-2.0
"""The Sign-ins tab: each agent's OAuth 2, OpenID Connect and mutual TLS schemes and their state.

One row per scheme whose credential is a sign-in or a client certificate (core/agents/schemes.py):
signed in as whom and until when, a client set, a certificate valid until when, or what is missing
(core/agents/sign_in_status.py words it, the same sentence `agents show` and `auth list` give). Never a
token. Signing in, out, setting a client and importing a certificate are `keybroker auth ...` for now;
the tab says so. It re-reads when agents, secrets or the audit log change (a sign-in is audited).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from keybroker.core.agents.schemes import credential_kind
from keybroker.core.agents.status import AgentStatus
from keybroker.core.models import SecurityScheme
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.tab_base import SettingsTab
from keybroker.ui.settings.table import TableArea, make_table_view
from keybroker.ui.settings.table_model import Column, RecordTableModel

EMPTY_TITLE = "No sign-ins"
EMPTY_TEXT = (
    "Agents whose cards ask for OAuth 2, OpenID Connect or a client certificate show here, "
    "with whether you are signed in and until when."
)
HOW_TO = (
    "Sign in with `keybroker auth login AGENT`, set a client with `keybroker auth client AGENT "
    "--client-id ID`, import a certificate with `keybroker auth cert AGENT --cert FILE --key FILE`, "
    "sign out with `keybroker auth logout AGENT`. An agent that refuses a request asks you to sign in."
)
_KIND_TEXT = {"oauth2": "OAuth 2", "openIdConnect": "OpenID Connect", "mutualTLS": "mutual TLS"}


@dataclass(frozen=True)
class SignInRow:
    """One agent scheme needing a sign-in or a certificate."""

    agent: str
    agent_name: str
    scheme: str
    kind: str
    status: str
    satisfied: bool

    @property
    def key(self) -> str:
        """Unique per row."""
        return f"{self.agent}\0{self.scheme}"


def sign_in_rows(agents: list[AgentStatus]) -> list[SignInRow]:
    """The token and certificate schemes of `agents`, with their status."""
    rows = []
    for agent in agents:
        for s in agent.schemes:
            if credential_kind(SecurityScheme(s.name, s.kind)) not in ("token", "certificate"):
                continue
            rows.append(
                SignInRow(
                    agent.slug, agent.name, s.name, _KIND_TEXT.get(s.kind, s.kind), s.status, s.satisfied
                )
            )
    return rows


class SignInsTab(SettingsTab):
    """Sign-ins and client certificates, read-only (module docstring)."""

    topics = frozenset({"agents", "secrets", "audit"})

    def __init__(self, ctx: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        columns: list[Column[SignInRow]] = [
            Column("Agent", lambda r: r.agent, chars=21, tooltip=lambda r: f"{r.agent_name} ({r.agent})"),
            Column("Scheme", lambda r: r.scheme, chars=16),
            Column("Kind", lambda r: r.kind, chars=14),
            Column("Status", lambda r: r.status, tooltip=lambda r: r.status),
        ]
        self.model: RecordTableModel[SignInRow] = RecordTableModel(columns, key=lambda r: r.key)
        self.view = make_table_view(self.model)
        self.view.setAccessibleName("Sign-ins")
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.area = TableArea(self.view, EMPTY_TITLE, EMPTY_TEXT)
        self.how_to = QLabel(HOW_TO)
        self.how_to.setTextFormat(Qt.TextFormat.PlainText)
        self.how_to.setWordWrap(True)
        self.how_to.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.how_to)
        layout.addWidget(self.area, 1)

    def refresh(self) -> None:
        """Re-read the agents' schemes (catalog reads only)."""
        rows = sign_in_rows(self.ctx.admin.agents())
        self.model.set_rows(rows)
