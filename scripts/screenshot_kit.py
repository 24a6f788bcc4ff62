# SPDX-License-Identifier: Apache-2.0
"""What the screenshot scripts share: waiting for Qt, grabbing widgets and the screen, the demo agent
process and a plain A2A client (used by scripts/screenshots.py, never by the app)."""

from __future__ import annotations

# ruff: noqa: TID251 - a Qt script
import asyncio
import contextlib
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QWidget

ROOT = Path(__file__).resolve().parent.parent
#: trayer's panel (scripts/screenshots.sh): top right, this wide and high.
TRAY_WIDTH, TRAY_HEIGHT = 240, 30


@dataclass
class Shots:
    """Where PNGs go, and which ones this run made (the rest in the folder are stale)."""

    out: Path
    made: list[str] = field(default_factory=list)

    def save(self, image: QImage, name: str) -> None:
        path = self.out / f"{name}.png"
        if not image.save(str(path)):
            raise RuntimeError(f"cannot write {path}")
        self.made.append(path.name)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"screenshots: {shown}  ({image.width()}x{image.height()})")

    def grab(self, widget: QWidget, name: str) -> None:
        self.save(widget.grab().toImage(), name)

    def drop_stale(self) -> list[str]:
        """Delete the PNGs in `out` this run did not make; their names."""
        stale = sorted(p.name for p in self.out.glob("*.png") if p.name not in self.made)
        for name in stale:
            (self.out / name).unlink()
        return stale


async def settle(seconds: float = 0.4) -> None:
    """Let Qt lay out and paint."""
    await asyncio.sleep(seconds)
    QApplication.processEvents()


async def wait_until(what: str, check: Callable[[], bool], seconds: float = 30.0) -> None:
    """Poll `check` while the loop runs; RuntimeError naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def screen_width() -> int:
    return QGuiApplication.primaryScreen().geometry().width()


def grab_screen(rect: QRect, scale: float = 1.0) -> QImage:
    """A part of the screen (popups and the tray included), scaled by `scale`."""
    shot = QGuiApplication.primaryScreen().grabWindow(0).toImage().copy(rect)
    if scale == 1.0:
        return shot
    return shot.scaled(
        int(shot.width() * scale),
        int(shot.height() * scale),
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


def backdrop() -> QWidget:
    """A plain desktop behind everything (Xvfb's root is black): a frameless window, lowered."""
    desk = QWidget(None, Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnBottomHint)
    desk.setObjectName("screenshotBackdrop")
    desk.setStyleSheet("QWidget#screenshotBackdrop { background: #4f6476; }")
    desk.setGeometry(QGuiApplication.primaryScreen().geometry())
    desk.show()
    desk.lower()
    return desk


def menus_rect(*menus: QMenu, margin: int = 8) -> QRect:
    """The screen area covering the tray panel and every open menu."""
    area = QRect(screen_width() - TRAY_WIDTH, 0, TRAY_WIDTH, TRAY_HEIGHT)
    for menu in menus:
        if menu.isVisible():
            area = area.united(menu.geometry())
    return area.adjusted(-margin, 0, 0, margin).intersected(QGuiApplication.primaryScreen().geometry())


async def hover(menu: QMenu, submenu_name: str) -> QMenu:
    """Move the mouse onto the entry of the submenu called `submenu_name` so Qt opens it, as a user
    does; the submenu."""
    action = next(a for a in menu.actions() if a.menu() is not None and a.menu().objectName() == submenu_name)
    QTest.mouseMove(menu, menu.actionGeometry(action).center())
    sub = action.menu()
    assert isinstance(sub, QMenu)
    await wait_until(f"the submenu {action.text()!r}", sub.isVisible, 5)
    await settle(0.3)
    return sub


def over(base: QImage, top: QImage) -> QImage:
    """`top` centred on `base` with a thin shadow: a modal box over its window, as a desktop shows it."""
    result = base.copy()
    painter = QPainter(result)
    painter.fillRect(result.rect(), QColor(0, 0, 0, 40))
    x, y = (base.width() - top.width()) // 2, (base.height() - top.height()) // 3
    for spread, alpha in ((6, 18), (4, 28), (2, 40)):
        painter.fillRect(
            QRect(x - spread, y - spread + 2, top.width() + 2 * spread, top.height() + 2 * spread),
            QColor(0, 0, 0, alpha),
        )
    painter.drawImage(QPoint(x, y), top)
    painter.setPen(QColor("#9a9a9a"))
    painter.drawRect(QRect(x - 1, y - 1, top.width() + 1, top.height() + 1))
    painter.end()
    return result


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def demo_agent() -> AsyncIterator[str]:
    """scripts/demo_agent.py in its own process on a free port; its base URL once its card answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    script = str(ROOT / "scripts" / "demo_agent.py")
    process = await asyncio.create_subprocess_exec(sys.executable, script, str(port))
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            deadline = time.monotonic() + 30
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"the demo agent exited with status {process.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{base}/.well-known/agent-card.json")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the demo agent's card at {base} did not answer in 30 s")
                await asyncio.sleep(0.1)
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


@dataclass(frozen=True)
class Reply:
    """How a run through the bridge ended."""

    state: str
    text: str


async def send_message(url: str, text: str, seconds: float = 180.0) -> Reply:
    """Send `text` to `url` with a plain a2a-sdk 1.x client (card resolved from the URL), as any
    A2A client pointed at a bridged URL does; the task's final state and its text."""
    from a2a.client import ClientConfig, ClientFactory
    from a2a.types import Message, Part, Role, SendMessageRequest
    from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]

    async with httpx.AsyncClient(timeout=seconds) as http:
        config = ClientConfig(httpx_client=http, streaming=False, supported_protocol_bindings=["JSONRPC"])
        client = await ClientFactory(config).create_from_url(url)
        message = Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=[Part(text=text)])
        state, texts = "", []
        async for event in client.send_message(SendMessageRequest(message=message)):
            data = MessageToDict(event)
            task = data.get("task") or {}
            state = task.get("status", {}).get("state") or state
            for artifact in task.get("artifacts") or []:
                texts += [p["text"] for p in artifact.get("parts") or [] if "text" in p]
        await client.close()
    return Reply(state, "\n".join(texts))
