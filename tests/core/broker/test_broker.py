"""The broker: grants, prompts, coalescing, cooldown, cache, lock; and no value where it must not be."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from keybroker.core.broker.broker import Broker, BrokerConfig, Fulfilment
from keybroker.core.broker.grant_rules import make_grant
from keybroker.core.broker.prompts import (
    DecliningPrompter,
    NewValue,
    PromptAnswer,
    PromptRequest,
    SkipItem,
    UseOffered,
)
from keybroker.core.models import AgentRecord, AuditDecision, GrantScope, SecretDemand, SecretValue
from keybroker.core.secrets.records import new_grant_id
from keybroker.core.vault.vault import Vault
from keybroker.wiring.services import Services
from tests.core.conftest import CardServer, make_card
from tests.fakes import NEVER, FakeClock, RecordingNotifier, Scripted, ScriptedPrompter

GITHUB = SecretDemand("github", "GitHub token", "PAT")
SLACK = SecretDemand("slack", "Slack token", "bot token")
DEMO_URL = "http://127.0.0.1:9001"
OTHER_URL = "http://127.0.0.1:9002"


class CountingVault:
    """The real (memory) vault, counting the reads that reach it."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.reads = 0

    async def aget(self, account: str) -> SecretValue | None:
        self.reads += 1
        return await self.vault.aget(account)

    async def aset(self, account: str, value: SecretValue) -> None:
        await self.vault.aset(account, value)

    async def adelete(self, account: str) -> bool:
        return await self.vault.adelete(account)


def add_agent(services: Services, cards: CardServer, url: str, slug: str, name: str) -> AgentRecord:
    cards.cards[url] = make_card(
        name,
        demands={
            "github": {"name": "GitHub token", "description": "PAT"},
            "slack": {"name": "Slack token", "description": "bot token"},
        },
    )
    return services.agents.add(url, slug=slug)


@pytest.fixture
def demo(services: Services, cards: CardServer) -> AgentRecord:
    return add_agent(services, cards, DEMO_URL, "demo", "Demo Agent")


@pytest.fixture
def other(services: Services, cards: CardServer) -> AgentRecord:
    return add_agent(services, cards, OTHER_URL, "other", "Other Agent")


@pytest.fixture
def vault(services: Services) -> CountingVault:
    return CountingVault(services.vault)


def make_broker(
    services: Services,
    prompter: ScriptedPrompter,
    vault: CountingVault | None = None,
    notifier: RecordingNotifier | None = None,
    **config: Any,
) -> Broker:
    return Broker(
        catalog=services.catalog,
        vault=vault or services.vault,
        audit=services.audit,
        grants=services.grants,
        prompter=prompter,
        notifier=notifier,
        config=BrokerConfig(**config),
    )


async def fulfil(
    broker: Broker,
    agent: AgentRecord,
    demands: Sequence[SecretDemand] = (GITHUB,),
    *,
    phase: str = "runtime",
    task_id: str | None = "task-1",
    context_id: str | None = "ctx-1",
    run_id: str | None = None,
    caller: str | None = "pid 4242 (python3)",
) -> Fulfilment:
    return await broker.fulfil(
        agent,
        demands,
        phase=phase,  # type: ignore[arg-type]
        task_id=task_id,
        context_id=context_id,
        run_id=run_id,
        caller=caller,
    )


def revealed(result: Fulfilment) -> dict[str, str]:
    return {k: v.reveal() for k, v in result.values.items()}


def decisions(services: Services, *, key: str | None = None) -> list[AuditDecision]:
    return [e.decision for e in services.audit.events() if key is None or e.key == key]


# Releases without a prompt ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_owned_value_is_released_without_a_prompt(services: Services, demo: AgentRecord) -> None:
    rec = services.secrets.set("github", SecretValue("ghp_owned"), owner="demo").record
    prompter = ScriptedPrompter()
    broker = make_broker(services, prompter)

    result = await fulfil(broker, demo, phase="preflight", task_id=None, run_id="run-1")

    assert revealed(result) == {"github": "ghp_owned"}
    assert result.declined == frozenset() and not result.timed_out
    assert prompter.requests == []
    event = services.audit.events()[-1]
    assert (event.decision, event.key, event.secret_id, event.scope) == (
        AuditDecision.RELEASED,
        "github",
        rec.secret_id,
        "always",
    )
    assert (event.context_id, event.caller) == ("ctx-1", "pid 4242 (python3)")
    assert event.detail == "preflight"
    assert services.catalog.get_secret(rec.secret_id).use_count == 1


