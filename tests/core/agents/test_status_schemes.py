"""`agents show`: which card security schemes the bridge satisfies, and which it cannot send."""

from __future__ import annotations

from typing import Any

from keybroker.core.agents.status import SUPPORTED_SCHEME_KINDS, AgentStatus, agent_status
from keybroker.core.models import SecretValue
from keybroker.wiring.services import Services
from tests.core.conftest import CardServer, make_card

URL = "http://127.0.0.1:9001"


def card_with_schemes() -> dict[str, Any]:
    card = make_card("Schemes Agent", url=URL + "/")
    card["securitySchemes"] = {
        "apiKey": {"type": "apiKey", "in": "query", "name": "api_key"},
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "basic": {"type": "http", "scheme": "basic"},
        "digest": {"type": "http", "scheme": "digest"},
        "oauth": {"type": "oauth2", "flows": {}},
    }
    card["security"] = [{"apiKey": [], "bearer": []}, {"oauth": []}]
    return card


def schemes(services: Services) -> dict[str, dict[str, Any]]:
    agent = services.catalog.get_agent("sch")
    described = agent_status(agent, services.catalog, port=7411, now=services.catalog.clock.now())
    return {s["name"]: s for s in described.to_json()["schemes"]}


def test_scheme_status_says_what_is_satisfied_missing_or_unsupported(
    services: Services, cards: CardServer
) -> None:
    assert {"apiKey", "http", "oauth2", "openIdConnect", "mutualTLS"} == SUPPORTED_SCHEME_KINDS
    cards.cards[URL] = card_with_schemes()
    services.agents.add(URL, slug="sch")
    before = schemes(services)
    assert {n: (s["supported"], s["satisfied"]) for n, s in before.items()} == {
        "apiKey": (True, False),
        "bearer": (True, False),
        "basic": (True, False),  # user:password from the vault
        "digest": (False, False),  # http, but neither bearer nor basic
        "oauth": (True, False),  # a sign-in (core/auth)
    }
    assert before["apiKey"]["status"].startswith("missing") and "401" in before["apiKey"]["status"]
    assert before["digest"]["status"] == "not supported"
    assert before["oauth"]["status"].startswith("not signed in")

    # The value bound to the scheme, under any key; an unbound value of the same name does not count.
    services.secrets.set("bearer", SecretValue("unbound"), owner="sch")
    stored = services.secrets.set("API_KEY", SecretValue("v"), owner="sch", scheme="apiKey").record
    after = schemes(services)
    assert after["apiKey"]["status"] == "satisfied (own value, always)"
    assert (after["apiKey"]["satisfied"], after["apiKey"]["secret_id"]) == (True, stored.secret_id)
    assert after["bearer"]["satisfied"] is False and after["bearer"]["secret_id"] is None

    shared = services.secrets.set("tok", SecretValue("s"), scheme="bearer").record
    bearer = schemes(services)["bearer"]
    assert bearer["status"] == "stored (shared value); will ask on first use"
    assert bearer["secret_id"] == shared.secret_id


def test_an_agent_status_comes_back_from_its_json(services: Services, cards: CardServer) -> None:
    # The CLI reads a running instance's answers back into the same record (cli/remote_admin.py).
    cards.cards[URL] = card_with_schemes()
    services.agents.add(URL, slug="sch")
    services.secrets.set("API_KEY", SecretValue("v"), owner="sch", scheme="apiKey")
    described = agent_status(services.catalog.get_agent("sch"), services.catalog, port=7411, now=1.0)
    data = described.to_json()
    assert isinstance(data["schemes"], list) and isinstance(data["protocol_versions"], list)
    assert AgentStatus.from_json({**data, "changed": True}) == described
