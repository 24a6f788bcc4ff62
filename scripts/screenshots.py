#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Drive the real app to every screen worth a picture and save PNGs (run by scripts/screenshots.sh).

    DISPLAY=:N KEYBROKER_HOME=<tmp> KEYBROKER_VAULT=memory python scripts/screenshots.py OUT_DIR

The app is composed as `keybroker` composes it (tray, prompter, settings window, bridge), with demo
agents whose cards this script serves itself on loopback, a few stored secrets, some activity, and
three prompts waiting: a run-time demand with a stored value, an offer and a new key; an agent whose
card changed; and a new agent. Windows are grabbed with `QWidget.grab()`, the tray with the screen.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "desktop"))

# ruff: noqa: E402, TID251 - a Qt script that sets its path first
import qasync
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
from PySide6.QtWidgets import QApplication, QWidget

from keybroker import APP_ID
from keybroker.core.models import SecretDemand, SecretValue
from keybroker.core.paths import Paths
from keybroker.ui.composition import AppParts, compose
from keybroker.ui.icon_art import IconState
from keybroker.ui.icons import render

log = logging.getLogger("screenshots")
SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"
SETTINGS_SIZE = (1000, 720)

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
    "scratch": {
        "name": "Scratchpad Agent",
        "description": "An experiment you just started locally.",
        "demands": {"ANTHROPIC_API_KEY": {"name": "Anthropic API key", "description": None}},
    },
}


