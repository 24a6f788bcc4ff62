# SPDX-License-Identifier: Apache-2.0
"""Pictures 11-15, after the first run: every tray state, the tray menu while requests wait, the
prompt with several demands (a stored value, another agent's value, a new key), the prompt for an
agent whose card changed, and the General tab.

The prompt variants need agents in states a first run does not reach, so this part adds demo agents
whose A2A cards it serves itself on loopback, stores a few values, changes one card, and asks as the
bridge asks (`Broker.fulfil`, phase "runtime").
"""

from __future__ import annotations

# ruff: noqa: TID251 - a Qt script
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from screenshot_flow import open_tray_menu, show_tab
from screenshot_kit import Shots, grab_screen, menus_rect, settle, wait_until

from keybroker.app import AppParts
from keybroker.core.bridge.server import running_bridge
from keybroker.core.models import SecretDemand, SecretValue
from keybroker.ui.icon_art import IconState
from keybroker.ui.icons import render

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"
DEMO_AGENTS: dict[str, dict[str, Any]] = {
    "research": {
        "name": "Research Assistant",
        "description": "Reads issues and posts summaries to your team's channel.",
        "demands": {
            "GITHUB_TOKEN": {"name": "GitHub token", "description": "Personal access token with repo scope"},
            "SLACK_BOT_TOKEN": {"name": "Slack bot token", "description": "xoxb- token for posting"},
            "OPENAI_API_KEY": {"name": "OpenAI API key", "description": "Used for the summaries"},
        },
    },
    "release": {
        "name": "Release Bot",
        "description": "Tags releases and announces them.",
        "demands": {"SLACK_BOT_TOKEN": {"name": "Slack bot token", "description": "xoxb- token"}},
    },
    "crunch": {
        "name": "Data Cruncher",
        "description": "Runs nightly reports against the warehouse.",
        "demands": {"WAREHOUSE_DSN": {"name": "Warehouse DSN", "description": "postgres:// URL, read-only"}},
    },
}

Send = Callable[[dict[str, Any]], Awaitable[None]]


def card(slug: str, base: str, revision: int = 1) -> dict[str, Any]:
    """An A2A 0.3 card with the Agent Stack secrets extension, as agentstack-sdk serves it."""
    info = DEMO_AGENTS[slug]
    return {
        "name": info["name"],
        "description": info["description"] + ("" if revision == 1 else " Now with write access."),
        "url": f"{base}/jsonrpc/",
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3.0",
        "version": f"1.{revision}.0",
        "capabilities": {
            "streaming": True,
            "extensions": [
                {"uri": SECRETS_URI, "required": False, "params": {"secret_demands": info["demands"]}}
            ],
        },
        "defaultInputModes": ["text"],
        "defaultOutputModes": ["text"],
        "skills": [],
    }


class CardServer:
    """Serves the demo cards (`/<slug>/.well-known/agent-card.json`); a card can be revised."""

    def __init__(self) -> None:
        self.port = 0
        self.revisions = {slug: 1 for slug in DEMO_AGENTS}

    def base(self, slug: str) -> str:
        return f"http://127.0.0.1:{self.port}/{slug}"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            return
        slug = scope["path"].strip("/").split("/")[0]
        if slug in DEMO_AGENTS and scope["path"].endswith("/.well-known/agent-card.json"):
            status, body = 200, json.dumps(card(slug, self.base(slug), self.revisions[slug])).encode()
        else:
            status, body = 404, b"{}"
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def prepare(parts: AppParts, cards: CardServer) -> None:
    """Agents and values as after a few days of use; one agent's card changes."""
    services, broker = parts.runtime.services, parts.runtime.broker
    assert services is not None and broker is not None
    for slug in DEMO_AGENTS:
        await asyncio.to_thread(services.agents.add, cards.base(slug), slug=slug)
    services.secrets.set("GITHUB_TOKEN", SecretValue("ghp_demo_0000000000000000"), owner="research")
    services.secrets.set("SLACK_BOT_TOKEN", SecretValue("xoxb-demo-0000"), owner="release")
    services.secrets.set(
        "OPENAI_API_KEY", SecretValue("sk-demo-0000"), name="OpenAI API key", description="Team key"
    )
    services.secrets.set("WAREHOUSE_DSN", SecretValue("postgres://demo"), owner="crunch")
    cards.revisions["crunch"] = 2
    await asyncio.to_thread(services.agents.refresh, "crunch")
    parts.events.changed.emit("agents")


