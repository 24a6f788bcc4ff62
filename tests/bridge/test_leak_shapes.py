# SPDX-License-Identifier: Apache-2.0
"""A hostile agent leaks the value it was given in every shape a client could join or decode; the
client gets none of them, on every client path and from `tasks/get` (issue 12 items 1-3).

The agent (leaky_agent.py) is a real a2a-sdk 1.x server behind the real bridge (in-process,
`httpx.ASGITransport`); the client speaks raw JSON-RPC 0.3 and 1.0 and HTTP+JSON 0.3 and 1.0,
streaming and blocking, then fetches the task. What it received is joined and decoded every way a
client could (joining_client.py, which does not use the bridge's own list of forms).
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.bridge import BridgeApp
from keybroker.core.bridge.server import running_bridge
from keybroker.core.models import MASK
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.joining_client import dump, leaks, texts
from tests.bridge.leaky_agent import leaky_app
from tests.bridge.scripted_agent import scripted_card
from tests.bridge.support import (
    a2a_client_run,
    bridged,
    jsonrpc,
    message_v03,
    message_v10,
    record_from_card,
    sse_payloads,
)

BRIDGE = "http://127.0.0.1:7411"
AGENT = "http://127.0.0.1:10001"
VALUE = "Leak-CANARY-7f3a9c-Q0123xyz"
DEMANDS = {"k": {"name": "K"}}
V10 = {"A2A-Version": "1.0"}


@dataclass
class LeakRig:
    client: httpx.AsyncClient
    app: BridgeApp

    async def answer(self, path: str, text: str) -> tuple[list[Any], str]:
        """What the client receives for `text` over `path`: its JSON payloads and the raw body."""
        kind, version, how = path.split("-")
        stream = how == "stream"
        if kind == "jsonrpc":
            method = {
                ("0.3", True): "message/stream",
                ("0.3", False): "message/send",
                ("1.0", True): "SendStreamingMessage",
                ("1.0", False): "SendMessage",
            }[(version, stream)]
            message = message_v10(text) if version == "1.0" else message_v03(text)
            body: dict[str, Any] = jsonrpc(method, {"message": message})
            url = "/agents/peer"
        elif version == "1.0":
            body = {"message": message_v10(text)}
            url = "/agents/peer/message:" + ("stream" if stream else "send")
        else:
            old = {"messageId": "m1", "role": "ROLE_USER", "content": [{"text": text}]}
            body = {"message": old, "configuration": {"blocking": True}}
            url = "/agents/peer/v1/message:" + ("stream" if stream else "send")
        response = await self.client.post(url, json=body, headers=V10 if version == "1.0" else {})
        assert response.status_code == 200, response.text
        payloads = sse_payloads(response.text) if stream else [response.json()]
        assert payloads and all("error" not in p for p in payloads), response.text
        return payloads, response.text

    async def get_task(self, path: str, payloads: list[Any]) -> tuple[list[Any], str]:
        """The task the answer was about, fetched the way the same client would."""
        task_id = _task_id(payloads)
        kind, version, _ = path.split("-")
        if kind == "jsonrpc":
            method = "GetTask" if version == "1.0" else "tasks/get"
            response = await self.client.post(
                "/agents/peer", json=jsonrpc(method, {"id": task_id}), headers=V10 if version == "1.0" else {}
            )
        elif version == "1.0":
            response = await self.client.get(f"/agents/peer/tasks/{task_id}", headers=V10)
        else:
            response = await self.client.get(f"/agents/peer/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        assert "error" not in response.json(), response.text
        return [response.json()], response.text


def _task_id(payloads: list[Any]) -> str:
    """The first task id in `payloads` (a task's `id`, or an event's `taskId`)."""

    def find(node: Any) -> str | None:
        if isinstance(node, list):
            return next((f for f in map(find, node) if f), None)
        if not isinstance(node, dict):
            return None
        if isinstance(node.get("taskId"), str):
            return str(node["taskId"])
        if isinstance(node.get("id"), str) and "contextId" in node:
            return str(node["id"])
        return next((f for f in map(find, node.values()) if f), None)

    found = find(payloads)
    assert found, dump(payloads)
    return found


@asynccontextmanager
async def leak_rig(*, follow_streams: bool = False) -> AsyncIterator[LeakRig]:
    """The bridge before the leaky agent (slug `peer`), which is given VALUE for its demand `k`."""
    card = scripted_card(AGENT, DEMANDS)
    record = record_from_card(agent_card_to_dict(card), "peer", url=AGENT)
    app = BridgeApp(
        {"peer": record}.get,
        ScriptedSecrets({"k": VALUE}),
        caller=None,
        follow_streams=follow_streams,
        transport=httpx.ASGITransport(app=leaky_app(card)),
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BRIDGE, timeout=30
        ) as client:
            yield LeakRig(client, app)
    finally:
        await app.aclose()


PATHS = [
    "jsonrpc-0.3-stream",
    "jsonrpc-1.0-stream",
    "jsonrpc-0.3-send",
    "jsonrpc-1.0-send",
    "rest-1.0-stream",
    "rest-1.0-send",
    "rest-0.3-stream",
    "rest-0.3-send",
]


async def _check(path: str, text: str, *, follow_streams: bool = False) -> tuple[str, str]:
    """Send `text`, fetch the task; assert nothing leaked; the joined texts of the answer and the task."""
    async with leak_rig(follow_streams=follow_streams) as r:
        payloads, body = await r.answer(path, text)
        task, task_body = await r.get_task(path, payloads)
    assert leaks(VALUE, payloads, body) == [], dump(payloads)[-3000:]
    assert leaks(VALUE, task, task_body) == [], dump(task)[-3000:]
    return texts(payloads), texts(task)


# Item 1: token-sized streaming ------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("size", [1, 2, 3, 5])
async def test_a_value_dripped_in_small_chunks_is_cut(path: str, size: int) -> None:
    answer, task = await _check(path, f"drip {size}")
    for joined in (answer, task):
        assert "the key is " in joined and " ok" in joined and MASK in joined


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["jsonrpc-0.3-stream", "jsonrpc-1.0-stream", "rest-1.0-stream"])
@pytest.mark.parametrize("form", ["b64", "basic", "percent", "upper", "hex"])
@pytest.mark.parametrize("size", [1, 3])
async def test_an_encoded_value_dripped_in_small_chunks_is_cut(path: str, form: str, size: int) -> None:
    answer, _ = await _check(path, f"drip {size} {form}")
    assert "the key is " in answer and " ok" in answer


@pytest.mark.asyncio
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("size", [1, 2])
async def test_a_value_dripped_in_status_messages_is_cut(path: str, size: int) -> None:
    answer, _ = await _check(path, f"drip-status {size}")
    assert "the key is " in answer or "send" in path  # a blocking send keeps the last status only


@pytest.mark.asyncio
@pytest.mark.parametrize("path", [p for p in PATHS if p.endswith("send")])
async def test_a_blocking_send_following_the_stream_cuts_dripped_chunks(path: str) -> None:
    answer, _ = await _check(path, "drip 1", follow_streams=True)
    assert "the key is " in answer and MASK in answer


# Item 2: other split shapes --------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("mode", ["status-split", "two-artifacts", "interleave", "around-data"])
async def test_a_value_split_across_events_or_parts_is_cut(path: str, mode: str) -> None:
    await _check(path, mode)


# Item 3: shapes not yet cut --------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("mode", ["meta-key", "raw", "basic", "percent", "upper"])
async def test_a_value_in_another_shape_is_cut(path: str, mode: str) -> None:
    await _check(path, mode)


@pytest.mark.asyncio
async def test_the_joining_client_sees_a_leak_when_there_is_one() -> None:
    """The oracle itself: each shape the agent sends, given straight to it, is found."""
    from tests.bridge.leaky_agent import FORMS, _b64, _percent

    raw = VALUE.encode()
    shapes: list[Any] = [
        {"parts": [{"text": "a " + VALUE[:3]}, {"data": {"n": 1}}, {"text": VALUE[3:]}]},
        [{"artifact": {"artifactId": "x", "parts": [{"text": c}]}} for c in VALUE],
        {"metadata": {VALUE: 1}},
        {"parts": [{"raw": _b64(b"ab" + raw)}]},
        {"kind": "file", "file": {"bytes": _b64(raw)}},
        {"text": _b64(b"u:" + raw + b"@h")},
        {"text": _percent(VALUE, upper=False)},
        {"text": VALUE.swapcase()},
        *({"text": f"x {form(VALUE)} y"} for form in FORMS.values()),
    ]
    for shape in shapes:
        assert leaks(VALUE, [shape]), json.dumps(shape)
    assert leaks(VALUE, [{"text": f"a {MASK} b"}]) == []


# The same over TCP, with the official a2a-sdk client ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.asyncio
@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
@pytest.mark.parametrize("mode", ["drip 1", "drip 2 basic", "status-split", "two-artifacts", "raw"])
async def test_an_a2a_sdk_client_over_tcp_gets_no_value(binding: str, mode: str) -> None:
    port = _free_port()
    card = scripted_card(f"http://127.0.0.1:{port}", DEMANDS)
    async with running_bridge(leaky_app(card), port):
        record = record_from_card(agent_card_to_dict(card), "peer", url=f"http://127.0.0.1:{port}")
        async with bridged(record, ScriptedSecrets({"k": VALUE}), caller=None) as bridge:
            run = await a2a_client_run(bridge.url(), mode, streaming=True, binding=binding)
    assert run.state == "TASK_STATE_COMPLETED"
    received = run.received.decode("utf-8", "replace")
    assert leaks(VALUE, [*run.events, run.task], received) == [], received[-3000:]