def card(slug: str, base: str, revision: int = 1) -> dict[str, Any]:
    """An A2A 0.3 card with the Agent Stack secrets extension, as agentstack-sdk serves it."""
    info = DEMO_AGENTS[slug]
    demands = {k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in info["demands"].items()}
    return {
        "name": info["name"],
        "description": info["description"] + ("" if revision == 1 else " (now with write access)"),
        "url": f"{base}/jsonrpc/",
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3.0",
        "version": f"1.{revision}.0",
        "capabilities": {
            "streaming": True,
            "extensions": [{"uri": SECRETS_URI, "required": False, "params": {"secret_demands": demands}}],
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

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
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


async def settle(seconds: float = 0.4) -> None:
    """Let Qt lay out and paint."""
    await asyncio.sleep(seconds)
    QApplication.processEvents()


def save(image: QImage, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    if not image.save(str(path), "PNG"):
        raise RuntimeError(f"cannot write {path}")
    print(f"screenshots: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def grab(widget: QWidget, out: Path, name: str) -> None:
    save(widget.grab().toImage(), out, name)


async def prepare(parts: AppParts, cards: CardServer) -> None:
    """Agents, secrets and some activity, as after a few days of use."""
    services = parts.runtime.services
    broker = parts.runtime.broker
    assert services is not None and broker is not None
    for slug in ("research", "release", "crunch"):
        await asyncio.to_thread(services.agents.add, cards.base(slug), slug=slug)
    services.secrets.set("GITHUB_TOKEN", SecretValue("ghp_demo_0000000000000000"), owner="research")
    services.secrets.set("SLACK_BOT_TOKEN", SecretValue("xoxb-demo-0000"), owner="release")
    services.secrets.set(
        "OPENAI_API_KEY", SecretValue("sk-demo-0000"), name="OpenAI API key", description="Team key"
    )
    services.secrets.set("WAREHOUSE_DSN", SecretValue("postgres://demo"), owner="crunch")
    release = services.catalog.get_agent("release")
    for n in range(3):
        await broker.fulfil(
            release,
            [SecretDemand("SLACK_BOT_TOKEN", "Slack bot token")],
            phase="runtime",
            task_id=f"7f3c2a1e-{n:04d}-4b1d-9a55-2f1e0c9d8b7a",
            context_id="c0ffee00-1111-4e2f-8d3c-5a6b7c8d9e0f",
            caller="pid 48211 (node)",
        )
    # The warehouse agent's card changes: its grant is suspended until the user confirms again.
    cards.revisions["crunch"] = 2
    await asyncio.to_thread(services.agents.refresh, "crunch")
    await asyncio.to_thread(services.agents.add, cards.base("scratch"), slug="scratch")


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


def tray_area(out: Path) -> None:
    """The top-right corner of the screen, where trayer shows the icon."""
    screen = QGuiApplication.primaryScreen()
    shot = screen.grabWindow(0).toImage()
    width = shot.width()
    crop = shot.copy(QRect(width - 240, 0, 240, 30))  # trayer's panel (scripts/screenshots.sh)
    big = crop.scaled(crop.width() * 2, crop.height() * 2, Qt.AspectRatioMode.KeepAspectRatio,
                      Qt.TransformationMode.SmoothTransformation)
    save(big, out, "tray")


def icon_sheet(out: Path) -> None:
    """Every tray state at 64 and 22 px on light and dark panels."""
    states = list(IconState)
    cell = 110
    sheet = QImage(cell * len(states), 2 * cell, QImage.Format.Format_ARGB32)
    sheet.fill(QColor("#f1f3f5"))
    painter = QPainter(sheet)
    painter.fillRect(0, cell, sheet.width(), cell, QColor("#25262b"))
    for n, state in enumerate(states):
        for row in (0, 1):
            painter.drawImage(n * cell + 10, row * cell + 10, render(state, 64))
            painter.drawImage(n * cell + 80, row * cell + 30, render(state, 22))
        painter.setPen(QColor("#495057"))
        painter.drawText(QRect(n * cell, 80, cell, 24), Qt.AlignmentFlag.AlignCenter, state.value)
        painter.setPen(QColor("#ced4da"))
        painter.drawText(QRect(n * cell, cell + 80, cell, 24), Qt.AlignmentFlag.AlignCenter, state.value)
    painter.end()
    save(sheet, out, "tray-states")


async def shoot(app: QApplication, out: Path) -> int:
    paths = Paths.from_env(os.environ)
    parts = compose(os.environ, paths)
    if parts.tray is None:
        print("screenshots: no system tray on this display (is trayer running?)", file=sys.stderr)
        return 1
    parts.show_tray()
    parts.notifier.tray = None  # no balloons over the pictures
    parts.notifier.desktop_fallback = False
    controller = parts.controller
    from keybroker.core.bridge.server import running_bridge

    cards = CardServer()
    try:
        async with running_bridge(cards, 0) as port:  # type: ignore[arg-type]
            cards.port = port
            state = await controller.start()
            if parts.runtime.broker is None:
                why = f"{state.value}: {controller.problem}"
                print(f"screenshots: the app did not start ({why})", file=sys.stderr)
                return 1
            await prepare(parts, cards)
            waits = [
                ask(parts, "research", ["GITHUB_TOKEN", "SLACK_BOT_TOKEN", "OPENAI_API_KEY"],
                    "3f2a9c1e-7b7d-4c55-9e0e-1a2b3c4d5e6f", "9c1b77d4-0f6e-4a1b-b2c3-d4e5f6a7b8c9",
                    "pid 48211 (node)"),
                ask(parts, "crunch", ["WAREHOUSE_DSN"], "5d8e2f10-aa01-4c3b-8e2d-000000000001",
                    "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d", "pid 50102 (python3.11)"),
                ask(parts, "scratch", ["ANTHROPIC_API_KEY"], "e1e2e3e4-0000-4000-8000-000000000042",
                    "f1f2f3f4-0000-4000-8000-000000000042", "pid 51877 (python3.12)"),
            ]
            prompter = parts.prompter
            for _ in range(200):
                if len(prompter.pending) == 3:
                    break
                await asyncio.sleep(0.05)
            await settle(0.8)
            names = ["prompt", "prompt-card-changed", "prompt-new-agent"]
            for name, request in zip(names, list(prompter.pending), strict=True):
                prompter.raise_prompt(request.prompt_id)
                await settle()
                dialog = prompter.current_dialog
                assert dialog is not None
                for widget in dialog.items:
                    if widget.item.offers and widget.item.stored is None:
                        widget.select(widget.item.offers[0].secret_id)  # show the two-agent choice
                grab(dialog, out, name)
            first = next(r for r in prompter.pending if r.agent.slug == "research")
            prompter.raise_prompt(first.prompt_id)
            await settle()
            tray_area(out)
            menu = parts.tray.menu
            menu.popup(QPoint(QGuiApplication.primaryScreen().geometry().width() - 320, 34))
            await settle()
            grab(menu, out, "tray-menu")
            menu.hide()
            agents = next(a.menu() for a in menu.actions() if a.objectName() == "" and a.menu())
            research = next(a.menu() for a in agents.actions() if a.menu() and "Research" in a.text())
            research.popup(QPoint(QGuiApplication.primaryScreen().geometry().width() - 420, 34))
            await settle()
            grab(research, out, "tray-menu-agent")
            research.hide()
            for tab in ("secrets", "agents", "grants", "activity", "general"):
                controller.show_settings(tab)
                window = parts.settings.window
                assert window is not None
                window.resize(*SETTINGS_SIZE)
                await settle(0.8)
                grab(window, out, f"settings-{tab}")
            icon_sheet(out)
            prompter.withdraw_all()
            await asyncio.gather(*waits, return_exceptions=True)
    finally:
        await controller.shutdown()
        parts.dispose()
    return 0


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    app = QApplication(["keybroker"])
    app.setApplicationDisplayName("Keybroker")
    app.setDesktopFileName(APP_ID)
    app.setQuitOnLastWindowClosed(False)
    return int(qasync.run(shoot(app, out)))


if __name__ == "__main__":
    sys.exit(main())
