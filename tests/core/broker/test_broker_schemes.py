"""The broker and card security schemes: scheme-bound values, `releasable`, and asking again (`stale`)."""

from __future__ import annotations

import pytest

from keybroker.core.broker.prompts import NewValue, PromptAnswer, UseStored
from keybroker.core.models import AgentRecord, AuditDecision, GrantScope, SecretDemand, SecretValue
from keybroker.wiring.services import Services
from tests.core.broker.test_broker import DEMO_URL, add_agent, decisions, fulfil, make_broker, revealed
from tests.core.conftest import CardServer
from tests.fakes import ScriptedPrompter

API_KEY = SecretDemand("apiKey", "API key (header X-API-Key)", None, scheme="apiKey")


@pytest.fixture
def demo(services: Services, cards: CardServer) -> AgentRecord:
    return add_agent(services, cards, DEMO_URL, "demo", "Demo Agent")


@pytest.mark.asyncio
async def test_a_scheme_demand_gets_the_value_bound_to_that_scheme_only(
    services: Services, demo: AgentRecord
) -> None:
    services.secrets.set("apiKey", SecretValue("unbound-v"), owner="demo")
    broker = make_broker(services, ScriptedPrompter())
    assert broker.releasable(demo, [API_KEY]) == frozenset()  # an unbound value does not answer it
    bound = services.secrets.set("apiKey", SecretValue("bound-v"), owner="demo", scheme="apiKey").record
    before = len(services.audit.events())
    assert broker.releasable(demo, [API_KEY]) == {"apiKey"}
    assert len(services.audit.events()) == before  # a probe audits nothing
    result = await fulfil(broker, demo, [API_KEY])
    assert revealed(result) == {"apiKey": "bound-v"}
    released = [e for e in services.audit.events() if e.decision == AuditDecision.RELEASED]
    assert [(e.key, e.secret_id, e.scope) for e in released] == [("apiKey", bound.secret_id, "always")]


@pytest.mark.asyncio
async def test_a_scheme_value_may_be_stored_under_any_key(services: Services, demo: AgentRecord) -> None:
    services.secrets.set("X-API-Key", SecretValue("named-v"), owner="demo", scheme="apiKey")
    broker = make_broker(services, ScriptedPrompter())
    assert broker.releasable(demo, [API_KEY]) == {"apiKey"}
    assert revealed(await fulfil(broker, demo, [API_KEY])) == {"apiKey": "named-v"}


@pytest.mark.asyncio
async def test_a_shared_scheme_value_needs_a_yes_and_a_missing_one_is_typed_and_bound(
    services: Services, demo: AgentRecord
) -> None:
    prompter = ScriptedPrompter(
        PromptAnswer.grant(GrantScope.ALWAYS, {"apiKey": NewValue(SecretValue("typed"))})
    )
    broker = make_broker(services, prompter)
    assert broker.releasable(demo, [API_KEY]) == frozenset()
    result = await fulfil(broker, demo, [API_KEY])
    assert revealed(result) == {"apiKey": "typed"}
    (request,) = prompter.requests
    assert request.items[0].scheme == "apiKey"
    stored = services.catalog.find_secret("apiKey", "demo", "apiKey")
    assert stored is not None and services.vault.get(stored.secret_id) == SecretValue("typed")
    assert services.catalog.find_secret("apiKey", "demo", None) is None  # bound, not a plain secret
    assert broker.releasable(demo, [API_KEY]) == {"apiKey"}  # the ALWAYS answer holds from now on


@pytest.mark.asyncio
async def test_a_stale_value_is_asked_for_again_under_an_always_grant(
    services: Services, demo: AgentRecord
) -> None:
    old = services.secrets.set("apiKey", SecretValue("stale-v"), owner="demo", scheme="apiKey").record
    fresh = NewValue(SecretValue("fresh-v"))
    prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.ALWAYS, {"apiKey": fresh}))
    broker = make_broker(services, prompter)
    assert revealed(await fulfil(broker, demo, [API_KEY])) == {"apiKey": "stale-v"}  # cached now
    result = await broker.fulfil(
        demo, [API_KEY], phase="runtime", task_id=None, context_id=None, stale=["apiKey"]
    )
    assert revealed(result) == {"apiKey": "fresh-v"}
    (request,) = prompter.requests
    item = request.items[0]
    assert item.stored is not None and item.stored.secret_id == old.secret_id
    assert "refused" in item.reason
    # Replaced in place: same secret_id, still bound; the cache did not serve the stale value.
    assert services.vault.get(old.secret_id) == SecretValue("fresh-v")
    assert services.catalog.find_secret("apiKey", "demo", "apiKey").secret_id == old.secret_id  # type: ignore[union-attr]
    assert decisions(services, key="apiKey") == [
        AuditDecision.CREATED,
        AuditDecision.RELEASED,  # the first attempt
        AuditDecision.REFUSED,  # the agent refused it
        AuditDecision.UPDATED,
        AuditDecision.GRANTED,
        AuditDecision.RELEASED,  # the second attempt
    ]


@pytest.mark.asyncio
async def test_a_stale_value_may_be_kept_and_a_decline_releases_nothing(
    services: Services, demo: AgentRecord
) -> None:
    services.secrets.set("apiKey", SecretValue("kept-v"), owner="demo", scheme="apiKey")
    prompter = ScriptedPrompter(
        PromptAnswer.grant(GrantScope.ONCE, {"apiKey": UseStored()}), PromptAnswer.deny("no")
    )
    broker = make_broker(services, prompter)
    stale = ["apiKey"]
    kept = await broker.fulfil(demo, [API_KEY], phase="runtime", task_id=None, context_id=None, stale=stale)
    assert revealed(kept) == {"apiKey": "kept-v"}
    declined = await broker.fulfil(
        demo, [API_KEY], phase="runtime", task_id=None, context_id=None, stale=stale
    )
    assert declined.values == {} and declined.declined == {"apiKey"}
    assert len(prompter.requests) == 2
    assert decisions(services, key="apiKey").count(AuditDecision.REFUSED) == 2
