# SPDX-License-Identifier: Apache-2.0
"""A run-time demand granted before, answered by the bridge in front of a real agent, on either path.

The real agentstack-sdk 0.7.1 agent (A2A 0.3; it streams, so the fast path takes its streams and
leaves blocking sends to the full path) driven by a plain 0.3 stream. Every key is granted before the
request, so no prompt shows: on the fast path (fast_resume.py) the demand is released in one broker
call and the task resumed on a new stream through the fast hop; on the full path
(KEYBROKER_BRIDGE_PATH=full) the resume loop does it. Either way the client sees one completed task
and no value in any shape. (The real a2a-sdk 1.x agents here declare card credentials, which keep
them off the fast path; tests/bridge/test_fast_resume.py runs a 1.x agent without them.)
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from keybroker.core.bridge import BridgeApp
from keybroker.core.bridge.fast_path import FastPath, fast_path_chosen
from keybroker.core.models import AgentRecord, SecretDemand
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.joining_client import leaks
from tests.bridge.support import (
    bridged,
    http_client,
    jsonrpc,
    message_v03,
    record_from_url,
    sse_payloads,
)
from tests.interop.conftest import RunningPeer

GITHUB = "ghp_CANARY_fastresume_0123456789"
SLACK = "xoxb-CANARY-fastresume-7777-8888"
EXTRA = "extra-CANARY-fastresume-9d8c7b"


def proof(key: str, value: str, via: str) -> str:
    return f"{key}: len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]} via={via}"


async def _grant(secrets: ScriptedSecrets, record: AgentRecord, keys: list[str]) -> None:
    """The user granted `keys` before (remembered): the request needs no prompt."""
    demands = [SecretDemand(k, k) for k in keys]
    await secrets.fulfil(record, demands, phase="preflight", task_id=None, context_id=None)
    secrets.calls.clear()


def _fast(app: BridgeApp) -> FastPath:
    fast = app._channels[("peer", False)].fast
    assert fast is not None
    return fast


def _resumed_on_the_path_chosen(fast: FastPath, *, streaming: bool) -> None:
    counts = fast.streams if streaming else fast
    if fast_path_chosen():
        assert (fast.served, counts.handed_over, counts.resumed) == (1, 0, 1)
    else:
        assert (fast.enabled, fast.served) == (False, 0)


@pytest.mark.asyncio
async def test_agentstack_runtime_demand_from_a_grant_on_a_03_stream(agentstack_agent: RunningPeer) -> None:
    secrets = ScriptedSecrets({"github": GITHUB, "slack": SLACK, "extra": EXTRA})
    record = record_from_url(agentstack_agent.base_url)
    async with bridged(record, secrets) as bridge:
        await _grant(secrets, record, ["github", "slack", "extra"])
        async with http_client() as client:
            body = jsonrpc("message/stream", {"message": message_v03("go keys=github,extra")})
            answer = await client.post(bridge.url(), json=body, headers={"Accept": "text/event-stream"})
        assert answer.status_code == 200, answer.text
        _resumed_on_the_path_chosen(_fast(bridge.app), streaming=True)
    events: list[dict[str, Any]] = sse_payloads(answer.text)
    updates = [e["result"] for e in events if e.get("result", {}).get("kind") == "status-update"]
    states = [u["status"]["state"] for u in updates]
    assert states[-1] == "completed", answer.text[-2000:]
    assert "auth-required" not in states
    assert proof("extra", EXTRA, "runtime") in answer.text
    assert proof("github", GITHUB, "preconfigured") in answer.text
    runtime = secrets.calls_for("runtime")
    assert [c.keys for c in runtime] == [("extra",)]
    task_ids = {e["result"].get("taskId") or e["result"].get("id") for e in events if "result" in e}
    assert task_ids == {runtime[0].task_id}  # one task, resumed with its own ids (pitfall 2)
    for value in (GITHUB, SLACK, EXTRA):
        assert value not in answer.text
        assert leaks(value, events, answer.text) == []
