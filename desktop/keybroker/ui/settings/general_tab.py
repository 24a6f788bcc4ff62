# SPDX-License-Identifier: Apache-2.0
"""The General tab: bridge port, start at login, idle lock, the vault (vault_group.py), folders, API token.

Settings are saved as soon as they change (`system/settings.py`); the port applies at the next start.
The token is read only when the user asks to see or copy it, off the UI thread (it lives in the vault).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFontDatabase
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from keybroker.core.errors import KeybrokerError
from keybroker.system import settings as settings_file
from keybroker.system.autostart import Autostart
from keybroker.system.settings import MAX_IDLE_LOCK_MINUTES, MAX_PORT, MIN_PORT, Settings
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.general_groups import StartupGroup, TokenGroup, blocked, note_label
from keybroker.ui.settings.status_line import WARN_COLOR, StatusLine
from keybroker.ui.settings.tab_base import SettingsTab
from keybroker.ui.settings.vault_group import VaultGroup


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on `host:port` now (a quick bind attempt)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


#: Sections with a bold title on their frame, so the tab does not read as a bare default form.
GROUP_STYLE = """
QGroupBox { font-weight: bold; border: 1px solid #d3d7dc; border-radius: 6px;
            margin-top: 10px; padding: 10px 6px 4px 6px; }
