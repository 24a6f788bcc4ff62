# SPDX-License-Identifier: Apache-2.0
"""The fast path (fast_path.py) over real TCP: a real a2a-sdk 1.x agent on a loopback port, the real
bridge on another, raw JSON-RPC 0.3 and 1.0 clients. It serves granted blocking sends, leaks no
value in any shape the leaky agent sends (the client joins and decodes what it received), answers a
granted run-time demand itself (fast_resume.py) and hands one that needs a prompt to the full path's
resume loop, and leaves to the full path what needs a prompt or
`KEYBROKER_BRIDGE_PATH=full`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.bridge import BridgeApp
from keybroker.core.bridge.agent_app import AgentChannel
from keybroker.core.bridge.fast_path import PATH_ENV
from keybroker.core.bridge.server import running_bridge
from keybroker.core.models import SecretDemand
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.joining_client import dump, leaks
from tests.bridge.leaky_agent import leaky_app
from tests.bridge.scripted_agent import scripted_app, scripted_card
from tests.bridge.support import bridged, http_client, jsonrpc, message_v03, message_v10, record_from_card
from tests.bridge.test_task_end import WatchingSecrets
from tests.interop.conftest import free_port

VALUE = "Fast-CANARY-5d2e8b-Z9876qwe"
OTHER = "Other-CANARY-1a4f6c-K5555zz"
DEMANDS = {"k": {"name": "K"}}
V10 = {"A2A-Version": "1.0"}
MODES = [
    "drip 1",
    "drip 3 b64",
    "drip 2 percent",
    "drip 1 hex",
    "drip-status 2",
    "status-split",
    "two-artifacts",
    "interleave",
    "around-data",
    "meta-key",
    "raw",
    "basic",
    "percent",
    "upper",
]


@pytest.fixture(autouse=True)
def _fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the fast path, whichever path the rest of the run is on."""
    monkeypatch.setenv(PATH_ENV, "fast")


def _channel(app: BridgeApp) -> AgentChannel:
    # The channel the bridge built for the agent under /agents/peer (not at a port's root).
    return app._channels[("peer", False)]


def _served(app: BridgeApp) -> tuple[int, int]:
    fast = _channel(app).fast
    assert fast is not None
    return fast.served, fast.handed_over


async def _grant(secrets: ScriptedSecrets, app: BridgeApp, keys: list[str]) -> None:
    """The user granted `keys` before (an *always* grant): later sends need no prompt."""
    record = _channel(app).record
    await secrets.fulfil(
        record, [SecretDemand(k, k.upper()) for k in keys], phase="preflight", task_id=None, context_id=None
    )


@asynccontextmanager
async def _rig(agent: str, secrets: ScriptedSecrets) -> AsyncIterator[tuple[httpx.AsyncClient, BridgeApp]]:
    """`agent` ("leaky" or "scripted") on a loopback port behind the bridge; a client for the bridge."""
    port = free_port()
    card = scripted_card(f"http://127.0.0.1:{port}", DEMANDS)
    app = leaky_app(card) if agent == "leaky" else scripted_app(card)
    async with running_bridge(app, port, shutdown_grace=0.5):
        record = record_from_card(agent_card_to_dict(card), "peer", url=f"http://127.0.0.1:{port}")
        async with (
            bridged(record, secrets, caller=None) as bridge,
            http_client(base_url=f"http://127.0.0.1:{bridge.port}") as client,
        ):
            card_answer = await client.get("/agents/peer/.well-known/agent-card.json")
            assert card_answer.status_code == 200  # builds the channel
            yield client, bridge.app


