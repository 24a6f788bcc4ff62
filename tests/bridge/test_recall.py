# SPDX-License-Identifier: Apache-2.0
"""After a restart or a lock, answers about earlier tasks are cut of the values released before, or
refused when that cannot be done (issue 12 item 4).

The real broker over a data home (catalog, audit, vault) and the real bridge before a real a2a-sdk
agent (scripted_agent.py) whose tasks outlive the bridge: a "restart" is a new broker and bridge
over the same data home; the last test restarts a whole `Runtime` over the Secret Service. A client
joins and decodes what it gets (joining_client.py).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from starlette.applications import Starlette

from keybroker.core.bridge import BridgeApp
from keybroker.core.bridge.server import running_bridge
from keybroker.core.broker.broker import Broker
from keybroker.core.broker.prompts import PromptAnswer
from keybroker.core.models import MASK, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.joining_client import dump, leaks
from tests.bridge.scripted_agent import scripted_app, scripted_card
from tests.bridge.support import jsonrpc, message_v03, message_v10, record_from_card, sse_payloads
from tests.core.broker.test_broker import make_broker
from tests.fakes import ScriptedPrompter

BRIDGE = "http://127.0.0.1:7411"
AGENT = "http://127.0.0.1:10001"
VALUE = "Recall-CANARY-5b7e1d-Q0123xyz"
NEW_VALUE = "Recall-CANARY-new-9f8e7d6c"
DEMANDS = {"k": {"name": "K"}}
V10 = {"A2A-Version": "1.0"}
#: Agent modes that echo the pre-configured value: plainly, in every encoding, split over two chunks.
MODES = ("leak", "encoded", "split", "hold")


@dataclass
class Home:
    """One data home and one agent, both outliving any bridge started over them."""

    services: Services
    agent_app: Starlette


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    services = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    card = scripted_card(AGENT, DEMANDS)
    services.catalog.upsert_agent(record_from_card(agent_card_to_dict(card), "peer", url=AGENT))
    services.secrets.set("k", SecretValue(VALUE), owner="peer")  # the owner's *always* grant: no prompt
    yield Home(services, scripted_app(card))
    services.close()


@dataclass
class Bridge:
    client: httpx.AsyncClient
    app: BridgeApp
    broker: Broker

    async def send(self, text: str, *, stream: bool = False) -> dict[str, Any]:
        """A new task (0.3 JSON-RPC); the task's id, context id and what came back."""
        method = "message/stream" if stream else "message/send"
        body = jsonrpc(method, {"message": message_v03(text)})
        response = await self.client.post("/agents/peer", json=body)
        assert response.status_code == 200, response.text
        payloads = sse_payloads(response.text) if stream else [response.json()]
        result = payloads[0]["result"]
        assert leaks(VALUE, payloads) == [], dump(payloads)[-2000:]
        return {"id": result.get("id") or result["taskId"], "contextId": result["contextId"]}

    async def get(self, path: str, task_id: str) -> httpx.Response:
        """The task, asked for the way each kind of client asks."""
        if path == "jsonrpc-0.3":
            return await self.client.post("/agents/peer", json=jsonrpc("tasks/get", {"id": task_id}))
        if path == "jsonrpc-1.0":
            body = jsonrpc("GetTask", {"id": task_id})
            return await self.client.post("/agents/peer", json=body, headers=V10)
        if path == "rest-1.0":
            return await self.client.get(f"/agents/peer/tasks/{task_id}", headers=V10)
        return await self.client.get(f"/agents/peer/v1/tasks/{task_id}")


@asynccontextmanager
async def bridge(home: Home) -> AsyncIterator[Bridge]:
    """A broker and a bridge over `home`, as a freshly started Keybroker has them."""
    broker = make_broker(home.services, ScriptedPrompter(default=PromptAnswer.deny("no")))
    upstream = httpx.ASGITransport(app=home.agent_app)
    app = BridgeApp(home.services.catalog.find_agent, broker, caller=None, transport=upstream)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BRIDGE, timeout=30) as c:
            yield Bridge(c, app, broker)
    finally:
        await app.aclose()
        await broker.aclose()


async def _earlier_tasks(home: Home) -> list[dict[str, Any]]:
    async with bridge(home) as before:
        return [await before.send(mode, stream=mode == "split") for mode in MODES]


GETS = ["jsonrpc-0.3", "jsonrpc-1.0", "rest-1.0", "rest-0.3"]


def _refused(response: httpx.Response) -> str:
    """The refusal's message: JSON-RPC -32004, or HTTP 400 with UNSUPPORTED_OPERATION."""
    body = response.json()
    if "jsonrpc" in body:
        assert response.status_code == 200 and body["error"]["code"] == -32004, response.text
        return str(body["error"]["message"])
    assert response.status_code == 400, response.text
    assert "UNSUPPORTED_OPERATION" in response.text, response.text
    return response.text


