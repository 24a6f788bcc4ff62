# SPDX-License-Identifier: Apache-2.0
"""handler.py tells a broker that follows tasks (`TaskWatch`) the ids a run learns and every terminal
state it forwards: from a blocking send, the last event of a stream, `tasks/get` and a cancel.

The agent is the in-process scripted a2a-sdk 1.x agent; the broker is the scripted fake plus the two
`TaskWatch` methods, recording the calls (the real broker's side is tests/core/test_task_grants.py,
both together against real agents tests/interop/test_task_grants_live.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.bridge import BridgeApp
from keybroker.core.bridge.ports import TaskWatch
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.scripted_agent import scripted_app, scripted_card
from tests.bridge.support import (
    SECRETS_URI,
    jsonrpc,
    message_v03,
    message_v10,
    record_from_card,
    sse_payloads,
)

BRIDGE = "http://127.0.0.1:7411"
AGENT = "http://127.0.0.1:10002"
V10 = {"A2A-Version": "1.0"}


@dataclass
class WatchingSecrets(ScriptedSecrets):
    """The scripted broker, also recording `bind_run` and `task_ended` (a `TaskWatch`)."""

    bound: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    ended: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    fail: bool = False

    def bind_run(self, run_id: str, *, task_id: str | None = None, context_id: str | None = None) -> int:
        self.bound.append((run_id, task_id, context_id))
        return 0

    def task_ended(
        self, agent_slug: str, task_id: str, *, state: str, run_id: str | None = None
    ) -> Sequence[object]:
        self.ended.append((agent_slug, task_id, state, run_id))
        if self.fail:
            raise RuntimeError("the catalog is locked")
        return []


@dataclass
class Rig:
    client: httpx.AsyncClient
    secrets: WatchingSecrets

    async def rpc(self, method: str, params: dict[str, Any], **kw: Any) -> Any:
        response = await self.client.post("/agents/peer", json=jsonrpc(method, params), **kw)
        assert response.status_code == 200, response.text
        return response.json()

    async def stream(self, method: str, params: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
        response = await self.client.post("/agents/peer", json=jsonrpc(method, params), **kw)
        assert response.status_code == 200, response.text
        return sse_payloads(response.text)

    @property
    def run_ids(self) -> set[str]:
        return {c.run_id for c in self.secrets.calls if c.run_id}


@asynccontextmanager
async def rig(values: dict[str, str] | None = None, **options: Any) -> AsyncIterator[Rig]:
    card = scripted_card(AGENT)
    record = record_from_card(agent_card_to_dict(card), "peer", url=AGENT)
    secrets = WatchingSecrets(dict(values or {}), **options)
    app = BridgeApp(
        {"peer": record}.get,
        secrets,
        caller=None,
        transport=httpx.ASGITransport(app=scripted_app(card)),
    )
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BRIDGE, timeout=30) as client:
            yield Rig(client, secrets)
    finally:
        await app.aclose()


def test_the_broker_is_a_task_watch_and_the_scripted_fake_is_not() -> None:
    from keybroker.core.broker.broker import Broker

    assert isinstance(WatchingSecrets(), TaskWatch)
    assert not isinstance(ScriptedSecrets(), TaskWatch)
    assert callable(Broker.task_ended) and callable(Broker.bind_run)


@pytest.mark.asyncio
async def test_a_blocking_send_that_completes_ends_the_task_once() -> None:
    async with rig({"extra": "extra-CANARY-1"}) as r:
        answer = await r.rpc("SendMessage", {"message": message_v10("ask extra")}, headers=V10)
    task = answer["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    [run_id] = {c.run_id for c in r.secrets.calls}
    assert r.secrets.ended == [("peer", task["id"], "completed", run_id)]
    # The run learnt its ids once, from the agent's first answer (auth-required, not an end).
    assert r.secrets.bound == [(run_id, task["id"], task["contextId"])]


@pytest.mark.asyncio
async def test_a_followed_blocking_send_reports_the_end_too() -> None:
    card = scripted_card(AGENT)
    record = record_from_card(agent_card_to_dict(card), "peer", url=AGENT)
    secrets = WatchingSecrets({"extra": "v-follow"})
    app = BridgeApp(
        {"peer": record}.get,
        secrets,
        caller=None,
        follow_streams=True,
        transport=httpx.ASGITransport(app=scripted_app(card)),
    )
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BRIDGE) as client:
            response = await client.post(
                "/agents/peer",
                json=jsonrpc("SendMessage", {"message": message_v10("ask extra")}),
                headers=V10,
            )
    finally:
        await app.aclose()
    task = response.json()["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [(e[1], e[2]) for e in secrets.ended] == [(task["id"], "completed")]


@pytest.mark.asyncio
async def test_a_stream_reports_the_end_once_and_never_the_interruption() -> None:
    async with rig({"extra": "extra-CANARY-2"}) as r:
        events = await r.stream("message/stream", {"message": message_v03("ask extra")})
    results = [e["result"] for e in events]
    task_id = next(x.get("taskId") or x.get("id") for x in results)
    assert results[-1]["status"]["state"] == "completed"
    [run_id] = r.run_ids
    assert r.secrets.ended == [("peer", task_id, "completed", run_id)]
    assert [b[1] for b in r.secrets.bound] == [task_id]


@pytest.mark.asyncio
async def test_a_handed_over_auth_required_is_not_an_end() -> None:
    async with rig({}) as r:  # the user declines: the agent's auth-required reaches a client that asked
        answer = await r.rpc(
            "message/send", {"message": message_v03("ask extra")}, headers={"X-A2A-Extensions": SECRETS_URI}
        )
    assert answer["result"]["status"]["state"] == "auth-required"
    assert r.secrets.ended == []
    assert [b[1] for b in r.secrets.bound] == [answer["result"]["id"]]


@pytest.mark.asyncio
async def test_a_task_resumed_after_a_decline_ends_like_any_other() -> None:
    async with rig({}) as r:  # a plain client: the task is resumed without the value, the agent completes
        answer = await r.rpc("message/send", {"message": message_v03("ask extra")})
    task_id = answer["result"]["id"]
    assert answer["result"]["status"]["state"] == "completed"
    assert [(e[1], e[2]) for e in r.secrets.ended] == [(task_id, "completed")]
    assert [b[1] for b in r.secrets.bound] == [task_id]


@pytest.mark.asyncio
async def test_a_message_reply_has_no_task_to_follow() -> None:
    async with rig() as r:
        answer = await r.rpc("message/send", {"message": message_v03("echo hi")})
    assert answer["result"]["kind"] == "message"
    assert r.secrets.ended == [] and r.secrets.bound == []


@pytest.mark.asyncio
async def test_tasks_get_of_an_ended_task_reports_it_without_a_run() -> None:
    async with rig() as r:
        sent = await r.rpc("message/send", {"message": message_v03("hi")})
        task_id = sent["result"]["id"]
        r.secrets.ended.clear()
        got = await r.rpc("GetTask", {"id": task_id}, headers=V10)
    assert got["result"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert r.secrets.ended == [("peer", task_id, "completed", None)]


@pytest.mark.asyncio
async def test_a_cancel_reports_the_canceled_task() -> None:
    async with rig() as r:
        sent = await r.rpc(
            "message/send", {"message": message_v03("slow 5"), "configuration": {"blocking": False}}
        )
        task_id = sent["result"]["id"]
        assert sent["result"]["status"]["state"] in ("submitted", "working")
        assert r.secrets.ended == []
        canceled = await r.rpc("tasks/cancel", {"id": task_id})
    assert canceled["result"]["status"]["state"] == "canceled"
    assert ("peer", task_id, "canceled", None) in r.secrets.ended


@pytest.mark.asyncio
async def test_a_failing_broker_hook_does_not_break_the_answer(caplog: pytest.LogCaptureFixture) -> None:
    async with rig({"extra": "v"}, fail=True) as r:
        answer = await r.rpc("SendMessage", {"message": message_v10("ask extra")}, headers=V10)
    assert answer["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert len(r.secrets.ended) == 1
    assert "not followed: RuntimeError" in caplog.text
