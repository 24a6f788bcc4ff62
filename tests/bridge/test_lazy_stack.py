# SPDX-License-Identifier: Apache-2.0
"""The a2a-sdk stack loads on the first request that needs an agent, once, and the idle app has none of it
(DESIGN §7: import lazily what the first screen does not need)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.bridge import BridgeApp
from keybroker.core.bridge import app as bridge_app
from keybroker.core.bridge.agent_app import AgentChannel
from keybroker.core.models import SecretValue
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.scripted_agent import scripted_app, scripted_card
from tests.bridge.support import jsonrpc, message_v03, record_from_card
from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[2]
AGENT = "http://127.0.0.1:10001"
BRIDGE = "http://127.0.0.1:7411"

#: Modules the idle app must not have loaded: a2a-sdk, protobuf, and our modules built on them.
HEAVY = ("a2a", "google.protobuf", "keybroker.core.bridge.agent_app", "keybroker.core.bridge.handler")

IDLE_RUNTIME = """
import asyncio, gc, json, sys
import httpx
from keybroker.core.broker.prompts import DecliningPrompter
from keybroker.wiring.runtime import Runtime, RuntimeOptions

HEAVY = {heavy!r}


def heavy_loaded():
    return sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


async def main():
    import os
    runtime = Runtime(RuntimeOptions(port=0, environ=dict(os.environ)), DecliningPrompter("test"))
    info = await runtime.start()
    out = {{}}
    try:
        async with httpx.AsyncClient(base_url=info.url, trust_env=False, timeout=30) as client:
            out["unknown"] = (await client.get("/agents/nobody/.well-known/agent-card.json")).status_code
            out["outside"] = (await client.get("/api/v1/status")).status_code
            out["idle"] = heavy_loaded()
            out["frozen_idle"] = gc.get_freeze_count()
            from tests.bridge.support import record_from_card
            runtime.services.catalog.upsert_agent(record_from_card(json.loads(sys.argv[1]), "echo"))
            card = await client.get("/agents/echo/.well-known/agent-card.json")
            out["card"] = card.status_code
            out["card_url"] = card.json()["supportedInterfaces"][0]["url"]
            out["after"] = heavy_loaded()
            out["frozen_after"] = gc.get_freeze_count()
    finally:
        await runtime.stop()
    print(json.dumps(out))


asyncio.run(main())
"""


def test_the_idle_runtime_has_no_a2a_sdk_and_the_first_card_request_loads_it(tmp_path: Path) -> None:
    card = agent_card_to_dict(scripted_card(AGENT))
    script = IDLE_RUNTIME.format(heavy=HEAVY)
    env = subprocess_env({"PYTHONPATH": f"{ROOT / 'desktop'}:{ROOT}"})
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(card)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["idle"] == []  # serving, the API answering, an unknown slug's 404: none of it
    assert out["unknown"] == 404
    assert out["outside"] == 401  # the management API answers (it wants its token)
    assert out["card"] == 200
    assert out["card_url"].endswith("/agents/echo")
    assert "a2a" in out["after"] and "keybroker.core.bridge.agent_app" in out["after"]
    # The stack's objects were frozen out of later full collections (system/heap.py): ~64k of them.
    assert out["frozen_after"] - out["frozen_idle"] > 20_000, out


class CountingLoader:
    """Stands in for `load_agent_stack`: slow (so first requests overlap), counts loads and builds."""

    def __init__(self) -> None:
        self.real = bridge_app.load_agent_stack
        self.loads = 0
        self.builds = 0
        self.threads: list[str] = []
        #: Set by the test's event loop while it runs: the load waits to see it (no clock involved).
        self.loop_ran: threading.Event | None = None
        self.saw_loop: bool | None = None

    def __call__(self) -> Callable[..., AgentChannel]:
        self.loads += 1
        self.threads.append(threading.current_thread().name)
        time.sleep(0.3)
        if self.loop_ran is not None:  # the loop went on running while this thread loaded the stack
            self.saw_loop = self.loop_ran.wait(30.0)
        build = self.real()

        def counted(*args: Any, **kwargs: Any) -> AgentChannel:
            self.builds += 1
            return build(*args, **kwargs)

        return counted


@pytest.mark.asyncio
async def test_concurrent_first_requests_load_the_stack_once_and_build_one_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loader = CountingLoader()
    monkeypatch.setattr(bridge_app, "load_agent_stack", loader)
    card = scripted_card(AGENT)
    record = record_from_card(agent_card_to_dict(card), "peer", url=AGENT)
    settled: list[str] = []
    app = BridgeApp(
        {"peer": record}.get,
        ScriptedSecrets({}),
        api_token=SecretValue("tok"),
        caller=None,
        transport=httpx.ASGITransport(app=scripted_app(card)),
        after_stack_loaded=lambda: settled.append(threading.current_thread().name),
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BRIDGE, timeout=30
        ) as client:
            # Answered without the stack: an unknown slug, a path outside /agents/.
            assert (await client.get("/agents/nobody/.well-known/agent-card.json")).status_code == 404
            assert (await client.get("/elsewhere")).status_code == 404
            assert loader.loads == 0 and not app.agent_stack_loaded

            ticks = 0
            loader.loop_ran = ran = threading.Event()

            async def ticker() -> None:  # the loop keeps running while the stack is imported
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1
                    if ticks >= 3:
                        ran.set()

            tick_task = asyncio.create_task(ticker())
            cards = [client.get("/agents/peer/.well-known/agent-card.json") for _ in range(6)]
            sends = [
                client.post("/agents/peer", json=jsonrpc("message/send", {"message": message_v03(f"hi {n}")}))
                for n in range(4)
            ]
            responses = await asyncio.gather(*cards, *sends)
            tick_task.cancel()
            assert [r.status_code for r in responses] == [200] * 10, [r.text[:200] for r in responses]
            assert all("result" in r.json() for r in responses[6:]), [r.text[:300] for r in responses[6:]]
            assert loader.loads == 1 and loader.builds == 1
            assert loader.threads[0] != threading.current_thread().name  # imported off the loop
            assert len(settled) == 1 and settled[0] != threading.current_thread().name
            assert loader.saw_loop  # loading did not block the loop (it ticked meanwhile)
            assert app.agent_stack_loaded

            # Kept: later requests reuse the channel.
            assert (await client.get("/agents/peer/.well-known/agent-card.json")).status_code == 200
            assert loader.loads == 1 and loader.builds == 1
    finally:
        await app.aclose()