@pytest.mark.asyncio
async def test_rule_deny_declines_without_a_prompt(services: Services, cards: CardServer) -> None:
    agent = add_agent(services, cards, "http://agents.example.net:9000", "remote", "Remote")
    services.secrets.set("github", SecretValue("ghp_owned"), owner="remote")
    prompter = ScriptedPrompter()
    result = await fulfil(make_broker(services, prompter), agent)
    assert result.values == {} and result.declined == {"github"}
    assert "in clear" in result.reasons["github"]
    event = services.audit.events()[-1]
    assert event.decision == AuditDecision.DENIED and "agents.example.net" in (event.detail or "")
    assert prompter.requests == []


# Prompts ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_shared_value_needs_a_prompt_the_first_time_per_agent(
    services: Services, demo: AgentRecord, other: AgentRecord
) -> None:
    shared = services.secrets.set("github", SecretValue("ghp_shared")).record
    prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.ALWAYS), PromptAnswer.grant(GrantScope.ALWAYS))
    broker = make_broker(services, prompter)

    first = await fulfil(broker, demo)
    assert revealed(first) == {"github": "ghp_shared"}
    [request] = prompter.requests
    assert request.agent.slug == "demo" and request.first_contact and not request.card_changed
    item = request.item("github")
    assert item.stored == shared and item.name == "GitHub token" and item.description == "PAT"
    assert "first use" in item.reason
    assert (request.task_id, request.context_id, request.caller) == ("task-1", "ctx-1", "pid 4242 (python3)")
    assert request.deadline - request.created == pytest.approx(300.0)

    again = await fulfil(broker, demo, task_id="task-2")
    assert revealed(again) == {"github": "ghp_shared"}
    assert len(prompter.requests) == 1  # demo holds an ALWAYS grant now

    for_other = await fulfil(broker, other)
    assert revealed(for_other) == {"github": "ghp_shared"}
    assert [r.agent.slug for r in prompter.requests] == ["demo", "other"]
    assert decisions(services, key="github") == [
        AuditDecision.CREATED,
        AuditDecision.GRANTED,
        AuditDecision.RELEASED,
        AuditDecision.RELEASED,
        AuditDecision.GRANTED,
        AuditDecision.RELEASED,
    ]


@pytest.mark.asyncio
async def test_decline_is_audited_and_holds_for_the_rest_of_the_run(
    services: Services, demo: AgentRecord
) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    prompter = ScriptedPrompter(PromptAnswer.deny(), PromptAnswer.grant(GrantScope.ONCE))
    broker = make_broker(services, prompter)

    pre = await fulfil(broker, demo, phase="preflight", task_id=None, run_id="run-1")
    assert pre.values == {} and pre.declined == {"github"} and not pre.timed_out
    assert services.audit.events()[-1].decision == AuditDecision.DENIED
    assert services.audit.events()[-1].detail == "declined by the user"

    later = await fulfil(broker, demo, task_id="task-9", run_id="run-1")
    assert later.declined == {"github"}
    assert later.reasons["github"] == "declined earlier in this run"
    assert len(prompter.requests) == 1

    next_run = await fulfil(broker, demo, task_id="task-10", run_id="run-2")
    assert revealed(next_run) == {"github": "ghp_shared"}
    assert len(prompter.requests) == 2


@pytest.mark.asyncio
async def test_unanswered_prompt_times_out_and_declines(services: Services, demo: AgentRecord) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    prompter = ScriptedPrompter(NEVER)
    broker = make_broker(services, prompter, prompt_timeout=0.05)

    result = await fulfil(broker, demo, [GITHUB, SLACK])

    assert result.values == {} and result.declined == {"github", "slack"} and result.timed_out
    assert prompter.cancelled == [prompter.requests[0].prompt_id]  # the broker withdrew the prompt
    timed = [e for e in services.audit.events() if e.decision == AuditDecision.TIMED_OUT]
    assert sorted(e.key or "" for e in timed) == ["github", "slack"]
    assert broker.pending_prompts == ()


