# SPDX-License-Identifier: Apache-2.0
"""The settings window: Secrets, Agents, Grants, Activity and General tabs (DESIGN §5).

Built by the tray with `SettingsWindow(runtime, events)`; shown with `show_tab(name)`. Each tab re-reads
the core when `AppEvents.changed` names its topic, and only while it is visible. The bottom line says
the app's state (ready, locked, paused, vault unavailable, bridge stopped, requests waiting) as the
tray does, following `AppEvents.state_changed` and `prompts_changed` at once. Blocking core calls
(the vault, card fetches) run on the window's `JobRunner`, never on the UI thread. Closing the window
hides it; the app keeps running in the tray. Ctrl+F goes to the tab's filter, Ctrl+N adds (a secret,
an agent), F2 edits the selected secret.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QMetaMethod, Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from keybroker.system.autostart import Autostart, AutostartError
from keybroker.ui.accessible import name_controls
from keybroker.ui.events import AppEvents
from keybroker.ui.settings.activity_tab import ActivityTab
from keybroker.ui.settings.agents_tab import AgentsTab
from keybroker.ui.settings.app_status import AppStatusLine
from keybroker.ui.settings.asker import Asker, QtAsker
from keybroker.ui.settings.banner import Banner, BannerStack
from keybroker.ui.settings.context import CALLER, AppFacade, TabContext
from keybroker.ui.settings.general_tab import GeneralTab
from keybroker.ui.settings.grants_tab import GrantsTab
from keybroker.ui.settings.jobs import JobRunner
from keybroker.ui.settings.models_tab import ModelsTab
from keybroker.ui.settings.secrets_tab import SecretsTab
from keybroker.ui.settings.tab_base import SettingsTab

log = logging.getLogger("keybroker.ui")

TAB_NAMES = ("secrets", "agents", "grants", "activity", "general")
WINDOW_TITLE = "Settings — Keybroker"


def _default_autostart() -> Autostart | None:
    try:
        return Autostart()
    except AutostartError as exc:  # e.g. an empty sys.executable
        log.warning("start at login is unavailable: %s", exc)
        return None


class SettingsWindow(QWidget):
    """Keybroker's settings: a top-level window with one tab per concern."""

    #: The user asked to lock now (Grants tab). When nothing is connected, the window locks itself.
    lock_requested = Signal()
    #: Settings were saved (General tab); `load(paths.settings_file)` has the new values.
    settings_changed = Signal()

    def __init__(
        self,
        runtime: AppFacade,
        events: AppEvents,
        parent: QWidget | None = None,
        *,
        asker: Asker | None = None,
        autostart: Autostart | None = None,
        jobs: JobRunner | None = None,
    ) -> None:
        super().__init__(parent)
        # Ends with the app's display name, so Qt does not append "— Keybroker" a second time.
        self.setWindowTitle(WINDOW_TITLE)
        self.setObjectName("settingsWindow")
        self.resize(1000, 660)
        self.setMinimumSize(760, 480)
        self.jobs = jobs or JobRunner(self)
        self.ctx = TabContext(runtime=runtime, events=events, jobs=self.jobs, asker=asker or QtAsker())

        self.banners = BannerStack()
        self.secrets_tab = SecretsTab(self.ctx)
        self.agents_tab = AgentsTab(self.ctx)
        self.grants_tab = GrantsTab(self.ctx)
        self.activity_tab = ActivityTab(self.ctx)
        self.models_tab = ModelsTab(self.ctx)  # issue 14
        self.general_tab = GeneralTab(
            self.ctx, autostart=autostart if autostart is not None else _default_autostart()
        )
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._by_name: dict[str, SettingsTab] = {}
        for name, title, tab in (
            ("secrets", "Secrets", self.secrets_tab),
            ("agents", "Agents", self.agents_tab),
            ("grants", "Grants", self.grants_tab),
            ("models", "Models", self.models_tab),
            ("activity", "Activity", self.activity_tab),
            ("general", "General", self.general_tab),
        ):
            tab.setObjectName(f"{name}Tab")
            self.tabs.addTab(tab, title)
            self._by_name[name] = tab

        self.app_status = AppStatusLine(runtime.status)
        events.state_changed.connect(self.set_app_state)
        events.prompts_changed.connect(self.app_status.set_pending)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 8)
        layout.setSpacing(8)
        layout.addWidget(self.banners)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.app_status)

        self.agents_tab.add_secret_requested.connect(self._add_secret_for)
        self.grants_tab.lock_requested.connect(self._on_lock)
        self.general_tab.settings_saved.connect(lambda _s: self.settings_changed.emit())
        QShortcut(QKeySequence(QKeySequence.StandardKey.Close), self, self.close)
        # Window-wide, passed to the tab on top (only the tabs that have a filter, a list to add to
        # or an editable selection act on them).
        QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self, lambda: self._on_top().focus_filter())
        QShortcut(QKeySequence(QKeySequence.StandardKey.New), self, lambda: self._on_top().new_item())
        QShortcut(QKeySequence(Qt.Key.Key_F2), self, lambda: self._on_top().edit_item())
        name_controls(self)

    # what the tray calls ------------------------------------------------------------------------

    def tab(self, name: str) -> SettingsTab:
        """The tab called `name` (one of `TAB_NAMES`)."""
        try:
            return self._by_name[name]
        except KeyError:
            raise ValueError(f"no settings tab {name!r}; use one of {', '.join(TAB_NAMES)}") from None

    def show_tab(self, name: str) -> None:
        """Bring the window up on tab `name`."""
        self.tabs.setCurrentWidget(self.tab(name))
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def current_tab_name(self) -> str:
        """The name of the tab on top."""
        current = self.tabs.currentWidget()
        return next(name for name, tab in self._by_name.items() if tab is current)

    def set_app_state(self, state: str, pending: int | None = None) -> None:
        """Show the app's state (an `AppEvents.state_changed` value) and, if given, the waiting prompts."""
        if pending is not None:
            self.app_status.pending = max(0, pending)
        self.app_status.set_state(state)

    def show_banner(self, text: str, kind: str = "info", key: str | None = None) -> Banner:
        """A dismissable bar at the top: `kind` is info, warning or error; one per `key`."""
        return self.banners.show_banner(text, kind, key)

    def clear_banner(self, key: str) -> None:
        """Take away the banner shown with `key` (e.g. "vault" once the vault works again)."""
        self.banners.clear_banner(key)

    # internals ----------------------------------------------------------------------------------

    def _on_top(self) -> SettingsTab:
        return self.tab(self.current_tab_name())

    def _add_secret_for(self, slug: str) -> None:
        self.show_tab("secrets")
        self.secrets_tab.add_secret(owner=slug)

    def _on_lock(self) -> None:
        if self.isSignalConnected(QMetaMethod.fromSignal(self.lock_requested)):
            self.lock_requested.emit()
            self.grants_tab.mark_dirty()
            return
        admin = self.ctx.runtime.admin(CALLER)
        if admin is None:
            self.grants_tab.status.error("Keybroker is not running: nothing to lock.")
            return
        self.grants_tab.status.busy("Locking…")

        def done(ended: list[str]) -> None:
            self.grants_tab.locked(len(ended))
            self.ctx.announce("grants", "agents", "audit")

        self.jobs.submit(admin.lock, on_done=done, on_error=self.grants_tab.status.failed)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing hides the window; revealed values and the token hide with it."""
        self.secrets_tab.reveal_box.hide_value()
        self.general_tab.token.conceal()
        super().closeEvent(event)
