# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the management API: services over a memory vault, a spying broker, the app, a client."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from keybroker.core.a2a.card_fetch import FetchedCard
from keybroker.core.api.app import create_api
from keybroker.core.broker.broker import Broker
from keybroker.core.broker.prompts import DecliningPrompter
from keybroker.core.errors import AgentUnreachable
from keybroker.core.models import SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.core.conftest import CardServer, make_card
from tests.fakes import FakeClock

TOKEN = "api-test-token-5f1c0e"
BASE_URL = "http://127.0.0.1:7411"
DEMO_URL = "http://127.0.0.1:9001"
OTHER_URL = "http://127.0.0.1:9002"
DEMO_DEMANDS = {
    "github": {"name": "GitHub token", "description": "PAT"},
    "slack": {"name": "Slack token", "description": "bot token"},
}


class AgentCards(CardServer):
    """The fake card fetcher; an unknown URL is unreachable, and it notes the threads it ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[threading.Thread] = []

    def __call__(self, url: str) -> FetchedCard:
        self.threads.append(threading.current_thread())
        base = url.split("/.well-known/")[0].rstrip("/")
        if base not in self.cards:
            raise AgentUnreachable(f"cannot reach the agent at {base}", hint="is it running?")
        return super().__call__(url)


class SpyBroker(Broker):
    """The real broker, noting every `forget`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.forgotten: list[str] = []

    def forget(self, secret_id: str) -> None:
        self.forgotten.append(secret_id)
        super().forget(secret_id)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cards() -> AgentCards:
    server = AgentCards()
    server.cards[DEMO_URL] = make_card("Demo Agent", demands=DEMO_DEMANDS)
    server.cards[OTHER_URL] = make_card("Other Agent", demands={"github": DEMO_DEMANDS["github"]})
    return server


@pytest.fixture
def services(tmp_path: Path, clock: FakeClock, cards: AgentCards) -> Iterator[Services]:
    svc = open_services(
        environ={"KEYBROKER_HOME": str(tmp_path / "home")},
        vault=open_vault("memory"),
        clock=clock,
        fetch=cards,
    )
    yield svc
    svc.close()


@pytest.fixture
def broker(services: Services) -> SpyBroker:
    spy = SpyBroker.from_services(services, DecliningPrompter("no prompts in API tests"))
    assert isinstance(spy, SpyBroker)
    return spy


@pytest.fixture
def app(services: Services, broker: SpyBroker) -> FastAPI:
    return create_api(services, broker, SecretValue(TOKEN), status=lambda: {"tray": "ready"})


def make_client(app: Any, *, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=headers)


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as c:
        yield c