@pytest.mark.asyncio
async def test_two_demands_of_one_run_share_one_prompt(services: Services, demo: AgentRecord) -> None:
    prompter = ScriptedPrompter(
        PromptAnswer.grant(
            GrantScope.TASK,
            {"github": NewValue(SecretValue("ghp_typed")), "slack": NewValue(SecretValue("xoxb_typed"))},
        )
    )
    broker = make_broker(services, prompter)

    result = await fulfil(broker, demo, [GITHUB, SLACK, GITHUB])

    assert revealed(result) == {"github": "ghp_typed", "slack": "xoxb_typed"}
    [request] = prompter.requests
    assert request.keys == ("github", "slack")
    assert all(item.stored is None and "no value stored" in item.reason for item in request.items)
    assert request.default_scope == GrantScope.TASK
    # Typed values become demo's own values, with only the chosen scope: no automatic ALWAYS grant.
    owned = services.catalog.list_secrets(owner="demo")
    assert sorted(r.key for r in owned) == ["github", "slack"]
    grants = services.catalog.list_grants(agent="demo")
    assert sorted((g.scope, g.task_id) for g in grants) == [(GrantScope.TASK, "task-1")] * 2
    assert services.vault.get(owned[0].secret_id) is not None


@pytest.mark.asyncio
async def test_two_hundred_concurrent_runs_see_one_prompt(services: Services, demo: AgentRecord) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    gate = asyncio.Event()
    prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.TASK), gate=gate)
    broker = make_broker(services, prompter)

    runs = [
        asyncio.create_task(fulfil(broker, demo, task_id=f"task-{n}", run_id=f"run-{n}")) for n in range(200)
    ]
    await prompter.wait_for_requests(1)
    await asyncio.sleep(0.01)
    assert len(broker.pending_prompts) == 1
    gate.set()
    results = await asyncio.gather(*runs)

    assert len(prompter.requests) == 1
    assert all(revealed(r) == {"github": "ghp_shared"} for r in results)
    events = services.audit.events()
    assert sum(e.decision == AuditDecision.GRANTED for e in events) == 1
    released = [e for e in events if e.decision == AuditDecision.RELEASED]
    assert sorted(e.task_id or "" for e in released) == sorted(f"task-{n}" for n in range(200))
    # The one grant is bound to the task of the run that opened the prompt.
    [grant] = services.catalog.list_grants(agent="demo")
    assert grant.task_id == prompter.requests[0].task_id


class CountingPrompter(ScriptedPrompter):
    """A prompter that is also told how many runs wait on each prompt (the dialog shows it)."""

    def __init__(self, *answers: Any, **kwargs: Any) -> None:
        super().__init__(*answers, **kwargs)
        self.waiters: dict[str, list[int]] = {}

    def waiters_changed(self, prompt_id: str, waiters: int) -> None:
        self.waiters.setdefault(prompt_id, []).append(waiters)


@pytest.mark.asyncio
async def test_the_prompter_hears_how_many_runs_wait_on_its_prompt(
    services: Services, demo: AgentRecord
) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    gate = asyncio.Event()
    prompter = CountingPrompter(PromptAnswer.grant(GrantScope.TASK), gate=gate)
    broker = make_broker(services, prompter)
    runs = [
        asyncio.create_task(fulfil(broker, demo, task_id=f"task-{n}", run_id=f"run-{n}")) for n in range(5)
    ]
    [request] = await prompter.wait_for_requests(1)
    for _ in range(100):
        if prompter.waiters.get(request.prompt_id, [0])[-1] == 5:
            break
        await asyncio.sleep(0)
    assert prompter.waiters[request.prompt_id][-1] == 5
    runs[0].cancel()  # one client gives up: one fewer waits on the answer
    with pytest.raises(asyncio.CancelledError):
        await runs[0]
    assert prompter.waiters[request.prompt_id][-1] == 4
    gate.set()
    results = await asyncio.gather(*runs[1:])
    assert all(revealed(r) == {"github": "ghp_shared"} for r in results)


