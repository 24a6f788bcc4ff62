# SPDX-License-Identifier: Apache-2.0
"""Tray states -> icons, the status line and tooltip, and the menu built into a plain QMenu.

Offscreen has no tray, so the menu is tested directly (its actions triggered like clicks); the icon in
a real tray host is tested under Xvfb + trayer in test_app_process.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon

from keybroker.core.broker.prompts import PromptRequest
from keybroker.ui.app_state import AppState, Status, icon_state, status_line, tooltip
from keybroker.ui.icon_art import IconState, svg
from keybroker.ui.icons import ICON_SIZES, render, state_icon
from keybroker.ui.tray import Tray
from keybroker.ui.tray_menu import AgentView, DemandView, build_menu
from tests.conftest import subprocess_env
from tests.ui.support import agent, item, request


@dataclass
class FakeBackend:
    """A TrayBackend that records the intents it receives."""

    state: Status = field(default_factory=lambda: Status(AppState.READY, url="http://127.0.0.1:7411"))
    prompts: list[PromptRequest] = field(default_factory=list)
    agents: list[AgentView] = field(default_factory=list)
    calls: list[tuple[str, object]] = field(default_factory=list)

    def last(self) -> tuple[str, object]:
        return self.calls[-1]

    def status(self) -> Status:
        return replace(self.state, pending=len(self.prompts))

    def pending_prompts(self) -> Sequence[PromptRequest]:
        return self.prompts

    def agent_views(self) -> Sequence[AgentView]:
        return self.agents

    def raise_prompt(self, prompt_id: str) -> None:
        self.calls.append(("raise_prompt", prompt_id))

    def copy_bridged_url(self, slug: str) -> None:
        self.calls.append(("copy_bridged_url", slug))

    def lock(self) -> None:
        self.calls.append(("lock", None))

    def unlock(self) -> None:
        self.calls.append(("unlock", None))

    def set_paused(self, paused: bool) -> None:
        self.calls.append(("set_paused", paused))

    def retry(self) -> None:
        self.calls.append(("retry", None))

    def offer_memory_vault(self) -> None:
        self.calls.append(("offer_memory_vault", None))

    def show_problem(self) -> None:
        self.calls.append(("show_problem", None))

    def show_settings(self, tab: str | None = None) -> None:
        self.calls.append(("show_settings", tab))

    def quit(self) -> None:
        self.calls.append(("quit", None))


def actions(menu: QMenu) -> dict[str, list[QAction]]:
    found: dict[str, list[QAction]] = {}
    for action in menu.actions():
        if action.objectName():
            found.setdefault(action.objectName(), []).append(action)
    return found


def one(menu: QMenu, name: str) -> QAction:
    (action,) = actions(menu)[name]
    return action


def submenu(menu: QMenu) -> QMenu:
    found = next(a.menu() for a in menu.actions() if isinstance(a.menu(), QMenu))
    assert isinstance(found, QMenu)
    return found


def built(backend: FakeBackend) -> QMenu:
    menu = QMenu()
    build_menu(menu, backend)
    return menu


# State -> icon, text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "pending", "expected"),
    [
        (AppState.READY, 0, IconState.READY),
        (AppState.READY, 2, IconState.WAITING),
        (AppState.LOCKED, 0, IconState.LOCKED),
        (AppState.LOCKED, 1, IconState.WAITING),
        (AppState.VAULT_UNAVAILABLE, 0, IconState.VAULT_UNAVAILABLE),
        (AppState.VAULT_UNAVAILABLE, 3, IconState.VAULT_UNAVAILABLE),
        (AppState.STOPPED, 1, IconState.STOPPED),
        (AppState.PAUSED, 0, IconState.STOPPED),
        (AppState.STARTING, 0, IconState.STOPPED),
    ],
)
def test_icon_state(state: AppState, pending: int, expected: IconState) -> None:
    assert icon_state(state, pending) is expected


def test_trouble_with_the_vault_while_serving_is_shown_under_a_waiting_request() -> None:
    # Issue 15: a team vault that refuses the token (or is gone) while the app serves.
    assert icon_state(AppState.READY, 0, vault_trouble=True) is IconState.VAULT_UNAVAILABLE
    assert icon_state(AppState.LOCKED, 0, vault_trouble=True) is IconState.VAULT_UNAVAILABLE
    assert icon_state(AppState.READY, 1, vault_trouble=True) is IconState.WAITING
    assert icon_state(AppState.PAUSED, 0, vault_trouble=True) is IconState.STOPPED
    trouble = "OpenBao refused $BAO_TOKEN (expired or revoked). Fix: log in again"
    status = Status(AppState.READY, url="http://127.0.0.1:7411", vault_trouble=trouble)
    assert status_line(status) == "Vault trouble: only values already in memory are released"
    assert trouble in tooltip(status).splitlines()


def test_menu_offers_the_fix_for_trouble_with_the_vault(app: QApplication) -> None:
    backend = FakeBackend(state=Status(AppState.READY, vault_trouble="OpenBao refused. Fix: log in again"))
    menu = built(backend)
    assert one(menu, "problem").text() == "Why, and how to fix it…"
    assert one(menu, "lock").isEnabled() and one(menu, "pause").isEnabled()  # still serving
    one(menu, "problem").trigger()
    assert backend.calls == [("show_problem", None)]


def test_every_state_has_its_own_icon_at_tray_sizes(app: QApplication) -> None:
    for size in (16, 22, 32):
        images = {state: render(state, size) for state in IconState}
        for state, image in images.items():
            assert image.width() == size and not image.isNull()
            assert image.pixelColor(size // 2, size // 2).alpha() > 0  # the tile is drawn
            others = [s for s in IconState if s is not state]
            assert all(image != images[s] for s in others), f"{state} looks like another state at {size}px"
    icon = state_icon(IconState.READY)
    assert sorted({s.width() for s in icon.availableSizes()}) == sorted(ICON_SIZES)
    assert state_icon(IconState.READY) is icon  # cached


def test_svg_is_well_formed() -> None:
    from xml.etree import ElementTree

    for state in IconState:
        for size in (16, 64):
            root = ElementTree.fromstring(svg(state, size))  # noqa: S314 - our own constant art
            assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 64 64"


def test_status_line_and_tooltip() -> None:
    ready = Status(AppState.READY, url="http://127.0.0.1:7411", vault="OS vault: SecretService")
    assert status_line(ready) == "Ready on http://127.0.0.1:7411"
    assert "Bridge: http://127.0.0.1:7411" in tooltip(ready) and "SecretService" in tooltip(ready)
    assert status_line(Status(AppState.READY, pending=2)) == "2 requests waiting"
    assert status_line(Status(AppState.LOCKED, url="u")).startswith("Locked")
    stopped = Status(AppState.STOPPED, url="http://127.0.0.1:7411", problem="port 7411 is in use")
    assert status_line(stopped).startswith("Bridge stopped")
    assert "port 7411 is in use" in tooltip(stopped) and "Bridge:" not in tooltip(stopped)
    assert status_line(Status(AppState.VAULT_UNAVAILABLE)).startswith("Vault unavailable")


def test_tooltip_names_the_vault_without_a_class_path() -> None:
    described = "OS vault: SecretService (keybroker.core.vault.secret_service.SecretServiceKeyring)"
    text = tooltip(Status(AppState.READY, url="http://127.0.0.1:7411", vault=described))
    assert text.splitlines()[-1] == "OS vault: SecretService"
    assert "keybroker.core" not in text


# The menu -----------------------------------------------------------------------------------------


def test_menu_when_ready_with_prompts_and_agents(app: QApplication) -> None:
    prompt = request(item("GITHUB_TOKEN", name="GitHub token"), who=agent("research", "Research Assistant"))
    backend = FakeBackend(
        prompts=[prompt],
        agents=[
            AgentView(
                "research",
                "Research Assistant",
                "http://127.0.0.1:7411/agents/research/",
                (DemandView("github", "GitHub token", "satisfied (own value, always)"),),
            )
        ],
    )
    menu = built(backend)
    first = menu.actions()[0]
    assert first.objectName() == "status" and not first.isEnabled()
    assert first.text() == "1 request waiting"
    entry = one(menu, "prompt")
    assert entry.text() == "GitHub token for Research Assistant"
    entry.trigger()
    assert backend.last() == ("raise_prompt", prompt.prompt_id)

    agents_menu = submenu(menu)
    research = submenu(agents_menu)
    one(research, "copyUrl").trigger()
    assert backend.last() == ("copy_bridged_url", "research")
    demand = one(research, "demand")
    assert demand.text() == "github: satisfied (own value, always)" and not demand.isEnabled()
    one(research, "showAgent").trigger()
    assert backend.last() == ("show_settings", "agents")

    for name, call in [
        ("lock", ("lock", None)),
        ("pause", ("set_paused", True)),
        ("settings", ("show_settings", None)),
        ("quit", ("quit", None)),
    ]:
        one(menu, name).trigger()
        assert backend.last() == call
    assert one(menu, "pause").text() == "Pause bridge"
    assert "retry" not in actions(menu) and "memoryVault" not in actions(menu)


def test_menu_when_locked_offers_unlock_instead_of_lock_now(app: QApplication) -> None:
    backend = FakeBackend(state=Status(AppState.LOCKED, url="http://127.0.0.1:7411"))
    menu = built(backend)
    assert "lock" not in actions(menu)  # locked already: "Lock now" would do nothing new
    unlock = one(menu, "unlock")
    assert unlock.text() == "Unlock" and unlock.isEnabled()
    unlock.trigger()
    assert backend.last() == ("unlock", None)
    ready = built(FakeBackend())
    assert "unlock" not in actions(ready) and one(ready, "lock").text() == "Lock now"


def test_menu_when_the_vault_is_unavailable(app: QApplication) -> None:
    backend = FakeBackend(state=Status(AppState.VAULT_UNAVAILABLE, problem="no Secret Service. Fix: ..."))
    menu = built(backend)
    assert not one(menu, "lock").isEnabled() and not one(menu, "pause").isEnabled()
    for name in ("problem", "retry", "memoryVault"):
        one(menu, name).trigger()
    assert [c for c, _ in backend.calls] == ["show_problem", "retry", "offer_memory_vault"]


@pytest.mark.parametrize(
    ("state", "text"), [(AppState.PAUSED, "Resume bridge"), (AppState.STOPPED, "Start bridge")]
)
def test_menu_resumes_a_stopped_bridge(app: QApplication, state: AppState, text: str) -> None:
    backend = FakeBackend(state=Status(state, problem="port 7411 is in use"))
    menu = built(backend)
    pause = one(menu, "pause")
    assert pause.text() == text and pause.isEnabled()
    pause.trigger()
    assert backend.last() == ("set_paused", False)


def test_menu_without_agents_offers_to_add_one(app: QApplication) -> None:
    backend = FakeBackend()
    menu = built(backend)
    one(menu, "addAgent").trigger()
    assert backend.calls == [("show_settings", "agents")]


def test_session_only_vault_is_said(app: QApplication) -> None:
    backend = FakeBackend(state=Status(AppState.READY, session_only=True))
    assert "sessionOnly" in actions(built(backend))


# The tray icon ------------------------------------------------------------------------------------


def shown_state(tray: Tray) -> IconState | None:
    return tray.shown_state


def test_tray_follows_the_status_and_rebuilds_its_menu(app: QApplication) -> None:
    backend = FakeBackend()
    tray = Tray(backend)
    try:
        tray.update_status(backend.status())
        assert shown_state(tray) == IconState.READY
        assert tray.icon.icon().cacheKey() == state_icon(IconState.READY).cacheKey()
        assert "http://127.0.0.1:7411" in tray.icon.toolTip()
        backend.prompts = [request()]
        tray.update_status(backend.status())
        assert shown_state(tray) == IconState.WAITING
        assert tray.icon.icon().cacheKey() == state_icon(IconState.WAITING).cacheKey()
        tray.menu.aboutToShow.emit()  # what opening the menu does
        assert one(tray.menu, "status").text() == "1 request waiting"
    finally:
        tray.dispose()


def test_tray_click_raises_the_waiting_prompt_else_opens_settings(app: QApplication) -> None:
    backend = FakeBackend()
    tray = Tray(backend)
    try:
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
        assert backend.last() == ("show_settings", None)
        prompt = request()
        backend.prompts = [prompt]
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
        assert backend.last() == ("raise_prompt", prompt.prompt_id)
        tray.icon.messageClicked.emit()
        assert backend.last() == ("raise_prompt", prompt.prompt_id)
    finally:
        tray.dispose()


def test_committed_icons_match_the_art() -> None:
    """resources/icons/ is rendered from icon_art.py: `python scripts/render-icons.py` after a change."""
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(root / "scripts" / "render-icons.py"), "--check"],
        env=subprocess_env({"QT_QPA_PLATFORM": "offscreen"}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
