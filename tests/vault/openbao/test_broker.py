# SPDX-License-Identifier: Apache-2.0
"""The broker over a real OpenBao: a team's secret is released under the shared rules (a prompt per agent
the first time), and with OpenBao gone, values already granted and cached keep serving until their
grants end while nothing else is released."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from keybroker.core.broker.prompts import PromptAnswer
from keybroker.core.models import GrantScope, SecretValue
from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.wiring.services import Services, open_services
from tests.core.broker.test_broker import SLACK, add_agent, fulfil, make_broker, revealed
from tests.core.conftest import CardServer
from tests.fakes import FakeClock, RecordingNotifier, ScriptedPrompter
from tests.peers import openbao
from tests.peers.openbao import DevServer
from tests.vault.openbao.conftest import backend_for, kv_put, vault_for

DEMO_URL = "http://127.0.0.1:9001"
OTHER_URL = "http://127.0.0.1:9002"


def _services(
    tmp_path: Path, config: OpenBaoConfig, token: str, clock: FakeClock, cards: CardServer
) -> Services:
    return open_services(
        environ={"KEYBROKER_HOME": str(tmp_path / "home")},
        vault=vault_for(backend_for(config, token)),
        clock=clock,
        fetch=cards,
        long_running=True,  # as the app: the audit head is written off the release path
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.mark.asyncio
async def test_a_team_secret_is_released_like_a_shared_one(
    bao: DevServer, config: OpenBaoConfig, tmp_path: Path, clock: FakeClock
) -> None:
    team = f"t{uuid.uuid4().hex[:8]}"
    kv_put(bao, f"teams/{team}/github", value="team-github-token")
    cards = CardServer()
    services = _services(tmp_path, config.with_changes(teams=(team,)), bao.token, clock, cards)
    try:
        demo = add_agent(services, cards, DEMO_URL, "demo", "Demo Agent")
        other = add_agent(services, cards, OTHER_URL, "other", "Other Agent")
        assert services.secrets.sync_teams().added == (f"{team}/github",)
        prompter = ScriptedPrompter(
            PromptAnswer.grant(GrantScope.ALWAYS), PromptAnswer.grant(GrantScope.ONCE)
        )
        broker = make_broker(services, prompter)
        first = await fulfil(broker, demo)
        assert revealed(first) == {"github": "team-github-token"}
        assert f"team secret github (team {team}): first use by demo" in prompter.requests[0].items[0].reason
        again = await fulfil(broker, demo)  # granted always: no second prompt
        assert revealed(again) == {"github": "team-github-token"} and len(prompter.requests) == 1
        for_other = await fulfil(broker, other)  # another agent: its own first prompt
        assert revealed(for_other) == {"github": "team-github-token"} and len(prompter.requests) == 2
        # The user's own shared value wins over the team's from then on (and is asked for again).
        services.secrets.set("github", SecretValue("my-own-token"))
        prompter.queue(PromptAnswer.grant(GrantScope.ONCE))
        assert revealed(await fulfil(broker, demo)) == {"github": "my-own-token"}
    finally:
        services.close()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[DevServer]:
    with openbao.dev_server(workdir=tmp_path / "bao") as server:
        yield server


@pytest.mark.asyncio
async def test_cached_grants_keep_serving_while_openbao_is_down(
    own_server: DevServer, config: OpenBaoConfig, tmp_path: Path, clock: FakeClock
) -> None:
    config = config.with_changes(addresses=(own_server.url,), failover_seconds=1.0)
    cards = CardServer()
    services = _services(tmp_path, config, own_server.token, clock, cards)
    try:
        demo = add_agent(services, cards, DEMO_URL, "demo", "Demo Agent")
        services.secrets.set("github", SecretValue("shared-github"))
        services.secrets.set("slack", SecretValue("own-slack"), owner="demo")  # always-granted, never read
        prompter = ScriptedPrompter(PromptAnswer.grant(GrantScope.MINUTES, minutes=10))
        notices = RecordingNotifier()
        broker = make_broker(services, prompter, notifier=notices)
        assert revealed(await fulfil(broker, demo)) == {"github": "shared-github"}  # read once, cached

        own_server.server.stop()
        cached = await fulfil(broker, demo)
        assert revealed(cached) == {"github": "shared-github"}  # from memory: no vault trip, no error
        not_cached = await fulfil(broker, demo, (SLACK,))
        assert revealed(not_cached) == {}
        assert "cannot reach OpenBao" in not_cached.reasons["slack"]
        await fulfil(broker, demo, (SLACK,))  # the user is told once, not once per demand
        (title,) = [title for title, _ in notices.notices]
        assert title == "Keybroker: a value could not be read from the vault"

        clock.advance(11 * 60)  # the grant ends: so does the cached value
        prompter.queue(PromptAnswer.deny())
        ended = await fulfil(broker, demo)
        assert revealed(ended) == {} and len(prompter.requests) == 2
    finally:
        services.audit.close()
        services.catalog.close()
        services.vault.close()
