# SPDX-License-Identifier: Apache-2.0
"""Opens the settings window on demand (it is imported only then: start-up stays quick), brings it
forward, and puts the app's banners on it: "no tray on this desktop", "vault unavailable"."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

from keybroker.ui.banner import clear_banner, show_banner
from keybroker.ui.events import AppEvents
from keybroker.ui.icons import app_icon

log = logging.getLogger("keybroker.ui")

NO_TRAY_TEXT = (
    "This desktop has no system tray, so Keybroker opened this window instead. Prompts still appear "
    "when an agent asks. Closing this window keeps the bridge running (start Keybroker again to bring "
    "it back); Ctrl+Q quits."
)

WindowFactory = Callable[[Any, AppEvents], QWidget]


def _default_factory(runtime: Any, events: AppEvents) -> QWidget:
    from keybroker.ui.settings_window import SettingsWindow

    window: QWidget = SettingsWindow(runtime, events)
    return window


class SettingsHost:
    """The one settings window of the app."""

    def __init__(
        self,
        runtime: Any,
        events: AppEvents,
        *,
        factory: WindowFactory | None = None,
        no_tray: bool = False,
        on_quit: Callable[[], None] | None = None,
        on_lock: Callable[[], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.events = events
        self.no_tray = no_tray
        self.on_quit = on_quit
        self.on_lock = on_lock
        self._factory = factory or _default_factory
        self._window: QWidget | None = None
        self.problem: str | None = None
        #: The app's last `state_changed` value and prompt count, for a window opened after them.
        self.state: str | None = None
        self.pending = 0
        self._banners_shown: dict[str, tuple[str, QObject]] = {}
        events.state_changed.connect(self._on_state)
        events.prompts_changed.connect(self._on_pending)

    @property
    def window(self) -> QWidget | None:
        """The window, once it was opened (and not destroyed)."""
        if self._window is not None and not shiboken6.isValid(self._window):
            self._window = None
        return self._window

    def set_problem(self, problem: str | None) -> None:
        """Show why the vault is unavailable on the window (None: it is fine again)."""
        self.problem = problem
        window = self.window
        if window is not None:
            self._banners(window)

    def show(self, tab: str | None = None) -> QWidget | None:
        """Show the window (created on first use) on `tab`, raised and focused; None if it cannot load."""
        window = self.window
        if window is None:
            try:
                window = self._factory(self.runtime, self.events)
            except ImportError:
                log.exception("the settings window cannot be loaded")
                return None
            window.setWindowIcon(app_icon())
            if self.no_tray:
                QShortcut(QKeySequence.StandardKey.Quit, window, self._quit)
            self._window = window
            self._connect(window)
            self._banners(window)
            set_app_state = getattr(window, "set_app_state", None)
            if self.state is not None and callable(set_app_state):
                set_app_state(self.state, self.pending)
        if tab:
            show_tab = getattr(window, "show_tab", None)
            if callable(show_tab):
                show_tab(tab)
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def _on_state(self, state: str) -> None:
        self.state = state

    def _on_pending(self, count: int) -> None:
        self.pending = count

    def _connect(self, window: QWidget) -> None:
        """The window's "lock now" (and idle lock) goes to the app, which locks and shows it."""
        lock_requested = getattr(window, "lock_requested", None)
        if lock_requested is not None and self.on_lock is not None:
            lock_requested.connect(self.on_lock)

    def _quit(self) -> None:
        if self.on_quit is not None:
            self.on_quit()

    def _banners(self, window: QWidget) -> None:
        self._banner(window, "no-tray", NO_TRAY_TEXT if self.no_tray else None, "info")
        self._banner(window, "vault", f"Vault unavailable: {self.problem}" if self.problem else None, "error")

    def _banner(self, window: QWidget, key: str, text: str | None, kind: str) -> None:
        """Show `text` as banner `key` (replacing an older text), or take it away when None."""
        old = self._banners_shown.get(key)
        if old is not None and old[0] == text and shiboken6.isValid(old[1]):
            return
        if old is not None:
            del self._banners_shown[key]
            clear_banner(window, key, old[1])
        if text:
            banner = show_banner(window, text, kind=kind, key=key)
            if banner is not None:
                self._banners_shown[key] = (text, banner)

    def close(self) -> None:
        """Close the window (quitting)."""
        window = self.window
        if window is not None:
            window.close()