@pytest.mark.asyncio
async def test_once_grant_is_spent(services: Services, demo: AgentRecord) -> None:
    shared = services.secrets.set("github", SecretValue("ghp_shared")).record
    prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.ONCE), PromptAnswer.deny())
    broker = make_broker(services, prompter)

    assert revealed(await fulfil(broker, demo)) == {"github": "ghp_shared"}
    assert services.catalog.list_grants(agent="demo") == []  # a prompt's once is spent right away
    assert (await fulfil(broker, demo)).declined == {"github"}
    assert len(prompter.requests) == 2

    # A stored ONCE grant (given elsewhere) covers exactly one release.
    clock = services.catalog.clock
    services.catalog.add_grant(
        make_grant(agent=demo, secret=shared, scope=GrantScope.ONCE, now=clock.now(), grant_id=new_grant_id())
    )
    assert revealed(await fulfil(broker, demo, run_id="r3")) == {"github": "ghp_shared"}
    assert services.catalog.list_grants(agent="demo") == []
    assert services.audit.events()[-1].detail == "runtime: once grant spent"


@pytest.mark.asyncio
async def test_task_grant_is_reused_within_the_task_only(
    services: Services, demo: AgentRecord, vault: CountingVault
) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.TASK), PromptAnswer.deny())
    broker = make_broker(services, prompter, vault)

    assert revealed(await fulfil(broker, demo, task_id="t1")) == {"github": "ghp_shared"}
    reads = vault.reads
    assert revealed(await fulfil(broker, demo, task_id="t1", run_id="again")) == {"github": "ghp_shared"}
    assert vault.reads == reads  # served from the cache
    assert len(prompter.requests) == 1

    outside = await fulfil(broker, demo, task_id="t2")
    assert outside.declined == {"github"}
    assert "another task" in prompter.requests[1].item("github").reason


@pytest.mark.asyncio
async def test_preflight_task_grant_follows_the_run_to_its_task(
    services: Services, demo: AgentRecord
) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.TASK))
    broker = make_broker(services, prompter)

    pre = await fulfil(broker, demo, phase="preflight", task_id=None, context_id=None, run_id="run-7")
    assert revealed(pre) == {"github": "ghp_shared"}
    assert (
        GrantScope.TASK in prompter.requests[0].scopes
        and prompter.requests[0].default_scope == GrantScope.TASK
    )

    runtime = await fulfil(broker, demo, task_id="task-77", context_id="ctx-77", run_id="run-7")
    assert revealed(runtime) == {"github": "ghp_shared"}
    [grant] = services.catalog.list_grants(agent="demo")
    assert grant.task_id == "task-77"
    assert len(prompter.requests) == 1


@pytest.mark.asyncio
async def test_preflight_without_any_id_offers_no_task_scope(services: Services, demo: AgentRecord) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.TASK))
    broker = make_broker(services, prompter)
    result = await fulfil(broker, demo, phase="preflight", task_id=None, context_id=None)
    request = prompter.requests[0]
    assert GrantScope.TASK not in request.scopes and GrantScope.CONVERSATION not in request.scopes
    assert request.default_scope == GrantScope.ONCE
    assert revealed(result) == {"github": "ghp_shared"}  # narrowed to once, not refused
    assert services.catalog.list_grants(agent="demo") == []
    granted = [e for e in services.audit.events() if e.decision == AuditDecision.GRANTED]
    assert granted[-1].scope == "once" and "not offered" in (granted[-1].detail or "")


@pytest.mark.asyncio
async def test_minutes_grant_ends_with_the_clock(
    services: Services, demo: AgentRecord, clock: FakeClock, vault: CountingVault
) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.MINUTES, minutes=10), PromptAnswer.deny())
    broker = make_broker(services, prompter, vault)

    await fulfil(broker, demo, task_id="a")
    clock.advance(9 * 60)
    assert revealed(await fulfil(broker, demo, task_id="b")) == {"github": "ghp_shared"}
    assert len(prompter.requests) == 1 and "cached=1" in repr(broker)

    clock.advance(61)
    assert (await fulfil(broker, demo, task_id="c")).declined == {"github"}
    assert len(prompter.requests) == 2
    assert "expired" in prompter.requests[1].item("github").reason
    assert "cached=0" in repr(broker)


