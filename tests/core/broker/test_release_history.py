# SPDX-License-Identifier: Apache-2.0
"""release_history.py: what was released to an agent, read back from the audit and the vault, and
whether that is all of it."""

from __future__ import annotations

import pytest

from keybroker.core.broker.broker import Broker
from keybroker.core.broker.prompts import PromptAnswer
from keybroker.core.errors import VaultError
from keybroker.core.models import AgentRecord, SecretValue
from keybroker.wiring.services import Services
from tests.core.broker.test_broker import DEMO_URL, GITHUB, OTHER_URL, SLACK, add_agent, fulfil, make_broker
from tests.core.conftest import CardServer
from tests.fakes import FakeClock, ScriptedPrompter

pytestmark = pytest.mark.asyncio

GITHUB_VALUE = "ghp_released_CANARY_0123"
SLACK_VALUE = "xoxb-released-CANARY-4567"


@pytest.fixture
def demo(services: Services, cards: CardServer) -> AgentRecord:
    return add_agent(services, cards, DEMO_URL, "demo", "Demo Agent")


@pytest.fixture
def other(services: Services, cards: CardServer) -> AgentRecord:
    return add_agent(services, cards, OTHER_URL, "other", "Other Agent")


@pytest.fixture
def broker(services: Services) -> Broker:
    return make_broker(services, ScriptedPrompter(default=PromptAnswer.deny("no prompt expected")))


async def _release_both(services: Services, broker: Broker, demo: AgentRecord, clock: FakeClock) -> None:
    services.secrets.set("github", SecretValue(GITHUB_VALUE), owner="demo")
    services.secrets.set("slack", SecretValue(SLACK_VALUE), owner="demo")
    clock.advance(1)
    result = await fulfil(broker, demo, (GITHUB, SLACK))
    assert set(result.values) == {"github", "slack"}
    clock.advance(1)


def _plain(values: object) -> set[str]:
    return {v.reveal() for v in values}  # type: ignore[attr-defined]


async def test_every_value_released_comes_back_from_the_vault(
    services: Services, broker: Broker, demo: AgentRecord, other: AgentRecord, clock: FakeClock
) -> None:
    assert (await broker.released_before("demo", limit=256)).complete  # nothing released yet
    await _release_both(services, broker, demo, clock)
    past = await broker.released_before("demo", limit=256)
    assert past.complete and past.problem is None
    assert _plain(past.values) == {GITHUB_VALUE, SLACK_VALUE}
    assert GITHUB_VALUE not in repr(past) and "2 values" in repr(past)
    assert (await broker.released_before("other", limit=256)).values == ()  # per agent
    # A metadata change is no value change: still complete.
    record = services.catalog.find_secret("github", "demo")
    assert record is not None
    services.secrets.update(record, name="renamed", description="new words")
    assert (await broker.released_before("demo", limit=256)).complete


async def test_a_value_replaced_since_its_release_makes_it_incomplete(
    services: Services, broker: Broker, demo: AgentRecord, clock: FakeClock
) -> None:
    await _release_both(services, broker, demo, clock)
    services.secrets.set("github", SecretValue("ghp_new_value_9999"), owner="demo")
    past = await broker.released_before("demo", limit=256)
    assert not past.complete and past.problem == "1 value(s) released to it were replaced since"
    assert GITHUB_VALUE not in str(past.problem)


async def test_a_value_replaced_before_its_first_release_changes_nothing(
    services: Services, broker: Broker, demo: AgentRecord, clock: FakeClock
) -> None:
    services.secrets.set("github", SecretValue("ghp_first_value_0000"), owner="demo")
    clock.advance(1)
    services.secrets.set("github", SecretValue(GITHUB_VALUE), owner="demo")
    clock.advance(1)
    await fulfil(broker, demo, (GITHUB,))
    past = await broker.released_before("demo", limit=256)
    assert past.complete and _plain(past.values) == {GITHUB_VALUE}


async def test_a_removed_value_an_unreadable_vault_or_too_many_make_it_incomplete(
    services: Services, broker: Broker, demo: AgentRecord, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _release_both(services, broker, demo, clock)
    assert not (await broker.released_before("demo", limit=1)).complete
    record = services.catalog.find_secret("slack", "demo")
    assert record is not None
    services.secrets.remove(record)
    past = await broker.released_before("demo", limit=256)
    assert not past.complete and "removed" in str(past.problem)
    assert _plain(past.values) == {GITHUB_VALUE}

    async def broken(account: str) -> SecretValue | None:
        raise VaultError("the vault is locked")

    monkeypatch.setattr(services.vault, "aget", broken)
    past = await broker.released_before("demo", limit=256)
    assert not past.complete and "could not be read (the vault is locked)" in str(past.problem)
