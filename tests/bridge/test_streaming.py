# SPDX-License-Identifier: Apache-2.0
"""Streams through a real bridge socket: keep-alive while the user is prompted (DESIGN §1)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.bridge import BridgeApp, running_bridge
from keybroker.core.bridge.keepalive import PING
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.scripted_agent import scripted_app, scripted_card
from tests.bridge.support import jsonrpc, message_v03, message_v10, record_from_card, sse_payloads

AGENT = "http://127.0.0.1:10002"


@asynccontextmanager
async def bridge_for(
    secrets: ScriptedSecrets, demands: dict[str, dict[str, str]] | None = None
) -> AsyncIterator[str]:
    card = scripted_card(AGENT, demands)
    record = record_from_card(agent_card_to_dict(card), "peer", url=AGENT)
    app = BridgeApp(
        {"peer": record}.get,
        secrets,
        caller=None,
        keepalive=0.4,
        transport=httpx.ASGITransport(app=scripted_app(card)),
    )
    try:
        async with running_bridge(app, 0) as port:
            yield f"http://127.0.0.1:{port}/agents/peer"
    finally:
        await app.aclose()


async def _stream(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[bytes, float]:
    """POST and read the whole SSE body with a 1 s read timeout: silence longer than that fails."""
    timeout = httpx.Timeout(10.0, read=1.0)
    started = time.monotonic()
    async with (
        httpx.AsyncClient(trust_env=False, timeout=timeout) as http,
        http.stream("POST", url, json=body, headers=headers or {}) as response,
    ):
        assert response.status_code == 200
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    return raw, time.monotonic() - started


@pytest.mark.asyncio
async def test_runtime_prompt_longer_than_the_clients_read_timeout_is_bridged_by_pings() -> None:
    secrets = ScriptedSecrets({"extra": "extra-value-123"}, prompt_delay=2.5)
    async with bridge_for(secrets) as url:
        raw, elapsed = await _stream(url, jsonrpc("message/stream", {"message": message_v03("ask extra")}))
    assert elapsed >= 2.5
    assert raw.count(PING) >= 3
    results = [e["result"] for e in sse_payloads(raw.decode())]
    waiting = [
        r for r in results if r["kind"] == "status-update" and "waiting for the user" in str(r["status"])
    ]
    assert len(waiting) == 1
    assert "extra please (extra)" in str(waiting[0])
    assert results[-1]["status"]["state"] == "completed"


@pytest.mark.asyncio
async def test_preflight_prompt_in_a_v10_stream_starts_the_stream_and_pings() -> None:
    secrets = ScriptedSecrets({"k": "k-value-123"}, prompt_delay=2.5)
    async with bridge_for(secrets, demands={"k": {"name": "K"}}) as url:
        raw, elapsed = await _stream(
            url, jsonrpc("SendStreamingMessage", {"message": message_v10("hello")}), {"A2A-Version": "1.0"}
        )
    assert elapsed >= 2.5
    assert raw.count(PING) >= 3
    events = sse_payloads(raw.decode())
    assert events[-1]["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [c.phase for c in secrets.calls] == ["preflight"]


@pytest.mark.asyncio
async def test_quick_streams_get_no_pings() -> None:
    async with bridge_for(ScriptedSecrets()) as url:
        raw, _ = await _stream(url, jsonrpc("message/stream", {"message": message_v03("hello")}))
    assert PING not in raw
    assert sse_payloads(raw.decode())[-1]["result"]["status"]["state"] == "completed"


@pytest.mark.asyncio
async def test_an_idle_bridge_does_not_wake() -> None:
    """DESIGN §2: no timer wakes an idle server (uvicorn's main loop would, every 0.1 s)."""
    import asyncio

    loop = asyncio.get_running_loop()
    if not hasattr(loop, "_selector"):
        pytest.skip("counts asyncio's selector wake-ups; uvloop has none to count (KEYBROKER_TEST_LOOP)")
    selector = loop._selector
    original = selector.select
    wakeups = 0

    def counting(timeout: float | None = None) -> Any:
        nonlocal wakeups
        wakeups += 1
        return original(timeout)

    async with bridge_for(ScriptedSecrets({"extra": "v-123456"})) as url:
        async with httpx.AsyncClient(trust_env=False) as http:  # one full run, then the client leaves
            response = await http.post(
                url, json=jsonrpc("message/stream", {"message": message_v03("ask extra")})
            )
            assert "completed" in response.text
        await asyncio.sleep(0.3)
        selector.select = counting
        try:
            await asyncio.sleep(2.0)
        finally:
            selector.select = original
    assert wakeups <= 3, f"the idle loop woke {wakeups} times in 2 s"