@pytest.mark.asyncio
async def test_bad_minutes_store_nothing(services: Services, demo: AgentRecord) -> None:
    answer = PromptAnswer.grant(GrantScope.MINUTES, {"slack": NewValue(SecretValue("xoxb"))}, minutes=0)
    result = await fulfil(make_broker(services, ScriptedPrompter(answer)), demo, [SLACK])
    assert result.declined == {"slack"} and "minutes" in result.reasons["slack"]
    assert services.catalog.list_secrets() == [] and services.catalog.list_grants() == []


@pytest.mark.asyncio
async def test_changed_card_suspends_grants_and_the_prompt_says_so(
    services: Services, demo: AgentRecord, cards: CardServer
) -> None:
    own = services.secrets.set("github", SecretValue("ghp_owned"), owner="demo").record
    cards.cards[DEMO_URL] = make_card("Demo Agent v2", demands={"github": {"name": "GitHub token"}})
    changed = services.agents.refresh("demo").agent
    prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.ALWAYS))
    broker = make_broker(services, prompter)

    result = await fulfil(broker, changed)

    assert revealed(result) == {"github": "ghp_owned"}
    [request] = prompter.requests
    assert request.card_changed and request.item("github").card_changed
    assert "changed" in request.item("github").reason
    assert not request.first_contact
    assert request.item("github").stored == own
    assert revealed(await fulfil(broker, changed)) == {"github": "ghp_owned"}
    assert len(prompter.requests) == 1  # confirmed for the new card


@pytest.mark.asyncio
async def test_value_stored_for_another_agent_is_offered_naming_both(
    services: Services, demo: AgentRecord, other: AgentRecord
) -> None:
    theirs = services.secrets.set("github", SecretValue("ghp_other"), owner="other").record
    prompter = ScriptedPrompter(
        lambda req: PromptAnswer.grant(
            GrantScope.CONVERSATION, {"github": UseOffered(req.item("github").offers[0].secret_id)}
        )
    )
    broker = make_broker(services, prompter)

    result = await fulfil(broker, demo)

    assert revealed(result) == {"github": "ghp_other"}
    item = prompter.requests[0].item("github")
    assert item.stored is None and item.offers == (theirs,)
    assert "other" in item.reason and "demo" in item.reason
    [grant] = services.catalog.list_grants(agent="demo")
    assert (grant.secret_id, grant.scope, grant.context_id) == (
        theirs.secret_id,
        GrantScope.CONVERSATION,
        "ctx-1",
    )
    assert revealed(await fulfil(broker, demo, task_id="t-next")) == {"github": "ghp_other"}


@pytest.mark.asyncio
async def test_an_offer_the_prompt_did_not_make_is_refused(services: Services, demo: AgentRecord) -> None:
    shared = services.secrets.set("github", SecretValue("ghp_shared")).record
    prompter = ScriptedPrompter(
        PromptAnswer.grant(GrantScope.ALWAYS, {"github": UseOffered(shared.secret_id)})
    )
    result = await fulfil(make_broker(services, prompter), demo)
    assert result.declined == {"github"} and "not one the prompt offered" in result.reasons["github"]


@pytest.mark.asyncio
async def test_typed_value_replaces_the_agents_own_and_the_cache(
    services: Services, demo: AgentRecord, cards: CardServer
) -> None:
    own = services.secrets.set("github", SecretValue("ghp_old"), owner="demo").record
    broker = make_broker(
        services,
        ScriptedPrompter(PromptAnswer.grant(GrantScope.ALWAYS, {"github": NewValue(SecretValue("ghp_new"))})),
    )
    assert revealed(await fulfil(broker, demo)) == {"github": "ghp_old"}  # cached under the owner grant

    cards.cards[DEMO_URL] = make_card("Demo Agent v2", demands={"github": {"name": "GitHub token"}})
    changed = services.agents.refresh("demo").agent
    assert revealed(await fulfil(broker, changed)) == {"github": "ghp_new"}
    assert services.catalog.list_secrets(owner="demo") == [services.catalog.get_secret(own.secret_id)]
    assert services.vault.get(own.secret_id) == SecretValue("ghp_new")
    assert revealed(await fulfil(broker, changed, task_id="t9")) == {"github": "ghp_new"}