# A restart -----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_after_a_restart_earlier_tasks_come_back_cut(home: Home) -> None:
    tasks = await _earlier_tasks(home)
    async with bridge(home) as after:  # a new broker and bridge: nothing released in their memory
        for path in GETS:
            for task in tasks:
                response = await after.get(path, task["id"])
                assert response.status_code == 200, response.text
                assert "error" not in response.json(), response.text
                assert leaks(VALUE, [response.json()], response.text) == [], response.text
                assert MASK in response.text
    # Rebuilt from the vault, where the value is: never written anywhere else.
    for path in home.services.paths.data_dir.rglob("*"):
        if path.is_file():
            assert VALUE.encode() not in path.read_bytes(), path


@pytest.mark.asyncio
async def test_after_a_restart_with_a_value_replaced_since_earlier_tasks_are_refused(home: Home) -> None:
    tasks = await _earlier_tasks(home)
    home.services.secrets.set("k", SecretValue(NEW_VALUE), owner="peer")  # the old value is gone
    async with bridge(home) as after:
        for path in GETS:
            for task in tasks:
                response = await after.get(path, task["id"])
                message = _refused(response)
                assert "restart" in message and "start a new task" in message
                assert leaks(VALUE, [response.json()], response.text) == []
        ids = {"taskId": tasks[-1]["id"], "contextId": tasks[-1]["contextId"]}  # the `hold` task waits
        going_on = await after.client.post(
            "/agents/peer", json=jsonrpc("message/send", {"message": message_v03("more", **ids)})
        )
        _refused(going_on)
        # A new task is answered as usual, and so is a question about it; a list shows only it.
        fresh = await after.send("leak")
        got = await after.get("jsonrpc-1.0", fresh["id"])
        listed = await after.client.post(
            "/agents/peer", json=jsonrpc("ListTasks", {"includeArtifacts": True}), headers=V10
        )
    assert leaks(VALUE, [listed.json()], listed.text) == [] and "result" in listed.json(), listed.text
    assert fresh["id"] in listed.text and not any(t["id"] in listed.text for t in tasks)
    assert "error" not in got.json() and leaks(NEW_VALUE, [got.json()], got.text) == []


# A lock --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_after_a_lock_earlier_tasks_come_back_cut(home: Home) -> None:
    async with bridge(home) as r:
        tasks = [await r.send(mode, stream=mode == "split") for mode in MODES]
        r.broker.lock(caller="test")
        assert r.app.released.count("peer") == 0  # dropped from memory, as a lock does
        for path in GETS:
            for task in tasks:
                response = await r.get(path, task["id"])
                assert "error" not in response.json(), response.text
                assert leaks(VALUE, [response.json()], response.text) == []


@pytest.mark.asyncio
async def test_after_a_lock_with_a_value_removed_since_earlier_tasks_are_refused(home: Home) -> None:
    async with bridge(home) as r:
        tasks = [await r.send(mode, stream=mode == "split") for mode in MODES]
        r.broker.lock(caller="test")
        record = home.services.catalog.find_secret("k", "peer")
        assert record is not None
        home.services.secrets.remove(record)
        for task in tasks:
            response = await r.get("jsonrpc-0.3", task["id"])
            assert "lock" in _refused(response)
            assert leaks(VALUE, [response.json()], response.text) == []


# A whole restart over the OS vault ---------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.secret_service
async def test_a_restarted_keybroker_cuts_earlier_tasks_with_values_from_the_os_vault(tmp_path: Path) -> None:
    from keybroker.core.broker.prompts import DecliningPrompter
    from keybroker.wiring.runtime import Runtime, RuntimeOptions

    environ = {**os.environ, "KEYBROKER_HOME": str(tmp_path / "home"), "KEYBROKER_VAULT": "system"}
    async with running_bridge(scripted_app(scripted_card(AGENT, DEMANDS)), 0) as agent_port:
        agent_url = f"http://127.0.0.1:{agent_port}"
        card = agent_card_to_dict(scripted_card(agent_url, DEMANDS))

        async def run(step: str, task_ids: list[str]) -> list[str]:
            runtime = Runtime(RuntimeOptions(port=0, environ=environ), DecliningPrompter("test"))
            info = await runtime.start()
            try:
                assert runtime.services is not None
                if step == "first":
                    runtime.services.catalog.upsert_agent(record_from_card(card, "peer", url=agent_url))
                    runtime.services.secrets.set("k", SecretValue(VALUE), owner="peer")
                async with httpx.AsyncClient(base_url=info.url, trust_env=False, timeout=30) as client:
                    if step == "first":
                        for mode in MODES:
                            body = jsonrpc("SendMessage", {"message": message_v10(mode)})
                            sent = await client.post("/agents/peer", json=body, headers=V10)
                            task_ids.append(sent.json()["result"]["task"]["id"])
                        return []
                    answers = []
                    for task_id in task_ids:
                        got = await client.post("/agents/peer", json=jsonrpc("tasks/get", {"id": task_id}))
                        assert "result" in got.json(), got.text
                        assert leaks(VALUE, [got.json()], got.text) == []
                        answers.append(got.text)
                    return answers
            finally:
                await runtime.stop()

        task_ids: list[str] = []
        await run("first", task_ids)
        answers = await run("again", task_ids)
    assert len(answers) == len(MODES) and all(MASK in a for a in answers)
