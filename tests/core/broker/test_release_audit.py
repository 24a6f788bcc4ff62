# SPDX-License-Identifier: Apache-2.0
"""Fail closed on the audit: no `released` event on the disk, no value out (the broker's side)."""

from __future__ import annotations

import pytest

from keybroker.core.broker.grant_rules import make_grant
from keybroker.core.errors import AuditWriteError
from keybroker.core.models import AgentRecord, AuditDecision, GrantScope, SecretValue
from keybroker.core.secrets.records import new_grant_id
from keybroker.wiring.services import Services
from tests.core.broker.test_broker import DEMO_URL, SLACK, add_agent, decisions, fulfil, make_broker
from tests.core.conftest import CardServer, fill_the_disk, free_the_disk
from tests.fakes import RecordingNotifier, ScriptedPrompter

CANARY = "ghp-CANARY-unaudited-77"


@pytest.fixture
def demo(services: Services, cards: CardServer) -> AgentRecord:
    return add_agent(services, cards, DEMO_URL, "demo", "Demo Agent")


@pytest.mark.asyncio
async def test_a_release_the_audit_cannot_record_raises_and_tells_the_tray_once(
    services: Services, demo: AgentRecord
) -> None:
    services.secrets.set("github", SecretValue(CANARY), owner="demo")
    notifier = RecordingNotifier()
    broker = make_broker(services, ScriptedPrompter(), notifier=notifier)
    uses = services.catalog.get_secret(services.catalog.list_secrets()[0].secret_id).use_count
    fill_the_disk(services)
    for _ in range(3):
        with pytest.raises(AuditWriteError) as err:
            await fulfil(broker, demo)
        assert "nothing was released" in err.value.message and "'github'" in err.value.message
        assert err.value.hint is not None and "disk" in err.value.hint
        assert CANARY not in str(err.value) + repr(err.value) + err.value.hint
    assert len(notifier.notices) == 1 and CANARY not in str(notifier.notices)
    assert AuditDecision.RELEASED not in decisions(services)
    assert services.audit.verify().ok

    free_the_disk(services)
    released = await fulfil(broker, demo)
    assert released.values["github"] == SecretValue(CANARY)
    assert decisions(services)[-1] is AuditDecision.RELEASED
    assert services.catalog.list_secrets()[0].use_count == uses + 1  # only the audited release counts
    fill_the_disk(services)
    with pytest.raises(AuditWriteError):
        await fulfil(broker, demo)
    assert len(notifier.notices) == 2  # a new failure after an audited release is told again


@pytest.mark.asyncio
async def test_a_once_grant_is_not_spent_by_a_release_that_could_not_be_audited(
    services: Services, demo: AgentRecord
) -> None:
    secret = services.secrets.set("slack", SecretValue(CANARY)).record  # shared: needs a grant
    now = services.catalog.clock.now()
    once = make_grant(agent=demo, secret=secret, scope=GrantScope.ONCE, now=now, grant_id=new_grant_id())
    services.catalog.add_grant(once)
    broker = make_broker(services, ScriptedPrompter())
    fill_the_disk(services)
    with pytest.raises(AuditWriteError):
        await fulfil(broker, demo, (SLACK,))
    free_the_disk(services)
    assert [g.grant_id for g in services.catalog.list_grants(agent="demo")] == [once.grant_id]
    assert (await fulfil(broker, demo, (SLACK,))).values["slack"] == SecretValue(CANARY)
    assert services.catalog.list_grants(agent="demo") == []  # spent now, by the audited release
