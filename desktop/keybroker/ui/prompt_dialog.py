# SPDX-License-Identifier: Apache-2.0
"""The approval prompt: who asks (agent, URL, new or known, card changed, calling process), for what
(each key, its name, description and the policy's reason), for which task, and for how long.

Longer than 300 lines because it is one window whose parts, answers, countdown and guard act on the
same widgets; its words are prompt_text.py's, its look prompt_style.py's, the guard allow_guard.py's.

Shown with `open()` and answered through `finished`, never `exec()` (a nested loop breaks qasync).
Enter allows, Escape (or closing the window) denies. Allow stays inert for a second after the prompt
appears or gets the focus back (as browsers do for permission prompts): a Return or a click meant for
another window must not release a secret. `answer()` is the `PromptAnswer` once finished;
the typed values are cleared from the fields as the dialog closes. The dialog never enforces the
timeout: it only counts down to the broker's deadline, and the broker withdraws it (`withdraw()`).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from keybroker.core.broker.prompts import PromptAnswer, PromptRequest, SkipItem
from keybroker.core.ports import Clock, SystemClock
from keybroker.ui.accessible import name_controls
from keybroker.ui.allow_guard import GUARD_MS, AllowGuard
from keybroker.ui.icons import app_icon
from keybroker.ui.prompt_item import PromptItemWidget, plain_label
from keybroker.ui.prompt_model_item import ModelItemWidget
from keybroker.ui.prompt_style import style_sheet
from keybroker.ui.prompt_text import (
    countdown,
    full_ids,
    headline,
    queue_label,
    shown,
    task_line,
    waiting_label,
)
from keybroker.ui.scope_chooser import ScopeChooser

NEW_AGENT_TEXT = "\u26a0  New agent: Keybroker has never given it a secret."
CARD_CHANGED_TEXT = (
    "\u26a0  Its agent card changed since your last grant. Make sure it is still the agent you trust."
)
#: Below this many seconds the countdown turns red.
URGENT_SECONDS = 30
_MAX_ITEMS_HEIGHT = 470
DIALOG_WIDTH = 560


class PromptDialog(QDialog):
    """One `PromptRequest` on screen; `answer()` after `finished`."""

    def __init__(
        self,
        request: PromptRequest,
        *,
        clock: Clock | None = None,
        guard_timer: QTimer | None = None,
        guard_ms: int = GUARD_MS,
        parent: QWidget | None = None,
    ) -> None:
        """`guard_timer` (a test's own) measures the `guard_ms` during which Allow is inert; with
        `guard_ms` 0 Allow is never inert."""
        super().__init__(parent)
        self.request = request
        self._clock = clock or SystemClock()
        self._answer: PromptAnswer | None = None
        self.withdrawn = False
        self.closed = False
        self._scrolled: tuple[QScrollArea, QWidget] | None = None
        self._focused_once = False
        self.guard = AllowGuard(self, guard_ms, guard_timer)
        self._allow_takes_focus = False
        self.setObjectName("promptDialog")
        self.setStyleSheet(style_sheet(QGuiApplication.palette()))  # the desktop's colours, dark too
        self.setWindowIcon(app_icon())
        agent = shown(request.agent.name or request.agent.slug, 80)
        # Ends with the app's name, so Qt does not append it a second time on desktops that add it.
        self.setWindowTitle(f"{agent} asks for {_wanted(request)} — Keybroker")
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        self.setMinimumWidth(DIALOG_WIDTH)

        self._root = root = QVBoxLayout(self)
        root.setContentsMargins(22, 20, 22, 18)
        root.setSpacing(12)
        root.addLayout(self._header(agent))
        if request.card_changed:
            root.addWidget(plain_label(CARD_CHANGED_TEXT, "alert"))
        if request.first_contact:
            root.addWidget(plain_label(NEW_AGENT_TEXT, "warning"))
        root.addLayout(self._details())
        root.addWidget(_separator())

        self.items = [PromptItemWidget(item, request.agent.slug) for item in request.items]
        self.model_items = [ModelItemWidget(item) for item in request.models]  # issue 14
        root.addWidget(self._item_area(), 1)
        self.scope = ScopeChooser(request.scopes, request.default_scope)
        root.addWidget(self.scope)
        root.addWidget(_separator())
        root.addLayout(self._footer())

        for widget in self.items:
            widget.changed.connect(self._sync_allow)
        for model in self.model_items:
            model.changed.connect(self._sync_allow)
        self.guard.changed.connect(self._on_guard)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._tick)
        self._sync_allow()
        self._tick()
        name_controls(self)
        self.fit()

    # Answer ---------------------------------------------------------------------------------------

    def answer(self) -> PromptAnswer:
        """The user's answer (a decline until Allow was pressed)."""
        return self._answer if self._answer is not None else PromptAnswer.deny()

    def accept(self) -> None:
        """Allow, if at least one item gives a value and the guard has passed (Enter lands here too)."""
        if not (self.guard.armed and self.allow_button.isEnabled()):
            return
        choices = {w.item.key: w.choice() for w in self.items}
        models = {w.item.ref: w.choice() for w in self.model_items}
        self._answer = PromptAnswer.grant(
            self.scope.scope(), choices, minutes=self.scope.minutes(), models=models
        )
        super().accept()

    def reject(self) -> None:
        """Deny (Escape, the Deny button, closing the window)."""
        self._answer = PromptAnswer.deny()
        super().reject()

    def withdraw(self) -> None:
        """The broker took the prompt back (deadline, or no run waits any more): close, answer nothing."""
        self.withdrawn = True
        if not self.closed:
            super().reject()

    def done(self, result: int) -> None:
        """Every way out (closing the window is a Deny): stop the countdown, clear the typed values."""
        self.closed = True
        self._timer.stop()
        self.guard.finish()
        for item in self.items:
            item.clear()
        super().done(result)

    # Queue and countdown ----------------------------------------------------------------------------

    def set_queue(self, position: int, total: int) -> None:
        """Show `1 of 3 waiting` while other prompts queue behind this one."""
        text = queue_label(position, total)
        self.queue_label.setText(text)
        self.queue_label.setVisible(bool(text))

    @property
    def armed(self) -> bool:
        """Whether Allow answers: a second has passed since the prompt appeared or got the focus."""
        return self.guard.armed

    @property
    def guard_timer(self) -> QTimer:
        """The timer that measures the guard's second."""
        return self.guard.timer

    def guard_passed(self) -> bool:
        """`armed`, as a predicate for waits."""
        return self.guard.armed

    def set_waiting(self, count: int) -> None:
        """Show `Answers 200 waiting requests` when more than one run waits on this prompt."""
        text = waiting_label(count)
        self.waiting_label.setText(text)
        self.waiting_label.setVisible(bool(text))

    def seconds_left(self) -> float | None:
        """Seconds until the broker declines, or None when the request has no deadline."""
        if self.request.deadline <= 0:
            return None
        return self.request.deadline - self._clock.now()

    def showEvent(self, event: QShowEvent) -> None:
        """Start counting down, make Allow inert for a moment, and put the focus where the user starts
        (Allow gets it once it answers)."""
        super().showEvent(event)
        if self.request.deadline > 0:
            self._timer.start()
        self._tick()
        if not self._focused_once:
            self._focused_once = True
            first = next((w for w in self.items if w.needs_typing()), None)
            if first is not None:
                first.input.setFocus()
            elif self.guard.armed:
                self.allow_button.setFocus()
            else:
                self._allow_takes_focus = True
                self.setFocus()  # a disabled button cannot hold the focus: the dialog keeps it meanwhile

    def hideEvent(self, event: QHideEvent) -> None:
        """No timer runs while the dialog is hidden (queued behind another)."""
        self._timer.stop()
        super().hideEvent(event)

    def event(self, event: QEvent) -> bool:
        """The desktop switching between light and dark repaints the dialog in its new colours."""
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            self.setStyleSheet(style_sheet(QGuiApplication.palette()))
        return super().event(event)

    def fit(self, width: int = 0) -> None:
        """Size the dialog so wrapped text is never cut: Qt does not give a top-level window the
        height its word-wrapped labels need for its width, so it is computed here."""
        width = max(width, self.width() if self.isVisible() else 0, DIALOG_WIDTH)
        if self._scrolled is not None:
            area, body = self._scrolled
            margins = self._root.contentsMargins()
            inner = width - margins.left() - margins.right() - area.verticalScrollBar().sizeHint().width()
            area.setMinimumHeight(min(body.heightForWidth(inner), _MAX_ITEMS_HEIGHT))
        height = self.heightForWidth(width)
        screen = self.screen().availableGeometry().height() if self.screen() is not None else 0
        if screen:
            height = min(height, int(screen * 0.92))
        self.resize(width, max(height, self.minimumSizeHint().height()))

    # Building -------------------------------------------------------------------------------------

    def _header(self, agent: str) -> QHBoxLayout:
        header = QHBoxLayout()
        header.setSpacing(14)
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(48, 48))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        header.addWidget(icon)
        titles = QVBoxLayout()
        titles.setSpacing(2)
        self.agent_label = plain_label(agent, "agentName")
        titles.addWidget(self.agent_label)
        titles.addWidget(plain_label(headline(self.request), "headline"))
        header.addLayout(titles, 1)
        return header

    def _details(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(4)
        agent = self.request.agent
        known = "new agent" if self.request.first_contact else "known agent"
        rows = [("Agent", f"{shown(agent.url, 200)}  ·  {shown(agent.slug, 64)}  ·  {known}")]
        if self.request.caller:
            rows.append(("Caller", shown(self.request.caller, 200)))
        task = task_line(self.request)
        if task:
            rows.append(("For", task))
        for row, (name, value) in enumerate(rows):
            label = plain_label(name, "fieldLabel", wrap=False)
            label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            grid.addWidget(label, row, 0)
            value_label = plain_label(value, "fieldValue")
            value_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if name == "For":
                value_label.setToolTip(full_ids(self.request))
            grid.addWidget(value_label, row, 1)
        grid.setColumnStretch(1, 1)
        return grid

    def _item_area(self) -> QWidget:
        body = QWidget()
        body.setObjectName("itemsBody")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        for widget in (*self.items, *self.model_items):
            layout.addWidget(widget)
        layout.addStretch(1)
        if len(self.items) + len(self.model_items) <= 2:
            return body
        area = QScrollArea()
        area.setObjectName("items")
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setWidget(body)
        self._scrolled = (area, body)
        return area

    def _footer(self) -> QHBoxLayout:
        footer = QHBoxLayout()
        footer.setSpacing(10)
        status = QVBoxLayout()
        status.setSpacing(0)
        self.countdown_label = plain_label("", "countdown", wrap=False)
        status.addWidget(self.countdown_label)
        self.queue_label = plain_label("", "queue", wrap=False)
        self.queue_label.setVisible(False)
        status.addWidget(self.queue_label)
        self.waiting_label = plain_label("", "queue", wrap=False)
        self.waiting_label.setVisible(False)
        status.addWidget(self.waiting_label)
        footer.addLayout(status)
        footer.addStretch(1)
        self.deny_button = QPushButton("Deny")
        self.deny_button.setObjectName("denyButton")
        self.deny_button.setAutoDefault(False)
        self.deny_button.clicked.connect(self.reject)
        footer.addWidget(self.deny_button)
        self.allow_button = QPushButton("Allow")
        self.allow_button.setObjectName("allowButton")
        self.allow_button.setDefault(True)
        self.allow_button.clicked.connect(self.accept)
        footer.addWidget(self.allow_button)
        return footer

    def _sync_allow(self) -> None:
        gives = any(not isinstance(w.choice(), SkipItem) for w in self.items) or any(
            not isinstance(m.choice(), SkipItem) for m in self.model_items
        )
        self.allow_button.setEnabled(gives and self.guard.armed)
        self.allow_button.setToolTip("" if gives else "Type or choose a value first")

    def _on_guard(self, armed: bool) -> None:
        self._sync_allow()
        if armed and self._allow_takes_focus:
            self._allow_takes_focus = False
            if self.focusWidget() in (None, self) and self.allow_button.isEnabled():
                self.allow_button.setFocus()

    def _tick(self) -> None:
        left = self.seconds_left()
        if left is None:
            self.countdown_label.setVisible(False)
            return
        self.countdown_label.setText(countdown(left))
        urgent = left <= URGENT_SECONDS
        if self.countdown_label.property("urgent") != urgent:
            self.countdown_label.setProperty("urgent", urgent)
            self.countdown_label.style().unpolish(self.countdown_label)
            self.countdown_label.style().polish(self.countdown_label)


def _secrets(count: int) -> str:
    return "a secret" if count == 1 else f"{count} secrets"


def _wanted(request: PromptRequest) -> str:
    """`a secret`, `2 models`, `a secret and a model`."""
    models = len(request.models)
    said = [_secrets(len(request.items))] if request.items or not models else []
    if models:
        said.append("a model" if models == 1 else f"{models} models")
    return " and ".join(said)


def _separator() -> QFrame:
    line = QFrame()
    line.setObjectName("separator")
    line.setFrameShape(QFrame.Shape.NoFrame)
    line.setFixedHeight(1)
    return line
