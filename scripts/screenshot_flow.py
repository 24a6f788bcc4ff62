# SPDX-License-Identifier: Apache-2.0
"""The new user's first run, in pictures 01-10, driven through the real widgets and the real bridge.

From an empty Keybroker home: the tray menu on first start; Settings → Agents, the demo agent's URL
typed and Add clicked; a message sent to the bridged URL by a plain A2A client, which brings up the
prompt; a value typed, a scope picked, Allow clicked, the agent's reply; the tray's Agents submenu;
the secret, the grant and the release in the settings window; the grant revoked after the
confirmation. Each step waits for what the user would wait for (the card, the prompt, the reply).
"""

from __future__ import annotations

# ruff: noqa: TID251 - a Qt script
import asyncio
import logging

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QPushButton, QWidget
from screenshot_kit import (
    TRAY_HEIGHT,
    Reply,
    Shots,
    grab_screen,
    hover,
    menus_rect,
    over,
    screen_width,
    send_message,
    settle,
    wait_until,
)

from keybroker.app import AppParts
from keybroker.core.agents.status import bridged_url
from keybroker.core.models import GrantScope
from keybroker.ui.settings_window import SettingsWindow

log = logging.getLogger("screenshots")

SETTINGS_SIZE = (1000, 680)
#: What the user asks the agent, and the token they paste (a made-up one: the vault is throw-away).
REQUEST = "octo-org/website"
DEMO_TOKEN = "ghp_" + "k3ybr0k3rDem0T0ken" * 2
GRANT_MINUTES = 30


def click(widget: QWidget) -> None:
    """A real left click in the middle of `widget`."""
    QTest.mouseClick(
        widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, widget.rect().center()
    )


async def open_tray_menu(parts: AppParts) -> QMenu:
    """The tray menu, opened under the icon (as a right click on it does)."""
    assert parts.tray is not None
    window = parts.settings.window
    if window is not None:
        window.hide()  # closed by the user: the menus show over a clear desktop
    menu = parts.tray.menu
    menu.popup(QPoint(screen_width() - 4, TRAY_HEIGHT + 2))  # Qt keeps it on screen, left of the corner
    await settle(0.5)
    return menu


def settings_window(parts: AppParts) -> SettingsWindow:
    window = parts.settings.window
    assert isinstance(window, SettingsWindow), "the settings window did not open"
    return window


async def show_tab(parts: AppParts, name: str) -> SettingsWindow:
    parts.controller.show_settings(name)
    window = settings_window(parts)
    await settle(0.6)
    return window


async def first_run(parts: AppParts, shots: Shots) -> SettingsWindow:
    """01: the tray menu with no agents; its "Add an agent…" opens Settings → Agents."""
    menu = await open_tray_menu(parts)
    shots.save(grab_screen(menus_rect(menu)), "01-tray-first-run")
    add = next(a for a in menu.actions() if a.objectName() == "addAgent")
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(add).center())
    await wait_until("the settings window", lambda: parts.settings.window is not None, 10)
    window = settings_window(parts)
    window.resize(*SETTINGS_SIZE)
    window.move(40, 60)
    await settle(0.6)
    assert window.current_tab_name() == "agents", window.current_tab_name()
    return window


async def add_agent(window: SettingsWindow, shots: Shots, agent_url: str) -> str:
    """02-03: the agent's URL typed into the add field, Add clicked; its card and demands."""
    tab = window.agents_tab
    tab.url_edit.setFocus()
    QTest.keyClicks(tab.url_edit, agent_url)
    await settle()
    shots.grab(window, "02-add-agent")
    click(tab.add_button)
    await wait_until("the agent's card", lambda: tab.model.rowCount() == 1 and tab.status.kind != "busy")
    await settle(0.6)
    shots.grab(window, "03-agent-added")
    slug = tab.selected_slug()
    assert slug is not None
    return slug


