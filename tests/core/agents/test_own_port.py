"""An agent's own loopback port (issue 18): set, checked, kept, shown, removed."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from keybroker.core.admin import LocalAdmin
from keybroker.core.errors import CatalogError, InvalidInputError, UsageError
from keybroker.core.models import AuditDecision
from keybroker.wiring.services import Services
from tests.core.conftest import CardServer, make_card
from tests.interop.conftest import free_port

BASE = "http://127.0.0.1:9002"
BRIDGE_PORT = 7411


@pytest.fixture
def admin(services: Services, cards: CardServer) -> LocalAdmin:
    cards.cards[BASE] = make_card("Demo")
    cards.cards["http://127.0.0.1:9003"] = make_card("Other")
    return LocalAdmin(services, caller="test", port=lambda: BRIDGE_PORT)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def test_add_with_a_port_shows_its_root_as_the_bridged_url(admin: LocalAdmin, services: Services) -> None:
    port = free_port()
    agent = admin.add_agent(BASE, bridge_port=port)
    assert agent.bridge_port == port
    assert agent.bridged_url == f"http://127.0.0.1:{port}/"
    assert agent.to_json()["bridge_port"] == port
    assert services.catalog.get_agent("demo").bridge_port == port
    without = admin.add_agent("http://127.0.0.1:9003")
    assert without.bridge_port is None
    assert without.bridged_url == f"http://127.0.0.1:{BRIDGE_PORT}/agents/other/"


def test_set_change_and_clear_a_port_are_audited(admin: LocalAdmin, services: Services) -> None:
    admin.add_agent(BASE)
    first, second = free_port(), free_port()
    assert admin.set_agent_port("demo", first).bridged_url == f"http://127.0.0.1:{first}/"
    assert admin.set_agent_port("demo", second).bridge_port == second
    cleared = admin.set_agent_port("demo", None)
    assert (cleared.bridge_port, cleared.bridged_url) == (
        None,
        f"http://127.0.0.1:{BRIDGE_PORT}/agents/demo/",
    )
    changes = [e.detail for e in services.audit.events() if e.decision is AuditDecision.AGENT_CHANGED]
    assert changes == [f"own port {first}", f"own port {second}", f"own port {second} removed"]


def test_a_refresh_keeps_the_port(admin: LocalAdmin, cards: CardServer) -> None:
    port = free_port()
    admin.add_agent(BASE, bridge_port=port)
    cards.cards[BASE] = make_card("Demo", demands={"new": {"name": "New"}})
    assert admin.refresh_agent("demo").agent.bridge_port == port


@pytest.mark.parametrize("bad", [0, -1, 65536, True])
def test_a_port_out_of_range_is_refused_with_a_clear_error(admin: LocalAdmin, bad: int) -> None:
    admin.add_agent(BASE)
    with pytest.raises(InvalidInputError, match="number from 1 to 65535"):
        admin.set_agent_port("demo", bad)
    with pytest.raises(InvalidInputError, match="number from 1 to 65535"):
        admin.add_agent("http://127.0.0.1:9003", bridge_port=bad)


def test_a_taken_port_is_refused_and_nothing_changes(
    admin: LocalAdmin, services: Services, taken_port: int
) -> None:
    mine = free_port()
    admin.add_agent(BASE, bridge_port=mine)
    with pytest.raises(UsageError, match="the bridge's own port"):
        admin.set_agent_port("demo", BRIDGE_PORT)
    with pytest.raises(UsageError, match="in use by another program"):
        admin.set_agent_port("demo", taken_port)
    with pytest.raises(UsageError, match="already agent 'demo'"):
        admin.add_agent("http://127.0.0.1:9003", bridge_port=mine)
    assert [a.slug for a in services.catalog.list_agents()] == ["demo"]  # the refused add added nothing
    assert services.catalog.get_agent("demo").bridge_port == mine
    assert admin.set_agent_port("demo", mine).bridge_port == mine  # its own port again: no probe, no change


def test_one_agent_per_port_in_the_catalog_too(admin: LocalAdmin, services: Services) -> None:
    import dataclasses

    port = free_port()
    admin.add_agent(BASE, bridge_port=port)
    other = admin.add_agent("http://127.0.0.1:9003")
    record = dataclasses.replace(services.catalog.get_agent(other.slug), bridge_port=port)
    with pytest.raises(CatalogError, match=r"UNIQUE constraint failed: agents\.bridge_port"):
        services.catalog.upsert_agent(record)  # refused: not the other agent replaced to make room
    assert services.catalog.get_agent("demo").bridge_port == port
