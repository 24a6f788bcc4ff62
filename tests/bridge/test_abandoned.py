# SPDX-License-Identifier: Apache-2.0
"""Clients that go away: their upstream request and their prompt go with them (issue 12, item 7).

A real bridge on a real port, a real agent on another (the scripted agent, in-process, over sockets),
the real broker over a memory vault with a scripted prompter, and raw socket clients that send a
request and close the connection before the answer comes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from keybroker.core.bridge.limits import UpstreamLimits
from keybroker.core.broker.prompts import NewValue, PromptAnswer
from keybroker.core.models import AuditDecision, GrantScope, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.live_agent import bridge, scripted_agent
from tests.bridge.support import jsonrpc, message_v03, message_v10
from tests.core.broker.test_broker import make_broker
from tests.fakes import NEVER, ScriptedPrompter

CANARY = "gone-CANARY-7f3a91c2"


@asynccontextmanager
async def sent(
    base: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> AsyncIterator[None]:
    """POST `body` on a raw connection, which is closed, unread, when the block ends."""
    host_port = base.removeprefix("http://")
    payload = json.dumps(body).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host_port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
        "",
        "",
    ]
    host, port = host_port.split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write("\r\n".join(lines).encode() + payload)
        await writer.drain()
        yield
    finally:
        writer.close()
        await writer.wait_closed()


async def send_and_leave(
    base: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    """POST `body` on a raw connection, then close it at once without reading the answer."""
    async with sent(base, path, body, headers):
        pass


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait until `condition()` holds (fails the test after `timeout` seconds)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


#: (path, body, headers) of a blocking send that creates a task, in each binding the bridge serves.
SENDS: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
    "jsonrpc-0.3": ("/agents/peer", jsonrpc("message/send", {"message": message_v03("hello")}), {}),
    "jsonrpc-1.0": (
        "/agents/peer",
        jsonrpc("SendMessage", {"message": message_v10("hello")}),
        {"A2A-Version": "1.0"},
    ),
    "stream-0.3": ("/agents/peer", jsonrpc("message/stream", {"message": message_v03("hello")}), {}),
    "rest-1.0": ("/agents/peer/message:send", {"message": message_v10("hello")}, {"A2A-Version": "1.0"}),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", list(SENDS))
async def test_a_client_that_goes_away_withdraws_its_prompt_and_nothing_is_released(
    services: Services, binding: str
) -> None:
    prompter = ScriptedPrompter(default=NEVER)
    broker = make_broker(services, prompter)
    async with scripted_agent({"token": {"name": "Token"}}) as agent:
        services.catalog.upsert_agent(agent.record)
        async with bridge(agent, broker) as base:
            path, body, headers = SENDS[binding]
            async with sent(base, path, body, headers):
                asked = await prompter.wait_for_requests(1)
            await until(lambda: not broker.pending_prompts)
    assert prompter.cancelled == [asked[0].prompt_id]
    assert agent.counter.now == 0
    decisions = [e.decision for e in services.audit.events()]
    assert AuditDecision.RELEASED not in decisions and AuditDecision.GRANTED not in decisions
    assert services.catalog.list_grants() == []


@pytest.mark.asyncio
async def test_a_shared_prompt_answered_after_one_waiter_left_releases_to_the_one_still_there(
    services: Services,
) -> None:
    gate = asyncio.Event()
    answer = PromptAnswer.grant(GrantScope.ONCE, {"token": NewValue(SecretValue(CANARY))})
    prompter = ScriptedPrompter(answer, gate=gate)
    broker = make_broker(services, prompter)
    async with scripted_agent({"token": {"name": "Token"}}) as agent:
        services.catalog.upsert_agent(agent.record)
        async with bridge(agent, broker) as base, httpx.AsyncClient(trust_env=False, timeout=30) as http:
            staying = asyncio.create_task(
                http.post(base + "/agents/peer", json=jsonrpc("message/send", {"message": message_v03("a")}))
            )
            await prompter.wait_for_requests(1)
            path, body, headers = SENDS["jsonrpc-0.3"]
            async with sent(base, path, body, headers):
                await asyncio.sleep(0.5)  # the leaver joins the open prompt...
            await asyncio.sleep(0.5)  # ...and leaves it: the prompt stays for the one still there
            assert len(broker.pending_prompts) == 1
            gate.set()
            response = await staying
    assert response.json()["result"]["status"]["state"] == "completed"
    assert CANARY not in response.text
    released = [e for e in services.audit.events() if e.decision is AuditDecision.RELEASED]
    assert len(released) == 1  # to the run still there; pre-flight, before the task had an id
    assert len(prompter.requests) == 1 and prompter.cancelled == []


@pytest.mark.asyncio
async def test_abandoned_blocking_sends_free_their_upstream_slots() -> None:
    """20 blocking sends to a slow agent, each client gone at once: a `tasks/get` still answers."""
    async with scripted_agent() as agent, bridge(agent, ScriptedSecrets()) as base:
        path, _, _ = SENDS["jsonrpc-0.3"]
        for _ in range(20):
            body = jsonrpc("message/send", {"message": message_v03("slow 600")})
            await send_and_leave(base, path, body)
        await asyncio.sleep(1.0)  # let the sends take what they would take
        async with httpx.AsyncClient(trust_env=False, timeout=15) as http:
            response = await http.post(base + path, json=jsonrpc("tasks/get", {"id": "no-such-task"}))
        await until(lambda: agent.counter.now == 0)  # and every upstream request was closed
    assert response.status_code == 200
    assert "error" in response.json()


@pytest.mark.asyncio
async def test_a_tasks_get_waits_for_a_busy_agents_slot_at_most_the_call_timeout() -> None:
    """Every slot taken by a client still there: the `tasks/get` is told the agent is busy, in time."""
    limits = UpstreamLimits(connections=2, call_timeout=2.0)
    async with (
        scripted_agent() as agent,
        bridge(agent, ScriptedSecrets(), limits=limits) as base,
        httpx.AsyncClient(trust_env=False, timeout=30) as http,
    ):
        body = jsonrpc("message/send", {"message": message_v03("slow 8")})
        busy = [asyncio.create_task(http.post(base + "/agents/peer", json=body)) for _ in range(2)]
        await until(lambda: agent.counter.now == 2)
        async with asyncio.timeout(15):
            get = jsonrpc("tasks/get", {"id": "no-such-task"})
            response = await http.post(base + "/agents/peer", json=get)
        await asyncio.gather(*busy)
    error = response.json()["error"]
    assert error["code"] == -32603 and "busy" in error["message"]
