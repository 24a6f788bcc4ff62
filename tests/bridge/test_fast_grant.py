# SPDX-License-Identifier: Apache-2.0
"""The fast path on the real broker (issue 16): one broker call per granted send, decisions that read
the catalog only when it changed, and a revoke that holds for the very next send, whether it comes
from the admin path in this process or from the CLI in another.

A real a2a-sdk 1.x agent (scripted_agent.py) on a loopback port behind the real bridge, the real
broker over a real catalog and audit log, and a plain JSON-RPC client. The bridge looks its agent up as the
Runtime does (`RememberedAgents`). The catalog's SQLite statements are counted with
`set_trace_callback` (a count, never a time).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker import VAULT_SERVICE
from keybroker.core.bridge import BridgeApp
from keybroker.core.bridge.fast_path import PATH_ENV, FastPath
from keybroker.core.bridge.server import running_bridge
from keybroker.core.broker.broker import Broker
from keybroker.core.broker.prompts import PromptAnswer
from keybroker.core.catalog.agent_lookup import RememberedAgents
from keybroker.core.models import AgentRecord, AuditDecision, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.joining_client import leaks
from tests.bridge.scripted_agent import scripted_app, scripted_card
from tests.bridge.support import http_client, jsonrpc, message_v03, record_from_card
from tests.conftest import RunCli
from tests.core.broker.test_broker import make_broker
from tests.fakes import ScriptedPrompter
from tests.interop.conftest import free_port
from tests.vault import secret_service as rig_vault

VALUE = "FastGrant-CANARY-7c1e9a-Q2468wxy"
DEMANDS = {"k": {"name": "K"}}
_POLICY_READ = re.compile(r"\bFROM\s+(grants|secrets|agents)\b", re.IGNORECASE)


@pytest.fixture(autouse=True)
def _fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PATH_ENV, "fast")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


@dataclass
class Rig:
    client: httpx.AsyncClient
    app: BridgeApp
    broker: Broker
    prompter: ScriptedPrompter
    record: AgentRecord

    @property
    def fast(self) -> FastPath:
        fast = self.app._channels[(self.record.slug, False)].fast
        assert fast is not None
        return fast

    async def send(self, text: str = "leak") -> tuple[dict[str, Any], str]:
        body = jsonrpc("message/send", {"message": message_v03(text)})
        answer = await self.client.post(f"/agents/{self.record.slug}", json=body)
        assert answer.status_code == 200, answer.text
        return answer.json(), answer.text


@asynccontextmanager
async def _rig(services: Services) -> AsyncIterator[Rig]:
    """The scripted agent behind the bridge and the real broker; `k` stored for it (an ALWAYS grant)."""
    port = free_port()
    card = scripted_card(f"http://127.0.0.1:{port}", DEMANDS)
    async with running_bridge(scripted_app(card), port, shutdown_grace=0.5):
        record = record_from_card(agent_card_to_dict(card), "peer", url=f"http://127.0.0.1:{port}")
        services.catalog.upsert_agent(record)
        services.secrets.set("k", SecretValue(VALUE), owner=record.slug)
        prompter = ScriptedPrompter(default=PromptAnswer.deny("not now"))
        broker = make_broker(services, prompter)
        app = BridgeApp(RememberedAgents(services.catalog), broker, caller=None)  # as the Runtime does
        try:
            async with (
                running_bridge(app, 0) as bridge_port,
                http_client(base_url=f"http://127.0.0.1:{bridge_port}") as client,
            ):
                card_answer = await client.get(f"/agents/{record.slug}/.well-known/agent-card.json")
                assert card_answer.status_code == 200
                yield Rig(client, app, broker, prompter, record)
        finally:
            await app.aclose()


def _released(services: Services) -> int:
    return sum(1 for e in services.audit.events() if e.decision is AuditDecision.RELEASED)


@pytest.mark.asyncio
async def test_granted_sends_read_no_grant_secret_or_agent_row_after_the_first(services: Services) -> None:
    statements: list[str] = []
    async with _rig(services) as rig:
        services.catalog._conn.set_trace_callback(statements.append)
        per_send: list[list[str]] = []
        for _ in range(4):
            statements.clear()
            payload, body = await rig.send()
            per_send.append(list(statements))
            assert leaks(VALUE, [payload], body) == []
        services.catalog._conn.set_trace_callback(None)
        assert rig.fast.served == 4
    assert rig.prompter.requests == []
    reads = [[s for s in sent if _POLICY_READ.search(s)] for sent in per_send]
    assert reads[1:] == [[], [], []], reads
    # The same statements for every send in the steady state: the data_version check and the audit's
    # one transaction (the released event and the use count), nothing growing with the sends.
    assert len({len(sent) for sent in per_send[1:]}) == 1, per_send
    assert _released(services) == 4
    assert services.catalog.list_secrets(key="k")[0].use_count == 4
    assert services.audit.verify().ok


@pytest.mark.asyncio
async def test_a_revoke_through_the_admin_path_holds_for_the_next_send(services: Services) -> None:
    async with _rig(services) as rig:
        await rig.send()
        assert (rig.fast.served, _released(services)) == (1, 1)
        (grant,) = services.catalog.list_grants(agent=rig.record.slug)
        services.grants.revoke(grant.grant_id)
        payload, body = await rig.send()
        assert rig.fast.served == 1  # the full path took it, and asked
        assert [r.agent.slug for r in rig.prompter.requests] == [rig.record.slug]
    assert _released(services) == 1
    assert VALUE not in body and leaks(VALUE, [payload], body) == []


@pytest.mark.asyncio
async def test_a_revoke_landing_while_a_release_waits_for_the_vault_releases_nothing(
    services: Services,
) -> None:
    """The window the one call closes: decided, then the vault read, then a revoke, then the record."""
    async with _rig(services) as rig:
        (grant,) = services.catalog.list_grants(agent=rig.record.slug)
        vault = services.vault
        reading = asyncio.Event()
        go_on = asyncio.Event()
        real_aget = vault.aget

        async def slow_aget(account: str) -> SecretValue | None:
            reading.set()
            await go_on.wait()
            return await real_aget(account)

        vault.aget = slow_aget  # type: ignore[method-assign]
        try:
            sending = asyncio.ensure_future(rig.send())
            await asyncio.wait_for(reading.wait(), 30)
            services.grants.revoke(grant.grant_id)
            go_on.set()
            payload, body = await sending
        finally:
            vault.aget = real_aget  # type: ignore[method-assign]
        assert rig.fast.served == 0
        assert [r.agent.slug for r in rig.prompter.requests] == [rig.record.slug]
    assert _released(services) == 0
    assert VALUE not in body and leaks(VALUE, [payload], body) == []
    assert services.audit.verify().ok


@pytest.mark.asyncio
async def test_concurrent_granted_sends_share_commits_and_every_release_is_in_the_chain(
    services: Services,
) -> None:
    sends = 24
    async with _rig(services) as rig:
        await rig.send()  # the first reads the catalog and the vault
        group = rig.broker._group
        before = group.commits
        answers = await asyncio.gather(*(rig.send() for _ in range(sends)))
        commits = group.commits - before
        assert rig.fast.served == sends + 1
    for payload, body in answers:
        assert leaks(VALUE, [payload], body) == []
    assert _released(services) == sends + 1
    assert services.catalog.list_secrets(key="k")[0].use_count == sends + 1
    assert 1 <= commits < sends, commits  # batched: fewer transactions than releases
    assert services.audit.verify().ok


@pytest.fixture
def system(monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """Services over the rig's real Secret Service, emptied first: what the CLI in another process opens."""
    rig_vault.delete_all(VAULT_SERVICE)
    monkeypatch.setenv("KEYBROKER_VAULT", "system")
    svc = open_services(environ=dict(os.environ))
    yield svc
    svc.close()