@pytest.mark.asyncio
async def test_skipped_item_is_declined_while_the_other_is_released(
    services: Services, demo: AgentRecord
) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.ONCE, {"slack": SkipItem()}))
    result = await fulfil(make_broker(services, prompter), demo, [GITHUB, SLACK], run_id="r")
    assert revealed(result) == {"github": "ghp_shared"} and result.declined == {"slack"}


@pytest.mark.asyncio
async def test_a_failing_prompter_declines(services: Services, demo: AgentRecord) -> None:
    def boom(request: PromptRequest) -> PromptAnswer:
        raise RuntimeError("dialog crashed")

    services.secrets.set("github", SecretValue("ghp_shared"))
    result = await fulfil(make_broker(services, ScriptedPrompter(boom)), demo)
    assert result.declined == {"github"} and "failed (RuntimeError)" in result.reasons["github"]


@pytest.mark.asyncio
async def test_a_prompter_own_timeout_is_a_failure_not_an_unanswered_prompt(
    services: Services, demo: AgentRecord
) -> None:
    def slow_backend(request: PromptRequest) -> PromptAnswer:
        raise TimeoutError("the dialog backend timed out")

    services.secrets.set("github", SecretValue("ghp_shared"))
    result = await fulfil(make_broker(services, ScriptedPrompter(slow_backend)), demo)
    assert result.declined == {"github"} and not result.timed_out
    assert services.audit.events()[-1].decision == AuditDecision.DENIED


@pytest.mark.asyncio
async def test_declining_prompter_releases_only_what_is_granted(
    services: Services, demo: AgentRecord
) -> None:
    services.secrets.set("github", SecretValue("ghp_owned"), owner="demo")
    services.secrets.set("slack", SecretValue("xoxb_shared"))
    broker = Broker.from_services(services, DecliningPrompter("deny-unknown mode"))
    result = await fulfil(broker, demo, [GITHUB, SLACK], run_id="r")
    assert revealed(result) == {"github": "ghp_owned"} and result.declined == {"slack"}
    assert services.audit.events()[-1].detail == "deny-unknown mode"


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        BrokerConfig(prompt_timeout=0)
    with pytest.raises(ValueError):
        BrokerConfig(unanswered_limit=0)


@pytest.mark.asyncio
async def test_prompt_is_withdrawn_when_its_only_run_goes_away(services: Services, demo: AgentRecord) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    prompter = ScriptedPrompter(NEVER)
    broker = make_broker(services, prompter)
    run = asyncio.create_task(fulfil(broker, demo))
    [request] = await prompter.wait_for_requests(1)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    for _ in range(100):
        if prompter.cancelled:
            break
        await asyncio.sleep(0)
    assert prompter.cancelled == [request.prompt_id]
    assert broker.pending_prompts == ()


# Cooldown --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cooldown_after_two_unanswered_prompts(
    services: Services, demo: AgentRecord, other: AgentRecord, clock: FakeClock
) -> None:
    services.secrets.set("github", SecretValue("ghp_shared"))
    notifier = RecordingNotifier()
    prompter = ScriptedPrompter(
        NEVER, NEVER, PromptAnswer.grant(GrantScope.ONCE), PromptAnswer.grant(GrantScope.ONCE)
    )
    broker = make_broker(services, prompter, notifier=notifier, prompt_timeout=0.02, cooldown_seconds=300)

    assert (await fulfil(broker, demo, run_id="r1")).timed_out
    assert notifier.notices == []
    assert (await fulfil(broker, demo, run_id="r2")).timed_out
    assert len(notifier.notices) == 1 and "Demo Agent" in notifier.notices[0][1]

    quiet = await fulfil(broker, demo, run_id="r3")
    assert quiet.declined == {"github"} and not quiet.timed_out
    assert services.audit.events()[-1].detail == "cooldown"
    assert len(prompter.requests) == 2 and len(notifier.notices) == 1
    assert broker.cooldown_until("demo") == pytest.approx(clock.now() + 300)

    # Another agent is not affected; granted values still flow during the cooldown.
    assert revealed(await fulfil(broker, other, run_id="r4")) == {"github": "ghp_shared"}
    services.secrets.set("slack", SecretValue("xoxb_owned"), owner="demo")
    assert revealed(await fulfil(broker, demo, [SLACK], run_id="r5")) == {"slack": "xoxb_owned"}

    clock.advance(301)
    assert revealed(await fulfil(broker, demo, run_id="r6")) == {"github": "ghp_shared"}
    assert broker.cooldown_until("demo") is None


