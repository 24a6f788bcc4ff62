# SPDX-License-Identifier: Apache-2.0
"""The General tab's vault section: the vault in use (and, for a team vault, who Keybroker is there and
when its token expires), and which vault the next start uses.

A running app holds its vault, so a choice made here applies at the next start. Values never move from
here: when the catalog holds values and the choice would leave them behind, the group says so and gives
the `keybroker vault use ... --copy` command (quit Keybroker, run it: the values are copied and verified).
A team vault's details are read off the UI thread (they ask the server). Never a token: the token, secret
id or password is typed into `keybroker vault login` or given as BAO_TOKEN.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from keybroker.core.errors import KeybrokerError
from keybroker.core.vault.openbao_config import OpenBaoConfig, default_prefix, install_name
from keybroker.system.vault_choice import save_choice, vault_choice
from keybroker.ui.app_state import vault_text
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.general_groups import note_label
from keybroker.ui.settings.status_line import StatusLine

BACKENDS = (("system", "The OS vault of this computer"), ("openbao", "A team vault (OpenBao)"))
AUTH = (("token", "Token"), ("approle", "AppRole"), ("userpass", "User name and password"))
_SHOWN_DETAILS = ("identity", "policies", "token from", "token expires", "active node", "teams")


class VaultGroup(QGroupBox):
    """See the module docstring."""

    def __init__(self, ctx: TabContext, status: StatusLine, parent: QWidget | None = None) -> None:
        super().__init__("Vault", parent)
        self._ctx = ctx
        self._status = status
        self.label = QLabel()
        self.label.setObjectName("vaultBackend")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning = note_label(warning=True)
        self.details = QLabel()
        self.details.setObjectName("vaultDetails")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.check_button = QPushButton("Check the connection")
        self.check_button.setObjectName("checkVault")
        self.check_button.clicked.connect(self.check)

        self.backend = QComboBox()
        self.backend.setObjectName("vaultChoice")
        for value, text in BACKENDS:
            self.backend.addItem(text, value)
        self.backend.currentIndexChanged.connect(self._on_backend)
        self.address = QLineEdit()
        self.address.setObjectName("openbaoAddress")
        self.address.setPlaceholderText("https://bao.example:8200 (several nodes: separate with commas)")
        self.mount = QLineEdit()
        self.mount.setPlaceholderText("secret")
        self.prefix = QLineEdit()
        self.prefix.setPlaceholderText(default_prefix())
        self.auth = QComboBox()
        for value, text in AUTH:
            self.auth.addItem(text, value)
        self.who = QLineEdit()
        self.who.setPlaceholderText("AppRole role id, or user name")
        self.teams = QLineEdit()
        self.teams.setObjectName("openbaoTeams")
        self.teams.setPlaceholderText("team names, separated with commas")
        self.apply_button = QPushButton("Use at the next start")
        self.apply_button.setObjectName("applyVault")
        self.apply_button.clicked.connect(self.apply)
        self.choice_note = note_label()
        self.choice_note.setObjectName("vaultChoiceNote")
        self.choice_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.openbao_form = QWidget()
        form = QFormLayout(self.openbao_form)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Address:", self.address)
        form.addRow("KV v2 mount:", self.mount)
        form.addRow("Your values under:", self.prefix)
        form.addRow("Log in with:", self.auth)
        form.addRow("Role id / user:", self.who)
        form.addRow("Team secrets of:", self.teams)
        check_row = QHBoxLayout()
        check_row.addWidget(self.details, 1)
        check_row.addWidget(self.check_button, 0, Qt.AlignmentFlag.AlignTop)
        choose = QFormLayout()
        choose.addRow("Keep the values in:", self.backend)
        rows = QVBoxLayout(self)
        rows.setSpacing(6)
        rows.addWidget(self.label)
        rows.addWidget(self.warning)
        rows.addLayout(check_row)
        rows.addLayout(choose)
        rows.addWidget(self.openbao_form)
        apply_row = QHBoxLayout()
        apply_row.addStretch(1)
        apply_row.addWidget(self.apply_button)
        rows.addLayout(apply_row)
        rows.addWidget(self.choice_note)

    # reading ------------------------------------------------------------------------------------

    def refresh(self, status: Mapping[str, Any]) -> None:
        """Show the vault in use (from the runtime's status) and the saved choice."""
        described = str(status.get("vault") or "not open")
        session_only = bool(status.get("session_only_vault"))
        self.label.setText(vault_text(described))
        self.label.setToolTip(described)
        self.warning.setText(
            "Nothing stored now survives a restart. Run Keybroker where an OS vault is available "
            "(GNOME Keyring, KWallet, macOS Keychain, Windows Credential Manager) to keep values."
            if session_only
            else ""
        )
        self.warning.setVisible(session_only)
        choice = vault_choice(self._environ(), self._ctx.runtime.paths)
        config = choice.openbao
        self.backend.setCurrentIndex(max(0, self.backend.findData("openbao" if config else "system")))
        if choice.mode == "openbao" and config is not None:
            self.address.setText(", ".join(config.addresses))
            self.mount.setText(config.mount)
            self.prefix.setText(config.prefix)
            self.auth.setCurrentIndex(max(0, self.auth.findData(config.auth)))
            self.who.setText(config.role_id or config.username)
            self.teams.setText(", ".join(config.teams))
        self._on_backend()
        if choice.from_env:
            self.choice_note.setText("KEYBROKER_VAULT is set: it chooses the vault, whatever is saved here.")

    def check(self) -> None:
        """Ask the vault who Keybroker is there, off the UI thread."""
        self._status.busy("Asking the vault…")

        def done(details: dict[str, str]) -> None:
            self._status.clear()
            lines = [f"{k}: {v}" for k, v in details.items() if k in _SHOWN_DETAILS]
            self.details.setText("\n".join(lines) or "The OS vault answers.")

        def failed(exc: BaseException) -> None:
            self.details.setText("")
            self._status.failed(exc)

        self._ctx.jobs.submit(lambda: self._ctx.admin.vault_details(), on_done=done, on_error=failed)

    # choosing ------------------------------------------------------------------------------------

    def chosen(self) -> tuple[str, OpenBaoConfig | None]:
        """The backend and configuration the fields describe; `InvalidInputError` when one is bad."""
        mode = str(self.backend.currentData())
        if mode != "openbao":
            return mode, None
        paths = self._ctx.runtime.paths
        auth = str(self.auth.currentData())
        who = self.who.text().strip()
        saved = vault_choice({}, paths).openbao
        config = OpenBaoConfig(
            addresses=tuple(a.strip() for a in self.address.text().split(",") if a.strip()),
            mount=self.mount.text().strip() or "secret",
            prefix=self.prefix.text().strip() or default_prefix(),
            auth=auth,  # type: ignore[arg-type]
            role_id=who if auth == "approle" else "",
            username=who if auth == "userpass" else "",
            teams=tuple(t.strip() for t in self.teams.text().split(",") if t.strip()),
            install=saved.install if saved else install_name(str(paths.data_dir)),
        )
        return mode, config

    def apply(self) -> None:
        """Save the choice for the next start; refuse (with the command that moves them) when values would
        be left behind in the vault in use."""
        try:
            mode, config = self.chosen()
            current = vault_choice(self._environ(), self._ctx.runtime.paths)
            if mode == current.mode and (config is None or config == current.openbao):
                self.choice_note.setText("This is the vault in use.")
                return
            values = [r for r in self._ctx.admin.secrets() if r.team is None]
        except KeybrokerError as exc:
            self._status.failed(exc)
            return
        if values:
            self.choice_note.setText(
                f"{len(values)} value(s) are in the vault in use and would be left behind. Quit Keybroker "
                f"and run:\n{self.command(mode, config)}\nIt copies them across and checks each one "
                "(add --remove-old to delete them from the vault left)."
            )
            self._status.warning("Not switched: the values must be copied across first.")
            return
        try:
            save_choice(self._ctx.runtime.paths, mode, config)
        except OSError as exc:
            self._status.error(f"Could not save the settings: {exc.strerror or exc}")
            return
        self.choice_note.setText("Saved. Keybroker uses this vault from its next start.")
        self._status.ok("Saved.")
        self._ctx.announce("settings")

    @staticmethod
    def command(mode: str, config: OpenBaoConfig | None) -> str:
        """The `keybroker vault use` command that makes this choice with the values copied across."""
        argv = ["keybroker", "vault", "use", mode]
        if config is not None:
            for address in config.addresses:
                argv += ["--address", address]
            argv += ["--mount", config.mount, "--prefix", config.prefix, "--auth", config.auth]
            if config.role_id:
                argv += ["--role-id", config.role_id]
            if config.username:
                argv += ["--username", config.username]
            for team in config.teams:
                argv += ["--team", team]
        return shlex.join([*argv, "--copy"])

    def _on_backend(self) -> None:
        self.openbao_form.setVisible(self.backend.currentData() == "openbao")

    def _environ(self) -> Mapping[str, str]:
        environ = getattr(self._ctx.runtime.options, "environ", None)
        return environ if isinstance(environ, Mapping) else {}