async def _send(client: httpx.AsyncClient, version: str, text: str, **ids: str) -> tuple[dict[str, Any], str]:
    if version == "1.0":
        body = jsonrpc("SendMessage", {"message": message_v10(text, **ids)})
        answer = await client.post("/agents/peer", json=body, headers=V10)
    else:
        body = jsonrpc("message/send", {"message": message_v03(text, **ids)})
        answer = await client.post("/agents/peer", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.text


def _task(payload: dict[str, Any]) -> dict[str, Any]:
    result = payload["result"]
    return dict(result.get("task", result))


async def _get_task(client: httpx.AsyncClient, version: str, task_id: str) -> tuple[dict[str, Any], str]:
    method, headers = ("GetTask", V10) if version == "1.0" else ("tasks/get", {})
    answer = await client.post("/agents/peer", json=jsonrpc(method, {"id": task_id}), headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.text


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
@pytest.mark.parametrize("mode", MODES)
async def test_the_fast_path_serves_a_granted_send_and_leaks_no_value(version: str, mode: str) -> None:
    secrets = ScriptedSecrets({"k": VALUE})
    async with _rig("leaky", secrets) as (client, app):
        await _grant(secrets, app, ["k"])
        payload, body = await _send(client, version, mode)
        assert _served(app) == (1, 0)
        task = _task(payload)
        assert task["status"]["state"] in ("completed", "TASK_STATE_COMPLETED"), body
        fetched, fetched_body = await _get_task(client, version, task["id"])
    assert leaks(VALUE, [payload], body) == [], dump([payload])[-3000:]
    assert leaks(VALUE, [fetched], fetched_body) == [], dump([fetched])[-3000:]
    # One release per send, audited by the broker like the full path's (the grant made it first).
    assert [c.phase for c in secrets.calls] == ["preflight", "preflight"]


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_send_that_needs_a_prompt_goes_the_full_path_and_later_ones_the_fast(version: str) -> None:
    secrets = ScriptedSecrets({"k": VALUE})
    async with _rig("scripted", secrets) as (client, app):
        first, first_body = await _send(client, version, "leak")
        assert _served(app) == (0, 0)
        assert secrets.prompts == [("peer", "k")]
        second, second_body = await _send(client, version, "leak")
        assert _served(app) == (1, 0)
        assert secrets.prompts == [("peer", "k")]  # no second prompt
    for payload, body in ((first, first_body), (second, second_body)):
        assert VALUE not in body
        assert leaks(VALUE, [payload], body) == []
        assert "**********" in body  # the agent quoted it; the bridge cut it


def _resumed(app: BridgeApp) -> int:
    fast = _channel(app).fast
    assert fast is not None
    return fast.resumed


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_granted_runtime_demand_is_answered_on_the_fast_path(version: str) -> None:
    """Granted before: released in one broker call and the task resumed through the fast hop, not
    handed to the full path's resume loop."""
    secrets = ScriptedSecrets({"k": VALUE, "other": OTHER})
    async with _rig("scripted", secrets) as (client, app):
        await _grant(secrets, app, ["k", "other"])
        payload, body = await _send(client, version, "ask other")
        assert (_served(app), _resumed(app)) == ((1, 0), 1)
        task = _task(payload)
        fetched, fetched_body = await _get_task(client, version, task["id"])
    assert task["status"]["state"] in ("completed", "TASK_STATE_COMPLETED"), body
    assert f"got other len={len(OTHER)}" in json.dumps(payload)
    assert [c.phase for c in secrets.calls] == ["preflight", "preflight", "runtime"]
    runtime = secrets.calls[-1]
    assert (runtime.keys, runtime.task_id, runtime.context_id) == (("other",), task["id"], task["contextId"])
    for shown, shown_body in ((payload, body), (fetched, fetched_body)):
        assert leaks(VALUE, [shown], shown_body) == [] and leaks(OTHER, [shown], shown_body) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_runtime_demand_that_needs_a_prompt_is_handed_to_the_full_paths_resume_loop(
    version: str,
) -> None:
    secrets = ScriptedSecrets({"k": VALUE, "other": OTHER})
    async with _rig("scripted", secrets) as (client, app):
        await _grant(secrets, app, ["k"])
        payload, body = await _send(client, version, "ask other")
        assert (_served(app), _resumed(app)) == ((1, 1), 0)
    assert secrets.prompts == [("peer", "k"), ("peer", "other")]
    task = _task(payload)
    assert task["status"]["state"] in ("completed", "TASK_STATE_COMPLETED"), body
    assert f"got other len={len(OTHER)}" in json.dumps(payload)
    assert [c.phase for c in secrets.calls] == ["preflight", "preflight", "runtime"]
    assert leaks(VALUE, [payload], body) == [] and leaks(OTHER, [payload], body) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_second_demand_that_needs_a_prompt_goes_to_the_full_path_and_nothing_is_asked_twice(
    version: str,
) -> None:
    """`other` is granted (resumed here), then the agent asks for `third`, which needs a prompt: the
    full path takes the run over where it stands."""
    third = "Third-CANARY-9b3d7e-P1357mno"
    secrets = ScriptedSecrets({"k": VALUE, "other": OTHER, "third": third})
    async with _rig("scripted", secrets) as (client, app):
        await _grant(secrets, app, ["k", "other"])
        payload, body = await _send(client, version, "ask other third")
        assert (_served(app), _resumed(app)) == ((1, 1), 1)
    assert secrets.prompts == [("peer", "k"), ("peer", "other"), ("peer", "third")]
    runtime = [(c.phase, c.keys) for c in secrets.calls[2:]]
    assert runtime == [("runtime", ("other",)), ("runtime", ("third",))]
    text = json.dumps(payload)
    assert f"got other len={len(OTHER)}" in text and f"got third len={len(third)}" in text
    assert _task(payload)["status"]["state"] in ("completed", "TASK_STATE_COMPLETED"), body
    for value in (VALUE, OTHER, third):
        assert leaks(value, [payload], body) == []


@pytest.mark.asyncio
async def test_input_required_reaches_the_client_and_the_next_message_takes_the_full_path() -> None:
    secrets = ScriptedSecrets({"k": VALUE})
    async with _rig("scripted", secrets) as (client, app):
        await _grant(secrets, app, ["k"])
        payload, body = await _send(client, "1.0", "hold")
        task = _task(payload)
        assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED", body
        later, later_body = await _send(client, "1.0", "more", taskId=task["id"], contextId=task["contextId"])
        assert _served(app) == (1, 0)
    assert leaks(VALUE, [payload], body) == [] and leaks(VALUE, [later], later_body) == []


@pytest.mark.asyncio
async def test_the_full_path_setting_keeps_every_request_off_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PATH_ENV, "full")
    secrets = ScriptedSecrets({"k": VALUE})
    async with _rig("scripted", secrets) as (client, app):
        await _grant(secrets, app, ["k"])
        payload, body = await _send(client, "1.0", "leak")
        assert _served(app) == (0, 0)
        assert _channel(app).fast is not None and not _channel(app).fast.enabled
    assert leaks(VALUE, [payload], body) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_the_fast_path_tells_a_task_watch_the_run_and_the_tasks_end(version: str) -> None:
    """ "This task" grants end when their task does: the fast path reports what the full path does."""
    secrets = WatchingSecrets({"k": VALUE})
    async with _rig("scripted", secrets) as (client, app):
        await _grant(secrets, app, ["k"])
        payload, _ = await _send(client, version, "leak")
        assert _served(app) == (1, 0)
    task = _task(payload)
    run_id = secrets.calls[-1].run_id
    assert run_id and secrets.bound == [(run_id, task["id"], task["contextId"])]
    assert secrets.ended == [("peer", task["id"], "completed", run_id)]
