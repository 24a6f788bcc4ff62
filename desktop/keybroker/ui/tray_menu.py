# SPDX-License-Identifier: Apache-2.0
"""The tray menu, rebuilt from the app's state each time it opens (`aboutToShow`).

Rebuilding on open (as Vorta does) keeps it right without listening to every change, and works with
StatusNotifier hosts that read the menu over D-Bus. The menu only reads a `TrayBackend` and calls its
intents, so tests build it into a plain QMenu and trigger its actions: offscreen has no tray.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from keybroker.core.broker.prompts import PromptRequest
from keybroker.ui.app_state import AppState, Status, icon_state, status_line
from keybroker.ui.icon_art import IconState
from keybroker.ui.icons import state_icon
from keybroker.ui.prompt_text import shown

_MAX_PROMPTS = 8


@dataclass(frozen=True, slots=True)
class DemandView:
    """One line of an agent's demands: `github: GitHub token: satisfied (own value, always)`."""

    key: str
    name: str
    status: str


@dataclass(frozen=True, slots=True)
class AgentView:
    """What the Agents submenu shows about one agent."""

    slug: str
    name: str
    bridged_url: str | None
    demands: tuple[DemandView, ...] = ()


class TrayBackend(Protocol):
    """What the tray menu reads and the intents it calls (the app controller implements it)."""

    def status(self) -> Status: ...
    def pending_prompts(self) -> Sequence[PromptRequest]: ...
    def agent_views(self) -> Sequence[AgentView]: ...
    def raise_prompt(self, prompt_id: str) -> None: ...
    def copy_bridged_url(self, slug: str) -> None: ...
    def lock(self) -> None: ...
    def unlock(self) -> None: ...
    def set_paused(self, paused: bool) -> None: ...
    def retry(self) -> None: ...
    def offer_memory_vault(self) -> None: ...
    def show_problem(self) -> None: ...
    def show_settings(self, tab: str | None = None) -> None: ...
    def quit(self) -> None: ...


def _action(menu: QMenu, text: str, name: str, *, enabled: bool = True) -> QAction:
    action = menu.addAction(text)
    action.setObjectName(name)
    action.setEnabled(enabled)
    return action


def prompt_title(request: PromptRequest) -> str:
    """`GitHub token, Slack token for Research Assistant`."""
    names = [shown(item.name or item.key, 40) for item in request.items[:2]]
    more = f" and {len(request.items) - 2} more" if len(request.items) > 2 else ""
    return f"{', '.join(names)}{more} for {shown(request.agent.name or request.agent.slug, 40)}"


def build_menu(menu: QMenu, backend: TrayBackend) -> None:
    """Fill `menu` (cleared first) from `backend`'s current state."""
    menu.clear()
    status = backend.status()
    state = status.state
    line = _action(menu, status_line(status), "status", enabled=False)
    trouble = status.vault_trouble is not None
    line.setIcon(state_icon(icon_state(state, status.pending, vault_trouble=trouble)))
    if state is AppState.VAULT_UNAVAILABLE:
        _action(menu, "Why, and how to fix it…", "problem").triggered.connect(backend.show_problem)
        _action(menu, "Try the vault again", "retry").triggered.connect(backend.retry)
        memory = _action(menu, "Use a session-only vault…", "memoryVault")
        memory.triggered.connect(backend.offer_memory_vault)
    elif state is AppState.STOPPED and status.problem:
        _action(menu, "Why…", "problem").triggered.connect(backend.show_problem)
    elif status.vault_trouble and state in (AppState.READY, AppState.LOCKED):
        _action(menu, "Why, and how to fix it…", "problem").triggered.connect(backend.show_problem)
    if status.session_only:
        _action(menu, "Session-only vault: values go when Keybroker quits", "sessionOnly", enabled=False)

    prompts = list(backend.pending_prompts())
    if prompts:
        menu.addSection("Requests waiting")
        for request in prompts[:_MAX_PROMPTS]:
            action = _action(menu, prompt_title(request), "prompt")
            action.setIcon(state_icon(IconState.WAITING))
            action.setData(request.prompt_id)
            action.triggered.connect(lambda _=False, pid=request.prompt_id: backend.raise_prompt(pid))
        if len(prompts) > _MAX_PROMPTS:
            _action(menu, f"…and {len(prompts) - _MAX_PROMPTS} more", "morePrompts", enabled=False)

    menu.addSeparator()
    _agents_menu(menu, backend)
    menu.addSeparator()
    usable = state not in (AppState.VAULT_UNAVAILABLE, AppState.STARTING)
    if state is AppState.LOCKED:
        unlock = _action(menu, "Unlock", "unlock")
        unlock.setToolTip("Back to ready: grants stay ended, so each agent asks again first")
        unlock.triggered.connect(backend.unlock)
    else:
        _action(menu, "Lock now", "lock", enabled=usable).triggered.connect(backend.lock)
    if state is AppState.PAUSED:
        _action(menu, "Resume bridge", "pause").triggered.connect(lambda: backend.set_paused(False))
    elif state is AppState.STOPPED:
        _action(menu, "Start bridge", "pause").triggered.connect(lambda: backend.set_paused(False))
    else:
        _action(menu, "Pause bridge", "pause", enabled=usable).triggered.connect(
            lambda: backend.set_paused(True)
        )
    menu.addSeparator()
    _action(menu, "Settings…", "settings").triggered.connect(lambda: backend.show_settings(None))
    _action(menu, "Quit Keybroker", "quit").triggered.connect(backend.quit)


def _agents_menu(menu: QMenu, backend: TrayBackend) -> None:
    agents = list(backend.agent_views())
    if not agents:
        _action(menu, "Add an agent…", "addAgent").triggered.connect(lambda: backend.show_settings("agents"))
        return
    sub = menu.addMenu("Agents")
    sub.setObjectName("agents")
    for agent in agents:
        one = sub.addMenu(shown(agent.name or agent.slug, 50))
        one.setObjectName(f"agent:{agent.slug}")
        where = agent.bridged_url or "the bridge is not running"
        _action(one, shown(where, 80), "bridgedUrl", enabled=False)
        copy = _action(one, "Copy bridged URL", "copyUrl", enabled=agent.bridged_url is not None)
        copy.setToolTip(where)
        copy.triggered.connect(lambda _=False, slug=agent.slug: backend.copy_bridged_url(slug))
        one.addSection("Demands" if agent.demands else "No declared demands")
        for demand in agent.demands:
            line = f"{shown(demand.key, 40)}: {shown(demand.status, 60)}"
            _action(one, line, "demand", enabled=False).setToolTip(shown(demand.name, 80))
        one.addSeparator()
        _action(one, "Show in Settings…", "showAgent").triggered.connect(
            lambda: backend.show_settings("agents")
        )