async def _released_twice(rig: Rig, system: Services) -> None:
    await rig.send()
    await rig.send()
    assert (rig.fast.served, _released(system)) == (2, 2)


async def _nothing_more_released(
    system: Services, run_cli: RunCli, payload: dict[str, Any], body: str
) -> None:
    """Still the first two releases only, nothing of the value in the last answer, and the audit chain
    (its head in the real vault) verified by the CLI."""
    assert _released(system) == 2
    assert VALUE not in body and leaks(VALUE, [payload], body) == []
    system.audit.flush()
    verified = await asyncio.to_thread(run_cli, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.secret_service
@pytest.mark.asyncio
async def test_a_revoke_by_the_cli_in_another_process_holds_for_the_next_send(
    run_cli: RunCli, system: Services
) -> None:
    """The CLI revokes between two sends; the audit chain (head in the real vault) verifies after."""
    async with _rig(system) as rig:
        await _released_twice(rig, system)
        (grant,) = system.catalog.list_grants(agent=rig.record.slug)
        revoked = await asyncio.to_thread(run_cli, "grants", "revoke", grant.grant_id)
        assert revoked.returncode == 0, revoked.stderr
        payload, body = await rig.send()
        assert rig.fast.served == 2
        assert [r.agent.slug for r in rig.prompter.requests] == [rig.record.slug]
        await asyncio.gather(*(rig.send() for _ in range(3)))  # prompted (denied) each, none released
    await _nothing_more_released(system, run_cli, payload, body)


@pytest.mark.secret_service
@pytest.mark.asyncio
async def test_a_secret_removed_by_the_cli_in_another_process_is_not_released_from_memory(
    run_cli: RunCli, system: Services
) -> None:
    """The value is cached after the first sends and the decision remembered; the CLI removes the
    secret (record and vault value) between two sends: the next one releases nothing."""
    async with _rig(system) as rig:
        await _released_twice(rig, system)
        removed = await asyncio.to_thread(run_cli, "secrets", "rm", "k", "--agent", rig.record.slug)
        assert removed.returncode == 0, removed.stderr
        assert system.catalog.list_secrets(key="k") == []
        payload, body = await rig.send()
        assert rig.fast.served == 2
        assert [r.agent.slug for r in rig.prompter.requests] == [rig.record.slug]
    await _nothing_more_released(system, run_cli, payload, body)
