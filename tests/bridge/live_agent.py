# SPDX-License-Identifier: Apache-2.0
"""The scripted agent on a real loopback port, and a bridge on another in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from starlette.types import ASGIApp, Receive, Scope, Send

from keybroker.core.bridge import BridgeApp, running_bridge
from keybroker.core.bridge.ports import SecretSource
from keybroker.core.models import AgentRecord
from tests.bridge.scripted_agent import scripted_app, scripted_card
from tests.bridge.support import record_from_card
from tests.interop.conftest import free_port


class InFlight:
    """ASGI middleware counting the agent's POSTs: in flight (upstream slots taken) and in all."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.now = 0
        self.total = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        self.now += 1
        self.total += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


@dataclass
class Agent:
    """A running scripted agent: its URL, the record the catalog would hold, its request counter."""

    url: str
    record: AgentRecord
    counter: InFlight


@asynccontextmanager
async def scripted_agent(demands: dict[str, dict[str, str]] | None = None) -> AsyncIterator[Agent]:
    """The scripted agent served on a real loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    card = scripted_card(url, demands)
    counter = InFlight(scripted_app(card))
    async with running_bridge(counter, port, shutdown_grace=0.5):
        yield Agent(url, record_from_card(agent_card_to_dict(card), "peer", url=url), counter)


@asynccontextmanager
async def bridge(agent: Agent, secrets: SecretSource, **options: Any) -> AsyncIterator[str]:
    """A bridge in front of `agent` (slug `peer`) on a free port; yields its base URL."""
    app = BridgeApp({"peer": agent.record}.get, secrets, caller=None, **options)
    try:
        async with running_bridge(app, 0) as port:
            yield f"http://127.0.0.1:{port}"
    finally:
        await app.aclose()
