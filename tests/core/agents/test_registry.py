"""Adding, refreshing and removing agents."""

from __future__ import annotations

import json

import pytest

from keybroker.core.agents.registry import slug_from_name, validate_slug
from keybroker.core.errors import InvalidInputError, UnknownAgentError, UsageError
from keybroker.core.models import AuditDecision, SecretDemand
from keybroker.wiring.services import Services
from tests.core.conftest import CardServer, make_card

BASE = "http://127.0.0.1:9002"


def test_add_records_card_facts(services: Services, cards: CardServer) -> None:
    cards.cards[BASE] = make_card("Secret Demo Agent!")
    agent = services.agents.add(BASE)
    assert agent.slug == "secret-demo-agent"
    assert agent.url == BASE
    assert agent.protocol_versions == ("0.3",)
    assert agent.demands == (SecretDemand("github", "GitHub token", "PAT"),)
    assert len(agent.fingerprint) == 64
    assert json.loads(agent.card_json)["name"] == "Secret Demo Agent!"
    assert services.catalog.get_agent(agent.slug) == agent
    assert services.audit.events()[-1].decision is AuditDecision.AGENT_ADDED


def test_slugs_are_unique_and_validated(services: Services, cards: CardServer) -> None:
    cards.cards[BASE] = make_card("Demo")
    cards.cards["http://127.0.0.1:9003"] = make_card("Demo")
    assert services.agents.add(BASE).slug == "demo"
    with pytest.raises(UsageError, match="already added"):
        services.agents.add(BASE)
    assert services.agents.add("http://127.0.0.1:9003").slug == "demo-2"
    with pytest.raises(UsageError, match="exists already"):
        services.agents.add(BASE, slug="demo")
    with pytest.raises(InvalidInputError):
        services.agents.add(BASE, slug="Bad Slug")


@pytest.mark.parametrize(
    ("name", "slug"), [("Hello World", "hello-world"), ("!!!", "agent"), ("a--b", "a-b")]
)
def test_slug_from_name(name: str, slug: str) -> None:
    assert slug_from_name(name) == slug
    validate_slug(slug)


def test_refresh_notices_a_changed_card(services: Services, cards: CardServer) -> None:
    cards.cards[BASE] = make_card("Demo")
    before = services.agents.add(BASE)
    same = services.agents.refresh("demo")
    assert not same.changed
    cards.cards[BASE] = make_card("Demo", demands={"github": {"name": "GitHub"}, "new": {"name": "New"}})
    result = services.agents.refresh("demo")
    assert result.changed
    assert result.previous_fingerprint == before.fingerprint
    assert result.agent.fingerprint != before.fingerprint
    assert [d.key for d in result.agent.demands] == ["github", "new"]
    assert result.agent.added == before.added
    assert services.audit.events()[-1].decision is AuditDecision.AGENT_CHANGED


def test_unknown_slug_exits_3(services: Services) -> None:
    for call in (lambda: services.agents.refresh("x"), lambda: services.agents.remove("x")):
        with pytest.raises(UnknownAgentError) as err:
            call()
        assert err.value.exit_code == 3
