"""Fixtures for core tests: a catalog and services over a memory vault under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keybroker.core.a2a.card import parse_card
from keybroker.core.a2a.card_fetch import FetchedCard
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.fakes import FakeClock

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"


def make_card(
    name: str = "Demo Agent",
    demands: dict[str, dict[str, str]] | None = None,
    url: str = "http://127.0.0.1:9999/jsonrpc/",
) -> dict[str, object]:
    """A 0.3-shaped card like an agentstack agent serves."""
    return {
        "name": name,
        "description": "test agent",
        "version": "1.0.0",
        "url": url,
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3.0",
        "capabilities": {
            "streaming": True,
            "extensions": [
                {
                    "uri": SECRETS_URI,
                    "required": False,
                    "params": {
                        "secret_demands": demands
                        if demands is not None
                        else {"github": {"name": "GitHub token", "description": "PAT"}}
                    },
                }
            ],
        },
        "defaultInputModes": ["text"],
        "defaultOutputModes": ["text"],
        "skills": [],
    }


class CardServer:
    """A fake fetcher: URL -> card dict, changeable between calls."""

    def __init__(self) -> None:
        self.cards: dict[str, dict[str, object]] = {}

    def __call__(self, url: str) -> FetchedCard:
        base = url.split("/.well-known/")[0].rstrip("/")
        data = self.cards[base]
        return FetchedCard(
            base_url=base, card_url=base + "/.well-known/agent-card.json", data=data, parsed=parse_card(data)
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cards() -> CardServer:
    return CardServer()


@pytest.fixture
def services(tmp_path: Path, clock: FakeClock, cards: CardServer) -> Iterator[Services]:
    svc = open_services(
        environ={"KEYBROKER_HOME": str(tmp_path / "home")},
        vault=open_vault("memory"),
        clock=clock,
        fetch=cards,
    )
    yield svc
    svc.close()


def fill_the_disk(services: Services) -> None:
    """Make the catalog's disk full, as SQLite meets one: no page more than it has, and ordinary audit
    events appended until one no longer fits (so the next event needs a page it cannot get)."""
    from keybroker.core.errors import CatalogError
    from keybroker.core.models import AuditDecision

    pages = services.catalog.query("PRAGMA page_count")[0][0]
    services.catalog.query(f"PRAGMA max_page_count = {pages}")
    for n in range(100_000):
        try:
            services.audit.append(AuditDecision.LISTED, detail=f"filler {n}")
        except CatalogError:
            return
    raise AssertionError("the catalog never filled up")


def free_the_disk(services: Services) -> None:
    """Space came back (`fill_the_disk` undone)."""
    services.catalog.query("PRAGMA max_page_count = 1073741823")
