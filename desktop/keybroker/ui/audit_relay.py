# SPDX-License-Identifier: Apache-2.0
"""Audit events -> `AppEvents.changed`, on the Qt thread.

`AuditLog.subscribe` calls its listeners from whichever thread appended (the loop, a vault worker, the
API); every change to agents, secrets and grants is audited, so this is how the tray and the settings
window hear of changes made anywhere. The listener only emits a signal: Qt queues it to the thread the
relay lives in, where the topics (`settings/topics.py`) go out and `audited` hands the event to the app.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from keybroker.core.models import AuditEvent
from keybroker.ui.events import AppEvents
from keybroker.ui.settings.topics import topics_for_event


class AuditRelay(QObject):
    """`listener` goes to `AuditLog.subscribe`; `audited(event)` then arrives on this object's thread."""

    audited = Signal(object)
    _arrived = Signal(object)

    def __init__(self, events: AppEvents, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._events = events
        self._arrived.connect(self._on_arrived)

    def listener(self, event: AuditEvent) -> None:
        """For `AuditLog.subscribe`: callable from any thread, returns at once."""
        self._arrived.emit(event)

    def _on_arrived(self, event: AuditEvent) -> None:
        for topic in topics_for_event(event):
            self._events.changed.emit(topic)
        self.audited.emit(event)
