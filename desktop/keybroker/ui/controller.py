# SPDX-License-Identifier: Apache-2.0
"""`AppController`: the app object the tray, the settings window and `app.py` talk to.

Longer than 300 lines because it is the one owner of the state the tray shows: starting, every tray
intent and the automatic locks read and change that state, so they stay together.

It starts the runtime in two steps (vault and catalog, then the bridge) and turns what fails into a
state the tray shows with the fix: "vault unavailable" (retry, or explicitly a session-only vault) or
"bridge stopped" (port taken: say who has it). It carries out the tray's intents (lock, unlock, pause,
copy a bridged URL, raise a prompt, open the settings, quit) and keeps `AppEvents.state_changed` and
`prompts_changed` up to date. It also locks by itself: when the screen locks or the machine sleeps
(`ScreenLockWatch`) and after the idle minutes of the settings (`IdleLock`). Long operations run as
tasks on the one qasync loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

from keybroker.core.broker.prompts import PromptRequest
from keybroker.core.errors import BridgeError, KeybrokerError, VaultError
from keybroker.core.models import AuditDecision, AuditEvent, GrantScope
from keybroker.core.ports import Notifier
from keybroker.system import settings as settings_file
from keybroker.ui.app_state import AppState, Status
from keybroker.ui.audit_relay import AuditRelay
from keybroker.ui.events import AppEvents
from keybroker.ui.idle_lock import IdleLock
from keybroker.ui.notices import confirm_memory_vault, problem_box
from keybroker.ui.qt_prompter import QtPrompter
from keybroker.ui.screen_lock import ScreenLockWatch
from keybroker.ui.settings_host import SettingsHost
from keybroker.ui.tray_menu import AgentView, DemandView
from keybroker.wiring.runtime import Runtime

log = logging.getLogger("keybroker.ui")

CALLER = "tray"
#: The audit caller of a lock after the idle minutes (the screen lock's are in `screen_lock`).
IDLE_CALLER = "idle-lock"
#: Every `AppEvents.changed` topic: emitted once the core opens.
ALL_TOPICS = ("agents", "secrets", "grants", "audit", "settings")


def describe_error(exc: KeybrokerError) -> str:
    """The message and its fix, for the tray and the settings banner."""
    return f"{exc.message}. Fix: {exc.hint}" if exc.hint else exc.message


class AppController(QObject):
    """Owns the app's state and carries out what the tray and windows ask for."""

    #: state, pending count or problem changed: the tray re-reads `status()`
    status_changed = Signal()

    def __init__(
        self,
        runtime: Runtime,
        events: AppEvents,
        prompter: QtPrompter,
        notifier: Notifier,
        *,
        settings: SettingsHost | None = None,
        idle_lock: IdleLock | None = None,
        screen_lock: ScreenLockWatch | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runtime = runtime
        self.events = events
        self.prompter = prompter
        self.notifier = notifier
        self.settings = settings or SettingsHost(runtime, events)
        self.settings.on_quit = self.quit
        self.settings.on_lock = self.lock
        self.state = AppState.STARTING
        self.problem: str | None = None
        self.quit_requested = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._relay = AuditRelay(events, self)
        self._relay.audited.connect(self._on_audited)
        runtime.subscribe(self._relay.listener)
        runtime.on_vault_checked(self._check_vault_trouble)
        self._boxes: list[QWidget] = []
        prompter.queue_changed.connect(self._on_queue_changed)
        self._locked = False  # a lock happened; what was granted since is in the catalog
        self._vault_trouble: str | None = None  # the broker's `vault_trouble`, as last shown
        self.idle_lock = idle_lock or IdleLock(parent=self)
        self.idle_lock.lock_due.connect(self._on_idle)
        self.screen_lock = screen_lock
        if screen_lock is not None:
            screen_lock.locked.connect(self.auto_lock)
        events.changed.connect(self._on_changed)

    # Starting and stopping --------------------------------------------------------------------------

    async def start(self) -> AppState:
        """Open the core and serve; failures become a state with its reason, never an exception."""
        self._set_state(AppState.STARTING)
        try:
            await self.runtime.open()
        except VaultError as exc:
            log.warning("vault unavailable: %s", exc.message)
            self._set_state(AppState.VAULT_UNAVAILABLE, describe_error(exc))
            self.notifier.notify("Keybroker: vault unavailable", exc.message)
            return self.state
        except KeybrokerError as exc:
            log.error("cannot open Keybroker's data: %s", exc.message)
            self._set_state(AppState.STOPPED, describe_error(exc))
            self.notifier.notify("Keybroker cannot start", exc.message)
            return self.state
        if self.screen_lock is not None:
            self.screen_lock.start()
        self._update_idle_lock()
        await self._serve()
        # A window opened before the core was (no tray, or an early "Settings…") re-reads it now.
        for topic in ALL_TOPICS:
            self.events.changed.emit(topic)
        return self.state

    async def _serve(self) -> None:
        try:
            await self.runtime.serve()
        except BridgeError as exc:
            log.warning("bridge stopped: %s", exc.message)
            self._set_state(AppState.STOPPED, describe_error(exc))
            self.notifier.notify("Keybroker: bridge stopped", describe_error(exc))
            return
        self._set_state(AppState.READY)

    async def shutdown(self) -> None:
        """Withdraw prompts, stop the bridge, join the vault worker, remove instance.json."""
        self.prompter.withdraw_all()
        self.idle_lock.stop()
        try:
            await self.runtime.stop()
        finally:
            self.settings.close()
            for box in self._boxes:
                if shiboken6.isValid(box):
                    box.close()

    def quit(self) -> None:
        """Quit the app (the main coroutine then shuts down cleanly)."""
        if not self.quit_requested.is_set():
            log.info("quit requested")
            self.quit_requested.set()

    # Intents from the tray and the windows -----------------------------------------------------------

    def lock(self) -> None:
        """Lock now: end every grant short of *always* and drop cached values."""
        self._lock(CALLER)

    def unlock(self) -> None:
        """Back to ready after a lock. Nothing is granted or ended (the lock ended what it ends, and
        the next demand asks), so nothing is audited: only the tray's state changes."""
        if self.state is AppState.LOCKED:
            log.info("unlocked by the user")
            self._set_state(AppState.READY)

    def auto_lock(self, caller: str) -> None:
        """Lock because the screen locked, the machine sleeps or the user is idle (`caller` says which,
        in the audit log); nothing happens when already locked and nothing was granted since."""
        if self._has_something_to_lock():
            self._lock(caller)
        else:
            log.debug("%s: already locked, nothing granted since", caller)

    def _lock(self, caller: str) -> None:
        admin = self.runtime.admin(caller)
        if admin is None:
            return
        admin.lock()
        self._locked = True
        if self.state is AppState.READY:
            self._set_state(AppState.LOCKED)
        self._update_idle_lock()

    def set_paused(self, paused: bool) -> None:
        """Stop or start serving; the vault and catalog stay open."""
        self._spawn(self._pause() if paused else self._resume())

    async def _pause(self) -> None:
        await self.runtime.pause()
        self._set_state(AppState.PAUSED)

    async def _resume(self) -> None:
        if not self.runtime.is_open:
            await self.start()
            return
        await self._serve()

    def retry(self) -> None:
        """Try to open the vault (and serve) again."""
        self._spawn(self.start())

    def offer_memory_vault(self) -> None:
        """Ask once, then run on a session-only vault (the explicit choice DESIGN §4 offers)."""
        self._keep(confirm_memory_vault(self.use_memory_vault))

    def use_memory_vault(self) -> None:
        """Switch to the session-only vault and start."""
        log.warning("the user chose the session-only memory vault")
        environ = dict(self.runtime.options.environ)
        environ["KEYBROKER_VAULT"] = "memory"
        self.runtime.options.environ = environ
        self._spawn(self.start())

    def show_problem(self) -> None:
        """Say why the vault or bridge is down (or, while serving, why the vault refuses releases), and
        offer the ways out."""
        if self.state in (AppState.READY, AppState.LOCKED):
            trouble = self._vault_trouble
            if trouble:
                self._keep(problem_box("vault trouble", trouble))
            return
        if not self.problem:
            return
        if self.state is AppState.VAULT_UNAVAILABLE:
            box = problem_box(
                "vault unavailable", self.problem, retry=self.retry, memory_vault=self.offer_memory_vault
            )
        else:
            box = problem_box("bridge stopped", self.problem, retry=lambda: self.set_paused(False))
        self._keep(box)

    def show_settings(self, tab: str | None = None) -> None:
        """Open (or bring forward) the settings window, on `tab` when given."""
        self.settings.show(tab)

    def raise_prompt(self, prompt_id: str) -> None:
        """Bring a waiting prompt to the front."""
        self.prompter.raise_prompt(prompt_id)

    def copy_bridged_url(self, slug: str) -> None:
        """Put an agent's bridged URL on the clipboard."""
        admin = self.runtime.admin(None)
        if self.runtime.port is None or admin is None:
            return
        QGuiApplication.clipboard().setText(admin.agent(slug).bridged_url)  # its own port's, if it has one

    # What the tray reads -----------------------------------------------------------------------------

    def status(self) -> Status:
        """The state, pending count and problem as the tray shows them."""
        status = self.runtime.status()
        vault = status.get("vault")
        return Status(
            state=self.state,
            url=self.runtime.url,
            pending=len(self.prompter.pending),
            problem=self.problem,
            vault=str(vault) if vault else None,
            session_only=bool(status.get("session_only_vault")),
            vault_trouble=self._vault_trouble,
            refusing=tuple(str(p) for p in status.get("model_providers_refusing") or ()),
        )

    def pending_prompts(self) -> Sequence[PromptRequest]:
        """Prompts waiting for the user, the one on screen first."""
        return self.prompter.pending

    def agent_views(self) -> Sequence[AgentView]:
        """Each agent with its bridged URL (when serving) and demands with their status."""
        admin = self.runtime.admin(None)
        if admin is None:
            return []
        serving = self.runtime.port is not None
        return [
            AgentView(
                agent.slug,
                agent.name,
                agent.bridged_url if serving else None,
                tuple(DemandView(d.key, d.name, d.status) for d in agent.demands),
            )
            for agent in admin.agents()
        ]

    # Internals ---------------------------------------------------------------------------------------

    def _check_vault_trouble(self) -> None:
        """After each audited event (a release declined, a value released) and each keep-alive call of
        an idle app: show the broker's trouble with the vault (a refused token, an unreachable team
        vault), or that it is over."""
        broker = self.runtime.broker
        trouble = broker.vault_trouble if broker is not None else None
        if trouble != self._vault_trouble:
            self._vault_trouble = trouble
            log.info("vault trouble: %s", trouble or "over")
            self.status_changed.emit()

    def _set_state(self, state: AppState, problem: str | None = None) -> None:
        changed = state is not self.state or problem != self.problem
        self.state, self.problem = state, problem
        if changed:
            self.settings.set_problem(problem if state is AppState.VAULT_UNAVAILABLE else None)
            log.info("state: %s%s", state.value, f" ({problem})" if problem else "")
            self.events.state_changed.emit(state.value)
            self.status_changed.emit()

    def _on_audited(self, event: AuditEvent) -> None:
        self._check_vault_trouble()
        if event.decision is AuditDecision.LOCKED:
            self._locked = True
        if event.decision is AuditDecision.LOCKED and self.state is AppState.READY:
            self._set_state(AppState.LOCKED)  # locked from the CLI, the API or the settings window
        elif (
            event.decision is AuditDecision.GRANTED
            and self.state is AppState.LOCKED
            and event.scope not in (GrantScope.ONCE.value, GrantScope.ALWAYS.value)
        ):
            self._set_state(AppState.READY)
        self._update_idle_lock()
        self.status_changed.emit()

    def _on_idle(self) -> None:
        self.auto_lock(IDLE_CALLER)

    def _has_something_to_lock(self) -> bool:
        """Never locked yet, or a grant short of *always* was made since."""
        if not self._locked:
            return True
        admin = self.runtime.admin(None)
        return admin is not None and any(
            grant.scope is not GrantScope.ALWAYS for grant in admin.stored_grants()
        )

    def _update_idle_lock(self) -> None:
        """The idle lock is armed only while a lock would end something."""
        self.idle_lock.set_needed(self.runtime.broker is not None and self._has_something_to_lock())

    def _on_changed(self, topic: str) -> None:
        if topic == "settings" and self.runtime.is_open:
            self.idle_lock.set_minutes(settings_file.load(self.runtime.paths.settings_file).idle_lock_minutes)

    def _on_queue_changed(self, count: int) -> None:
        self.events.prompts_changed.emit(count)
        self.status_changed.emit()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("tray action failed", exc_info=task.exception())

    def _keep(self, widget: QWidget) -> None:
        self._boxes = [b for b in self._boxes if shiboken6.isValid(b) and b.isVisible()]
        self._boxes.append(widget)