# Lock, forget, cache -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_lock_clears_cached_values_and_grants_short_of_always(
    services: Services, demo: AgentRecord, vault: CountingVault
) -> None:
    services.secrets.set("slack", SecretValue("xoxb_owned"), owner="demo")
    services.secrets.set("github", SecretValue("ghp_shared"))
    prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.UNTIL_LOCK), PromptAnswer.deny())
    broker = make_broker(services, prompter, vault)

    assert revealed(await fulfil(broker, demo, [GITHUB, SLACK])) == {
        "github": "ghp_shared",
        "slack": "xoxb_owned",
    }
    assert "cached=2" in repr(broker)

    ended = broker.lock(caller="cli")

    assert [g.scope for g in ended] == [GrantScope.UNTIL_LOCK]
    assert [g.scope for g in services.catalog.list_grants(agent="demo")] == [GrantScope.ALWAYS]
    assert "cached=0" in repr(broker)
    assert services.audit.events()[-1].decision == AuditDecision.LOCKED
    reads = vault.reads
    after = await fulfil(broker, demo, [GITHUB, SLACK], run_id="after-lock")
    assert revealed(after) == {"slack": "xoxb_owned"} and after.declined == {"github"}
    assert vault.reads == reads + 1  # the owned value came from the vault again
    assert len(prompter.requests) == 2


def test_lock_tells_its_listeners_even_when_one_fails(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    broker = make_broker(services, ScriptedPrompter())
    heard: list[str] = []

    def failing() -> None:
        raise RuntimeError("listener broke")

    broker.on_lock(lambda: heard.append("first"))
    broker.on_lock(failing)
    broker.on_lock(lambda: heard.append("last"))
    with caplog.at_level(logging.WARNING, logger="keybroker.broker"):
        broker.lock(caller="cli")
        broker.lock(caller="idle-lock")
    assert heard == ["first", "last", "first", "last"]
    assert "lock listener failed: RuntimeError" in caplog.text


@pytest.mark.asyncio
async def test_a_lock_whose_catalog_write_fails_still_drops_every_value(
    services: Services, demo: AgentRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk makes ending the grants fail: the error reaches the caller, the values are gone."""
    from keybroker.core.errors import CatalogError

    services.secrets.set("slack", SecretValue("xoxb_owned"), owner="demo")
    broker = make_broker(services, ScriptedPrompter())
    heard: list[str] = []
    broker.on_lock(lambda: heard.append("dropped"))
    assert revealed(await fulfil(broker, demo, [SLACK])) == {"slack": "xoxb_owned"}
    assert "cached=1" in repr(broker)

    def full_disk(*, caller: str | None = None) -> list[object]:
        raise CatalogError("database or disk is full")

    monkeypatch.setattr(services.grants, "lock", full_disk)
    with pytest.raises(CatalogError):
        broker.lock(caller="idle-lock")
    assert "cached=0" in repr(broker) and heard == ["dropped"]


@pytest.mark.asyncio
async def test_a_failed_lock_still_ends_the_grants_short_of_always(
    services: Services, demo: AgentRecord, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grants stay in the catalog (its write failed), but none short of ALWAYS releases again."""
    from keybroker.core.errors import CatalogError

    services.secrets.set("slack", SecretValue("xoxb_owned"), owner="demo")  # ALWAYS, its owner's
    services.secrets.set("github", SecretValue("ghp_shared"))
    prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.UNTIL_LOCK), PromptAnswer.deny())
    broker = make_broker(services, prompter)
    assert revealed(await fulfil(broker, demo, [GITHUB, SLACK])) == {
        "github": "ghp_shared",
        "slack": "xoxb_owned",
    }

    def full_disk(*, caller: str | None = None) -> list[object]:
        raise CatalogError("database or disk is full")

    clock.advance(1)
    with monkeypatch.context() as patch:
        patch.setattr(services.grants, "lock", full_disk)
        with pytest.raises(CatalogError):
            broker.lock(caller="idle-lock")
    assert any(g.scope is GrantScope.UNTIL_LOCK for g in services.catalog.list_grants(agent="demo"))
    clock.advance(1)
    after = await fulfil(broker, demo, [GITHUB, SLACK], run_id="after-failed-lock")
    assert revealed(after) == {"slack": "xoxb_owned"} and after.declined == {"github"}
    assert len(prompter.requests) == 2  # asked again, and denied


