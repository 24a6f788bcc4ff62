# SPDX-License-Identifier: Apache-2.0
"""Lock after the user has been idle for the minutes the General tab sets (0: never).

No polling: one single-shot timer is set for when the limit could first be reached (the limit minus
the idle time now, `core/broker/idle.py`); when it fires the idle time is read again and either
`lock_due` is emitted or the timer is set for the rest. A user at the machine thus costs at most one
wake-up per limit. Nothing is armed while the limit is 0 or while there is nothing to protect
(`set_needed(False)`: locked and nothing granted); the system's idle source is looked for only when
the limit is first set above 0, so an app without an idle lock never asks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from keybroker.core.broker.idle import limit_ms, ms_until_lock
from keybroker.system.settings import check_idle_minutes
from keybroker.ui.app_activity import AppActivity
from keybroker.ui.idle_sources import IdleSource, system_source

log = logging.getLogger("keybroker.ui")

SourceFinder = Callable[[], "IdleSource | None"]


class IdleLock(QObject):
    """Emits `lock_due` once the user has been idle for the limit while something needs protecting."""

    #: the idle limit was reached: lock now
    lock_due = Signal()

    def __init__(
        self,
        *,
        find_source: SourceFinder = system_source,
        activity: AppActivity | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._find_source = find_source
        self._source: IdleSource | None = None
        self._looked = False
        self._activity = activity or AppActivity(parent=self)
        self._limit = 0
        self._needed = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)  # fire when due, not 5% early
        self._timer.timeout.connect(self._check)

    @property
    def minutes(self) -> int:
        """The limit in minutes (0: never)."""
        return self._limit // 60_000

    @property
    def armed(self) -> bool:
        """A check is scheduled."""
        return self._timer.isActive()

    @property
    def next_check_ms(self) -> int | None:
        """Milliseconds until the scheduled check, or None when nothing is armed."""
        return self._timer.remainingTime() if self._timer.isActive() else None

    @property
    def source(self) -> IdleSource | None:
        """Where the idle time comes from (None until the limit is first set above 0)."""
        if not self._looked:
            return None
        return self._source or self._activity

    def set_minutes(self, minutes: int) -> None:
        """Lock after `minutes` idle (0: never); applies at once."""
        limit = limit_ms(check_idle_minutes(minutes)) if minutes else 0
        if limit == self._limit:
            return
        self._limit = limit
        log.info("idle lock: %s", f"after {minutes} idle minute(s)" if limit else "off")
        if limit:
            self._look_for_source()
        else:
            self._activity.stop()
        self._rearm()

    def set_needed(self, needed: bool) -> None:
        """Whether there is anything a lock would end; nothing is armed while there is not."""
        if needed != self._needed:
            self._needed = needed
            self._rearm()

    def stop(self) -> None:
        """Disarm for good (shutting down)."""
        self._limit = 0
        self._timer.stop()
        self._activity.stop()

    def idle_ms(self) -> int:
        """How long the user has been idle, from the system when it tells, else from Keybroker's input."""
        if self._source is not None:
            try:
                idle = self._source.idle_ms()
            except (OSError, ValueError) as exc:
                log.debug("idle time: %s failed (%s)", self._source.name, exc)
                idle = None
            if idle is not None:
                return idle
            if not self._activity.watching:
                log.info("idle time: %s stopped answering; using %s", self._source.name, self._activity.name)
                self._activity.start()
        return self._activity.idle_ms()

    def _look_for_source(self) -> None:
        if not self._looked:
            self._looked = True
            self._source = self._find_source()
        if self._source is None:
            self._activity.start()
        log.info("idle time from: %s", (self._source or self._activity).name)

    def _rearm(self) -> None:
        if not (self._limit and self._needed):
            self._timer.stop()
            return
        self._schedule()

    def _schedule(self) -> None:
        wait = ms_until_lock(self._limit, self.idle_ms())
        if wait:
            self._timer.start(wait)
            return
        self._timer.stop()
        log.info("idle for %d minute(s): locking", self.minutes)
        self.lock_due.emit()
        if self._limit and self._needed and not self._timer.isActive():
            self._timer.start(self._limit)  # the lock left something to protect: count again from now

    def _check(self) -> None:
        self._schedule()
