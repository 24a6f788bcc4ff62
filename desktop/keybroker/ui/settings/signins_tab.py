# SPDX-License-Identifier: Apache-2.0
"""The Sign-ins tab: each agent's OAuth 2, OpenID Connect and mutual TLS schemes, their state and buttons.

One row per scheme whose credential is a sign-in or a client certificate (core/agents/schemes.py):
signed in as whom and until when, a client set, a certificate valid until when, or what is missing
(core/agents/sign_in_status.py words it, the same sentence `agents show` and `auth list` give). Never a
token. Sign in, Sign out (asked first), Set client and Import certificate do what `keybroker auth
login/logout/client/cert` do, through the runtime's `sign_in_admin` (core/auth/sign_in_admin.py), on a
worker: the browser opens with `webbrowser` ($BROWSER honoured), a device code shows in its dialog
(signin_dialogs.py). Cancel sign-in ends a sign-in still waiting for the browser or the code (its
loopback listener closes; nothing is stored) instead of leaving the tab busy until the flow's timeout.
It re-reads when agents, secrets or the audit log change (a sign-in is audited).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout, QWidget

from keybroker.core.admin.sign_ins import SignInAdmin
from keybroker.core.agents.schemes import credential_kind
from keybroker.core.agents.status import AgentStatus
from keybroker.core.catalog.signins import SignInRecord
from keybroker.core.models import SecurityScheme
from keybroker.core.safe_text import one_line
from keybroker.ui.settings.action_bar import ActionBar
from keybroker.ui.settings.asker import Answer, Confirmation
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.signin_dialogs import CertificateDialog, ClientDialog, DeviceCodeRelay
from keybroker.ui.settings.status_line import StatusLine
from keybroker.ui.settings.tab_base import SettingsTab
from keybroker.ui.settings.table import TableArea, make_table_view, selected_record
from keybroker.ui.settings.table_model import Column, RecordTableModel

EMPTY_TITLE = "No sign-ins"
EMPTY_TEXT = (
    "Agents whose cards ask for OAuth 2, OpenID Connect or a client certificate show here, "
    "with whether you are signed in and until when."
)
HOW_TO = (
    "Select a row to sign in (your browser opens, or a code to type on another device), sign out, "
    "set the OAuth client or import a client certificate; `keybroker auth login/logout/client/cert` "
    "do the same. An agent that refuses a request asks you to sign in."
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
    #: mutual TLS (Import certificate) rather than a token scheme (Sign in, Set client)
    certificate: bool = False
    #: tokens are held (Sign out)
    signed_in: bool = False

    @property
    def key(self) -> str:
        """Unique per row."""
        return f"{self.agent}\0{self.scheme}"


def sign_in_rows(agents: list[AgentStatus], records: list[SignInRecord] | None = None) -> list[SignInRow]:
    """The token and certificate schemes of `agents`, with their status (`records`: who is signed in)."""
    held = {(r.agent, r.scheme) for r in records or [] if r.signed_in is not None}
    rows = []
    for agent in agents:
        for s in agent.schemes:
            kind = credential_kind(SecurityScheme(s.name, s.kind))
            if kind not in ("token", "certificate"):
                continue
            rows.append(
                SignInRow(
                    agent.slug,
                    agent.name,
                    s.name,
                    _KIND_TEXT.get(s.kind, s.kind),
                    s.status,
                    s.satisfied,
                    certificate=kind == "certificate",
                    signed_in=(agent.slug, s.name) in held,
                )
            )
    return rows


class SignInsTab(SettingsTab):
    """Sign-ins and client certificates (module docstring)."""

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
        self.bar = ActionBar()
        self.sign_in_action = self.bar.add(
            "signIn", "Sign in", self.sign_in_selected, tip="Sign in now (your browser opens)"
        )
        self.sign_out_action = self.bar.add(
            "signOut", "Sign out…", self.sign_out_selected, tip="Revoke the tokens at the server, forget them"
        )
        self.client_action = self.bar.add(
            "setClient", "Set client…", self.set_client_selected, tip="The OAuth client id (and secret)"
        )
        self.cert_action = self.bar.add(
            "importCertificate", "Import certificate…", self.import_selected, tip="PEM or PKCS#12"
        )
        self.cancel_action = self.bar.add(
            "cancelSignIn", "Cancel sign-in", self.cancel_sign_in, tip="Stop waiting for the browser or code"
        )
        self.bar.row.addStretch(1)  # the buttons keep their size, on the left
        self.status = StatusLine()
        #: device codes of a sign-in running on a worker (tests read `relay.current`)
        self.relay = DeviceCodeRelay(self)
        self.dialog: QDialog | None = None
        self._busy = False
        #: the sign-in running on a worker (Cancel sign-in ends it)
        self._signing_in: SignInAdmin | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(self.how_to)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.area, 1)
        self.view.selectionModel().selectionChanged.connect(lambda *_a: self._update_actions())
        self._update_actions()

    def refresh(self) -> None:
        """Re-read the agents' schemes and who is signed in (catalog reads only)."""
        records = self.ctx.sign_ins(None).records()
        self.model.set_rows(sign_in_rows(self.ctx.admin.agents(), records))
        self._update_actions()

    def _selected(self) -> SignInRow | None:
        row = selected_record(self.view)
        return row if isinstance(row, SignInRow) else None

    def _update_actions(self) -> None:
        row = None if self._busy else self._selected()
        token = row is not None and not row.certificate
        self.sign_in_action.setEnabled(token)
        self.client_action.setEnabled(token)
        self.sign_out_action.setEnabled(token and row is not None and row.signed_in)
        self.cert_action.setEnabled(row is not None and row.certificate)
        self.cancel_action.setEnabled(self._signing_in is not None)

    # actions ------------------------------------------------------------------------------------

    def sign_in_selected(self) -> None:
        """Sign in to the selected scheme: the browser, or the device-code dialog."""
        row = self._selected()
        if row is None or row.certificate:
            return
        admin = self.ctx.sign_ins(self.relay)
        self._signing_in = admin
        self._run(
            f"Signing in to {row.agent} scheme {row.scheme}… finish in your browser",
            lambda: admin.login(row.agent, row.scheme),
            lambda r: f"Signed in{' as ' + one_line(r.subject, 80) if r.subject else ''} to {row.agent}.",
        )

    def cancel_sign_in(self) -> None:
        """End the running sign-in (the worker's flow stops; its error says it was cancelled)."""
        if self._signing_in is not None:
            self._signing_in.cancel_login()
            self.cancel_action.setEnabled(False)

    def sign_out_selected(self) -> None:
        """Ask, then revoke and forget the selected scheme's tokens."""
        row = self._selected()
        if row is None or not row.signed_in:
            return
        question = Confirmation(
            f"Sign out of {row.agent}?",
            f"Sign out of scheme {row.scheme} of {row.agent_name}?",
            detail="Keybroker revokes the tokens at the server where it can and forgets them; the agent "
            "asks you to sign in again when it needs to.",
            action="Sign out",
        )

        def answered(answer: Answer) -> None:
            if answer.accepted:
                admin = self.ctx.sign_ins(None)
                self._run(
                    f"Signing out of {row.agent}…",
                    lambda: admin.logout(row.agent, row.scheme),
                    lambda problem: (
                        f"Signed out of {row.agent}: "
                        + (
                            "the tokens were revoked and forgotten."
                            if problem is None
                            else f"forgotten ({problem})."
                        )
                    ),
                )

        self.ctx.asker.confirm(self, question, answered)

    def set_client_selected(self) -> None:
        """Ask for the client id and secret (or public), then keep them (the secret in the vault)."""
        row = self._selected()
        if row is None or row.certificate:
            return
        dialog = ClientDialog(row.agent_name, row.scheme, self)

        def finished(result: int) -> None:
            entered, self.dialog = dialog.entered, None
            dialog.deleteLater()
            if result and entered is not None:
                admin = self.ctx.sign_ins(None)
                kind = "public" if entered.secret is None else "confidential"
                self._run(
                    f"Setting the client of {row.agent}…",
                    lambda: admin.set_client(
                        row.agent, row.scheme, entered.client_id, entered.secret, entered.redirect_uri
                    ),
                    lambda _r: (
                        f"{kind.capitalize()} client {one_line(entered.client_id, 80)} set for {row.agent}."
                    ),
                )

        self._open(dialog, finished)

    def import_selected(self) -> None:
        """Ask for the certificate files, then import them (the key to the vault only)."""
        row = self._selected()
        if row is None or not row.certificate:
            return
        dialog = CertificateDialog(row.agent_name, row.scheme, self)

        def finished(result: int) -> None:
            files, self.dialog = dialog.entered, None
            dialog.deleteLater()
            if result and files is not None:
                admin = self.ctx.sign_ins(None)
                self._run(
                    f"Importing the certificate for {row.agent}…",
                    lambda: admin.import_certificate(row.agent, row.scheme, files),
                    lambda r: f"Certificate {one_line(r.cert_subject or '', 120)} set for {row.agent}.",
                )

        self._open(dialog, finished)

    def _open(self, dialog: QDialog, finished: Any) -> None:
        self.dialog = dialog
        dialog.finished.connect(finished)
        dialog.open()

    def _run(self, busy: str, work: Any, done: Any) -> None:
        self._busy = True
        self._update_actions()
        self.status.busy(busy)

        def ok(result: Any) -> None:
            self._busy = False
            self._signing_in = None
            self.status.ok(done(result))
            self.refresh_now()
            self.ctx.announce("secrets", "audit")

        def failed(exc: BaseException) -> None:
            self._busy = False
            self._signing_in = None
            self.status.failed(exc)
            self.refresh_now()

        self.ctx.jobs.submit(work, on_done=ok, on_error=failed)