@pytest.mark.asyncio
async def test_forget_drops_a_changed_value_from_the_cache(services: Services, demo: AgentRecord) -> None:
    rec = services.secrets.set("github", SecretValue("ghp_one"), owner="demo").record
    broker = make_broker(services, ScriptedPrompter())
    assert revealed(await fulfil(broker, demo)) == {"github": "ghp_one"}
    services.secrets.update(rec, value=SecretValue("ghp_two"))
    assert revealed(await fulfil(broker, demo)) == {"github": "ghp_one"}  # cached: the store said nothing
    broker.forget(rec.secret_id)
    assert revealed(await fulfil(broker, demo)) == {"github": "ghp_two"}


@pytest.mark.asyncio
async def test_invalid_demand_key_is_declined(services: Services, demo: AgentRecord) -> None:
    prompter = ScriptedPrompter()
    bad = SecretDemand("bad\nkey", "Bad")
    result = await fulfil(make_broker(services, prompter), demo, [bad])
    assert result.declined == {"bad\nkey"} and prompter.requests == []
    assert services.audit.events()[-1].key is None


# No value where it does not belong -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_canary_never_leaks(
    services: Services, demo: AgentRecord, other: AgentRecord, caplog: pytest.LogCaptureFixture
) -> None:
    canary_stored = "CANARY-stored-8d1f0c"
    canary_typed = "CANARY-typed-27b9e4"
    caplog.set_level(logging.DEBUG, logger="keybroker")
    services.secrets.set("github", SecretValue(canary_stored), owner="other")
    answers: list[Scripted] = [
        PromptAnswer.grant(
            GrantScope.TASK,
            {"slack": NewValue(SecretValue(canary_typed))},
        ),
        lambda req: PromptAnswer.grant(
            GrantScope.ONCE, {"github": UseOffered(req.item("github").offers[0].secret_id)}
        ),
        NEVER,
    ]
    prompter = ScriptedPrompter(*answers)
    broker = make_broker(services, prompter, prompt_timeout=0.02)

    results = [
        await fulfil(broker, demo, [SLACK]),
        await fulfil(broker, demo, [GITHUB, SLACK]),
        await fulfil(broker, other, [GITHUB]),
        await fulfil(broker, demo, [GITHUB], task_id="t-x"),
    ]
    assert revealed(results[1]) == {"github": canary_stored, "slack": canary_typed}

    shown = [
        repr(broker),
        repr(broker._desk),
        *map(repr, results),
        *map(str, results),
        repr(prompter.requests),
        repr(answers[0]),
        repr(services.audit.events()),
        caplog.text,
    ]
    shown += [str(e.to_json()) for e in services.audit.events()]
    shown += [repr(dataclasses.asdict(r)) for r in prompter.requests]
    for text in shown:
        assert canary_stored not in text and canary_typed not in text
    db = services.paths.catalog_db.read_bytes()
    wal = services.paths.catalog_db.with_name(services.paths.catalog_db.name + "-wal")
    for blob in (db, wal.read_bytes() if wal.exists() else b""):
        assert canary_stored.encode() not in blob and canary_typed.encode() not in blob
