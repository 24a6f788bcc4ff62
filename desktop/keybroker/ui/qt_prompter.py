# SPDX-License-Identifier: Apache-2.0
"""`QtPrompter`: the app's `Prompter`. Prompts queue; one dialog is on screen at a time.

`ask` opens a `PromptDialog` with `open()` and awaits its `finished` signal through an asyncio future,
never `exec()` (a nested event loop breaks qasync). Several runs asking at once queue behind the dialog
on screen, which says "1 of 3 waiting"; the tray can bring any queued prompt to the front
(`raise_prompt`), the one it replaces waits hidden with what was typed so far. The broker owns the
deadline: when it cancels `ask`, the dialog is withdrawn (closed, answering nothing) and the next one
shows. The window that was active before the first prompt gets the focus back after the last one.
The broker says how many runs wait on each prompt (`waiters_changed`); the dialog shows it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QWidget

from keybroker.core.broker.prompts import PromptAnswer, PromptRequest
from keybroker.core.ports import Clock, Notifier, SystemClock
from keybroker.ui.allow_guard import GUARD_MS
from keybroker.ui.prompt_dialog import PromptDialog
from keybroker.ui.prompt_text import shown
from keybroker.ui.prompt_timing import watch_first_frame

log = logging.getLogger("keybroker.ui")

DialogFactory = Callable[[PromptRequest], PromptDialog]
#: How long after showing a prompt the app checks whether it got the focus (else it notifies).
FOCUS_CHECK_MS = 500
#: Waiter counts kept for prompts not asked yet.
_MAX_COUNTS = 64


@dataclass(eq=False)
class _Waiting:
    request: PromptRequest
    future: asyncio.Future[PromptAnswer]
    dialog: PromptDialog | None = None


class QtPrompter(QObject):
    """Shows prompts one at a time and answers the broker with what the user chose."""

    #: the number of prompts waiting (on screen or queued) changed
    queue_changed = Signal(int)
    #: a dialog was put on screen (for tests and the tray)
    dialog_shown = Signal(object)

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        dialog_factory: DialogFactory | None = None,
        guard_ms: int = GUARD_MS,
        parent: QObject | None = None,
    ) -> None:
        """`guard_ms`: how long a new dialog's Allow stays inert (ui/prompt_dialog.py)."""
        super().__init__(parent)
        self._clock = clock or SystemClock()
        self._notifier = notifier
        self._factory = dialog_factory or (
            lambda request: PromptDialog(request, clock=self._clock, guard_ms=guard_ms)
        )
        self._waiters: dict[str, int] = {}
        self._queue: list[_Waiting] = []
        self._current: _Waiting | None = None
        self._previous_window: QWidget | None = None

    def __repr__(self) -> str:
        return f"QtPrompter(waiting={len(self._queue)})"

    # The Prompter protocol ---------------------------------------------------------------------------

    async def ask(self, request: PromptRequest) -> PromptAnswer:
        """Queue `request`, show it when its turn comes, and return the user's answer."""
        entry = _Waiting(request, asyncio.get_running_loop().create_future())
        self._queue.append(entry)
        if self._current is None:
            self._show(entry)
        else:
            self._notify_waiting(request)
        self._queue_changed()
        try:
            return await entry.future
        finally:
            if not entry.future.done():  # the broker withdrew the prompt (deadline, shutdown)
                entry.future.cancel()
            self._drop(entry)

    def waiters_changed(self, prompt_id: str, waiters: int) -> None:
        """`waiters` runs wait on prompt `prompt_id` (core/broker/prompts.py's `WaitersListener`).

        Runs may join a prompt before the broker's `ask` reaches here: the count is kept for it."""
        self._waiters[prompt_id] = waiters
        if len(self._waiters) > _MAX_COUNTS:  # counts of prompts withdrawn before they were asked
            queued = {e.request.prompt_id for e in self._queue}
            self._waiters = {k: v for k, v in self._waiters.items() if k in queued or k == prompt_id}
        entry = next((e for e in self._queue if e.request.prompt_id == prompt_id), None)
        if entry is not None and entry.dialog is not None:
            entry.dialog.set_waiting(waiters)

    # For the tray -------------------------------------------------------------------------------------

    @property
    def pending(self) -> tuple[PromptRequest, ...]:
        """Prompts waiting for the user, the one on screen first."""
        return tuple(entry.request for entry in self._queue)

    @property
    def current_dialog(self) -> PromptDialog | None:
        """The dialog on screen, if any."""
        return self._current.dialog if self._current is not None else None

    def raise_prompt(self, prompt_id: str | None = None) -> bool:
        """Bring a prompt (the one on screen by default) to the front; False when there is none."""
        entry = next((e for e in self._queue if prompt_id in (None, e.request.prompt_id)), None)
        if entry is None:
            return False
        if entry is not self._current:
            if self._current is not None and self._current.dialog is not None:
                self._current.dialog.hide()  # keeps what was typed; it shows again when its turn comes
            self._queue.remove(entry)
            self._queue.insert(0, entry)
            self._show(entry)
            self._queue_changed()
        else:
            self._present(entry)
        return True

    def withdraw_all(self) -> None:
        """Close every prompt unanswered (quitting): each waiting `ask` sees a decline."""
        for entry in list(self._queue):
            if not entry.future.done():
                entry.future.set_result(PromptAnswer.deny("Keybroker is quitting"))
            self._drop(entry)

    # Internals ----------------------------------------------------------------------------------------

    def _show(self, entry: _Waiting) -> None:
        if self._current is None:
            active = QApplication.activeWindow()
            if not isinstance(active, PromptDialog):
                self._previous_window = active
        self._current = entry
        if entry.dialog is None:
            dialog = self._factory(entry.request)
            dialog.finished.connect(lambda _result, e=entry: self._on_finished(e))
            dialog.set_waiting(self._waiters.get(entry.request.prompt_id, 1))
            entry.dialog = dialog
            watch_first_frame(dialog, entry.request)  # logs when it is on screen (DESIGN §7)
            dialog.open()
        else:
            entry.dialog.show()
        self._present(entry)
        self.dialog_shown.emit(entry.dialog)
        QTimer.singleShot(FOCUS_CHECK_MS, lambda e=entry: self._check_focus(e))

    def _present(self, entry: _Waiting) -> None:
        dialog = entry.dialog
        if dialog is None:
            return
        dialog.raise_()
        dialog.activateWindow()

    def _on_finished(self, entry: _Waiting) -> None:
        dialog = entry.dialog
        if dialog is None or entry.future.done():  # withdrawn: the broker already gave up on it
            return
        entry.future.set_result(dialog.answer())
        self._drop(entry)

    def _drop(self, entry: _Waiting) -> None:
        """Take `entry` off the queue and the screen; show the next prompt or give the focus back."""
        if entry in self._queue:
            self._queue.remove(entry)
        self._waiters.pop(entry.request.prompt_id, None)
        dialog, entry.dialog = entry.dialog, None
        if dialog is not None:
            if not dialog.closed:
                dialog.withdraw()
            dialog.deleteLater()
        if entry is self._current:
            self._current = None
            if self._queue:
                self._show(self._queue[0])
            else:
                self._give_focus_back()
        self._queue_changed()

    def _queue_changed(self) -> None:
        total = len(self._queue)
        for position, entry in enumerate(self._queue, 1):
            if entry.dialog is not None:
                entry.dialog.set_queue(position, total)
        self.queue_changed.emit(total)

    def _give_focus_back(self) -> None:
        window, self._previous_window = self._previous_window, None
        if window is not None and shiboken6.isValid(window) and window.isVisible():
            window.raise_()
            window.activateWindow()

    def _check_focus(self, entry: _Waiting) -> None:
        dialog = entry.dialog
        if dialog is None or entry is not self._current or not shiboken6.isValid(dialog):
            return
        if not dialog.isActiveWindow():  # focus-stealing prevention kept it behind: say so
            self._notify_waiting(entry.request)

    def _notify_waiting(self, request: PromptRequest) -> None:
        if self._notifier is None:
            return
        agent = shown(request.agent.name or request.agent.slug, 60)
        keys = ", ".join(shown(k, 40) for k in request.keys[:3]) + ("…" if len(request.keys) > 3 else "")
        try:
            self._notifier.notify(f"{agent} asks for a secret", f"{keys}: open Keybroker to allow or deny")
        except Exception:  # a notice must never break a prompt
            log.warning("the notifier failed", exc_info=True)