QGroupBox::title { subcontrol-origin: margin; subcontrol-position: top left; left: 10px; padding: 0 4px; }
QGroupBox QWidget { font-weight: normal; }
"""


class GeneralTab(SettingsTab):
    """Settings that are not about one secret or agent."""

    topics = frozenset({"settings"})
    #: Saved settings (the window forwards them to the app: idle lock applies at once).
    settings_saved = Signal(object)

    def __init__(
        self,
        ctx: TabContext,
        parent: QWidget | None = None,
        *,
        autostart: Autostart | None = None,
        port_check: Callable[[int], bool] = port_in_use,
    ) -> None:
        super().__init__(ctx, parent)
        self._port_check = port_check
        self.settings = Settings()
        self.status = StatusLine()

        # Bridge
        self.port_spin = QSpinBox()
        self.port_spin.setObjectName("bridgePort")
        self.port_spin.setRange(MIN_PORT, MAX_PORT)
        self.port_spin.setKeyboardTracking(False)
        self.port_spin.setGroupSeparatorShown(False)
        self.port_spin.setFixedWidth(120)
        self.port_spin.valueChanged.connect(self._on_port_changed)
        self.port_note = note_label()
        self.port_warning = QLabel()
        self.port_warning.setWordWrap(True)
        self.port_warning.setVisible(False)
        self._color(self.port_warning)
        bridge, bridge_rows = self._group("Bridge")
        bridge_form = QFormLayout()
        bridge_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        bridge_form.addRow("Port on 127.0.0.1:", self.port_spin)
        bridge_rows.addLayout(bridge_form)
        bridge_rows.addWidget(self.port_note)
        bridge_rows.addWidget(self.port_warning)

        startup = StartupGroup(autostart, self.status)
        self.startup = startup

        # Security
        self.idle_spin = QSpinBox()
        self.idle_spin.setObjectName("idleLockMinutes")
        self.idle_spin.setRange(0, MAX_IDLE_LOCK_MINUTES)
        self.idle_spin.setSpecialValueText("Never")
        self.idle_spin.setSuffix(" min")
        self.idle_spin.setKeyboardTracking(False)
        self.idle_spin.setFixedWidth(120)
        self.idle_spin.valueChanged.connect(self._on_idle_changed)
        security, security_rows = self._group("Security")
        security_form = QFormLayout()
        security_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        security_form.addRow("Lock after being idle for:", self.idle_spin)
        security_rows.addLayout(security_form)
        security_rows.addWidget(
            note_label(
                "Idle means no keyboard or mouse input on this computer. Keybroker also locks when the "
                "screen locks or the computer goes to sleep. Locking ends every grant except “always” ones "
                "and forgets cached values, as “Lock now” does."
            )
        )

        # Vault: the one in use, and the one the next start uses (vault_group.py)
        vault = VaultGroup(ctx, self.status)
        self.vault = vault
        self.vault_label, self.vault_warning = vault.label, vault.warning

        token = TokenGroup(ctx, self.status)
        self.token = token

        # Folders
        self.dir_labels: dict[str, QLabel] = {}
        folders, folders_rows = self._group("Folders")
        folders_form = QFormLayout()
        for key, title in (("data", "Data (catalog, audit):"), ("config", "Settings:"), ("logs", "Logs:")):
            label = QLabel()
            label.setObjectName(f"{key}Dir")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
            open_button = QPushButton("Open")
            open_button.setToolTip("Open in the file manager")
            open_button.setAccessibleName(f"Open the {title.rstrip(':')} folder")
            open_button.clicked.connect(lambda _c=False, k=key: self._open_dir(k))
            line = QHBoxLayout()
            line.addWidget(label, 1)
            line.addWidget(open_button)
            self.dir_labels[key] = label
            folders_form.addRow(title, line)
        folders_rows.addLayout(folders_form)

        body = QWidget()
        content = QVBoxLayout(body)
        content.addWidget(self.status)
        for group in (bridge, startup, security, vault, token, folders):
            content.addWidget(group)
        content.addStretch(1)
        body.setObjectName("generalBody")
        body.setStyleSheet(GROUP_STYLE)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

    @staticmethod
    def _group(title: str) -> tuple[QGroupBox, QVBoxLayout]:
        box = QGroupBox(title)
        layout = QVBoxLayout(box)
        layout.setSpacing(6)
        return box, layout

    @staticmethod
    def _color(label: QLabel) -> None:
        palette = label.palette()
        palette.setColor(label.foregroundRole(), WARN_COLOR)
        label.setPalette(palette)

    # reading ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Show the saved settings, the autostart state, the vault and the folders."""
        paths = self.ctx.runtime.paths
        self.settings = settings_file.load(paths.settings_file)
        with blocked(self.port_spin, self.idle_spin):
            self.port_spin.setValue(self.settings.bridge_port)
            self.idle_spin.setValue(self.settings.idle_lock_minutes)
        self._describe_port()
        self.startup.refresh()
        self.vault.refresh(self.ctx.runtime.status())
        for key, path in (
            ("data", paths.data_dir),
            ("config", paths.config_dir),
            ("logs", paths.log_dir),
        ):
            self.dir_labels[key].setText(str(path))
            self.dir_labels[key].setToolTip(str(path))

    def on_hidden(self) -> None:
        """Hide the token again."""
        self.token.conceal()

    # port and idle lock -------------------------------------------------------------------------

    def _environ(self) -> Mapping[str, str]:
        environ = getattr(self.ctx.runtime.options, "environ", None)
        return environ if isinstance(environ, Mapping) else {}

    def _describe_port(self) -> None:
        running = self.ctx.runtime.status().get("port")
        wanted = self.port_spin.value()
        parts = []
        if isinstance(running, int) and running:
            parts.append(f"Listening now on http://127.0.0.1:{running}.")
        override = self._environ().get("KEYBROKER_PORT")
        if override:
            parts.append(f"KEYBROKER_PORT={override} is set and overrides this setting.")
        if running != wanted:
            parts.append(f"A change applies when Keybroker restarts; bridged URLs then use port {wanted}.")
        else:
            parts.append("A change applies when Keybroker restarts.")
        self.port_note.setText(" ".join(parts))
        busy = running != wanted and self._port_check(wanted)
        self.port_warning.setText(
            f"Port {wanted} is in use by another program right now: the bridge cannot start on it "
            "unless it is free by then."
            if busy
            else ""
        )
        self.port_warning.setVisible(busy)

    def _save(self, **changes: int) -> None:
        path = self.ctx.runtime.paths.settings_file
        try:
            self.settings = settings_file.update(path, **changes)
        except (KeybrokerError, OSError) as exc:
            if isinstance(exc, OSError):
                self.status.error(f"Could not save the settings to {path}: {exc.strerror or exc}")
            else:
                self.status.failed(exc)
            self.refresh_now()
            return
        self.status.ok("Saved.")
        self.settings_saved.emit(self.settings)
        self.ctx.announce("settings")

    def _on_port_changed(self, port: int) -> None:
        self._save(bridge_port=port)
        self._describe_port()

    def _on_idle_changed(self, minutes: int) -> None:
        self._save(idle_lock_minutes=minutes)

    # folders ------------------------------------------------------------------------------------

    def _open_dir(self, key: str) -> None:
        path = Path(self.dir_labels[key].text())
        if path.is_dir():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
        else:
            self.status.warning(f"{path} does not exist yet.")
