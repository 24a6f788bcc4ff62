# SPDX-License-Identifier: Apache-2.0
"""The refresh discipline every tab follows: re-read on change, only while visible, coalesced.

A change marks the tab dirty. A visible tab re-reads once on the next turn of the event loop (or after
`refresh_delay_ms`, for the busy audit log), however many changes arrived; a hidden tab re-reads when it
is shown. No timer runs while nothing changes.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QWidget

from keybroker.core.errors import KeybrokerError
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.status_line import StatusLine

log = logging.getLogger("keybroker.ui")


class SettingsTab(QWidget):
    """A tab that re-reads the core when one of its `topics` changes."""

    #: `AppEvents.changed` topics this tab shows.
    topics: frozenset[str] = frozenset()
    #: Coalescing delay for a visible tab.
    refresh_delay_ms = 0

    def __init__(self, ctx: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._dirty = True
        self.refresh_count = 0
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.timeout.connect(self._refresh_now)
        ctx.events.changed.connect(self._on_changed)

    @property
    def dirty(self) -> bool:
        """True when what the tab shows may be out of date."""
        return self._dirty

    def _on_changed(self, topic: str) -> None:
        if topic in self.topics:
            self.mark_dirty()

    def mark_dirty(self) -> None:
        """Re-read soon if visible, else when next shown."""
        self._dirty = True
        if self.isVisible() and not self._refresh_timer.isActive():
            self._refresh_timer.start(self.refresh_delay_ms)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty:
            self._refresh_now()
        self.on_shown()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._refresh_timer.stop()
        self.on_hidden()

    def _refresh_now(self) -> None:
        self._refresh_timer.stop()
        self._dirty = False
        self.refresh_count += 1
        try:
            self.refresh()
        except KeybrokerError as exc:
            self._dirty = True
            log.warning("could not refresh the %s tab: %s", type(self).__name__, exc)
            self.show_unavailable(exc)

    def refresh_now(self) -> None:
        """Re-read at once (tests, and after this tab's own actions)."""
        self._refresh_now()

    # for subclasses -----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read what the tab shows from the core."""
        raise NotImplementedError

    def show_unavailable(self, exc: KeybrokerError) -> None:
        """The core could not be read (not running, catalog busy): say so on the tab's status line."""
        status = getattr(self, "status", None)
        if isinstance(status, StatusLine):
            status.failed(exc)

    def focus_filter(self) -> None:
        """Ctrl+F: put the focus in the tab's filter or search field (none here)."""

    def new_item(self) -> None:
        """Ctrl+N: add a new one of what the tab lists (nothing here)."""

    def edit_item(self) -> None:
        """F2: edit the selected one (nothing here)."""

    def on_shown(self) -> None:
        """The tab became visible (start a countdown, ...)."""

    def on_hidden(self) -> None:
        """The tab was hidden (stop timers, hide revealed values, ...)."""