def ask(
    parts: AppParts, slug: str, keys: list[str], task: str, context: str, caller: str
) -> asyncio.Task[Any]:
    """A run-time demand from `slug`, as the bridge makes it: it waits in the prompter."""
    services, broker = parts.runtime.services, parts.runtime.broker
    assert services is not None and broker is not None
    agent = services.catalog.get_agent(slug)
    declared = DEMO_AGENTS[slug]["demands"]
    demands = [SecretDemand(k, declared[k]["name"], declared[k]["description"]) for k in keys]
    return asyncio.ensure_future(
        broker.fulfil(agent, demands, phase="runtime", task_id=task, context_id=context, caller=caller)
    )


def icon_sheet() -> QImage:
    """Every tray state at 64 and 22 px on light and dark panels."""
    states = list(IconState)
    cell = 120
    sheet = QImage(cell * len(states), 2 * cell, QImage.Format.Format_ARGB32)
    sheet.fill(QColor("#f1f3f5"))
    painter = QPainter(sheet)
    painter.fillRect(0, cell, sheet.width(), cell, QColor("#25262b"))
    for n, state in enumerate(states):
        label = state.value.replace("_", " ").replace("-", " ")
        for row, color in ((0, "#495057"), (1, "#ced4da")):
            painter.drawImage(n * cell + 14, row * cell + 12, render(state, 64))
            painter.drawImage(n * cell + 86, row * cell + 33, render(state, 22))
            painter.setPen(QColor(color))
            painter.drawText(QRect(n * cell, row * cell + 84, cell, 28), Qt.AlignmentFlag.AlignCenter, label)
    painter.end()
    return sheet


async def extras(parts: AppParts, shots: Shots) -> None:
    """11-15 (see the module docstring)."""
    shots.save(icon_sheet(), "11-tray-states")
    cards = CardServer()
    async with running_bridge(cards, 0) as port:  # type: ignore[arg-type]
        cards.port = port
        await prepare(parts, cards)
        waits = [
            ask(parts, "research", ["GITHUB_TOKEN", "SLACK_BOT_TOKEN", "OPENAI_API_KEY"],
                "3f2a9c1e-7b7d-4c55-9e0e-1a2b3c4d5e6f", "9c1b77d4-0f6e-4a1b-b2c3-d4e5f6a7b8c9",
                "pid 48211 (node)"),
            ask(parts, "crunch", ["WAREHOUSE_DSN"], "5d8e2f10-aa01-4c3b-8e2d-000000000001",
                "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d", "pid 50102 (python3.11)"),
        ]  # fmt: skip
        prompter = parts.prompter
        await wait_until("two prompts", lambda: len(prompter.pending) == 2)
        await settle(0.8)
        menu = await open_tray_menu(parts)
        shots.save(grab_screen(menus_rect(menu)), "12-tray-waiting")
        menu.hide()
        for name, slug in (("13-prompt-several", "research"), ("14-prompt-card-changed", "crunch")):
            request = next(r for r in prompter.pending if r.agent.slug == slug)
            prompter.raise_prompt(request.prompt_id)
            await settle()
            dialog = prompter.current_dialog
            assert dialog is not None
            for widget in dialog.items:
                if widget.item.offers and widget.item.stored is None:
                    widget.select(widget.item.offers[0].secret_id)  # show the two-agent choice
            await wait_until("Allow to answer (inert for a second)", dialog.guard_passed)
            await settle(0.3)
            shots.grab(dialog, name)
        prompter.withdraw_all()
        await asyncio.gather(*waits, return_exceptions=True)
        window = await show_tab(parts, "general")
        shots.grab(window, "15-general")