async def ask_and_allow(parts: AppParts, shots: Shots, slug: str) -> Reply:
    """04: a client's message through the bridge brings up the prompt; a value, a scope, Allow."""
    port = parts.runtime.port
    assert port is not None
    url = bridged_url(slug, port)
    print(f"screenshots: sending {REQUEST!r} to {url}")
    run = asyncio.ensure_future(send_message(url, REQUEST))
    prompter = parts.prompter
    await wait_until(
        "the prompt", lambda: prompter.current_dialog is not None and prompter.current_dialog.isVisible()
    )
    dialog = prompter.current_dialog
    assert dialog is not None and len(dialog.items) == 1
    await settle(0.6)
    field = dialog.items[0].input
    field.setFocus()
    QTest.keyClicks(field, DEMO_TOKEN)
    dialog.scope.choose(GrantScope.MINUTES, GRANT_MINUTES)
    await wait_until("Allow to answer (inert for a second)", dialog.allow_button.isEnabled)
    await settle()
    shots.grab(dialog, "04-prompt")
    click(dialog.allow_button)
    reply = await asyncio.wait_for(run, 120)
    if reply.state != "TASK_STATE_COMPLETED" or DEMO_TOKEN in reply.text:
        raise RuntimeError(f"the run through the bridge ended {reply.state!r}")
    print(f"screenshots: the agent replied ({reply.state}): {reply.text}")
    return reply


async def tray_agent(parts: AppParts, shots: Shots, slug: str) -> None:
    """05: the tray's Agents submenu: the agent, its bridged URL and its demand, now satisfied."""
    menu = await open_tray_menu(parts)
    agents = await hover(menu, "agents")
    one = await hover(agents, f"agent:{slug}")
    if one.geometry().intersects(menu.geometry()):
        # Qt opens the third level to the right, back over the menu: cascade it left, as it came.
        one.move(agents.x() - one.width() + 4, one.y())
        await settle()
    shots.save(grab_screen(menus_rect(menu, agents, one)), "05-tray-agent")
    menu.hide()
    await settle()


async def settings_after(parts: AppParts, shots: Shots) -> None:
    """06-10: the secret, the grant (revoked after the confirmation) and the activity."""
    window = await show_tab(parts, "secrets")
    window.secrets_tab.view.selectRow(0)
    await settle()
    shots.grab(window, "06-secrets")
    window = await show_tab(parts, "grants")
    grants = window.grants_tab
    assert grants.model.rowCount() == 1, grants.model.rowCount()
    grants.view.selectRow(0)
    await settle(1.2)  # one countdown tick
    shots.grab(window, "07-grants")
    window = await show_tab(parts, "activity")
    activity = window.activity_tab
    released = next(
        row for row in range(activity.model.rowCount()) if activity.model.record(row).decision == "released"
    )
    activity.view.selectRow(released)
    await settle()
    shots.grab(window, "08-activity")
    window = await show_tab(parts, "grants")
    grants.view.selectRow(0)
    await settle()
    click(grants.bar.buttons["revokeGrant"])
    await wait_until("the confirmation", lambda: _message_box() is not None, 5)
    box = _message_box()
    assert box is not None
    await settle()
    shots.save(over(window.grab().toImage(), box.grab().toImage()), "09-revoke")
    go = next(b for b in box.findChildren(QPushButton) if b.text().replace("&", "") == "Revoke")
    click(go)
    await wait_until("the grant to end", lambda: grants.model.rowCount() == 0)
    await settle(0.6)
    shots.grab(window, "10-revoked")


def _message_box() -> QMessageBox | None:
    return next(
        (w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()), None
    )


async def new_user_flow(parts: AppParts, shots: Shots, agent_url: str) -> None:
    """Every step of the first run, 01-10."""
    window = await first_run(parts, shots)
    slug = await add_agent(window, shots, agent_url)
    await ask_and_allow(parts, shots, slug)
    await tray_agent(parts, shots, slug)
    await settings_after(parts, shots)
