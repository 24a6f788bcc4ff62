# SPDX-License-Identifier: Apache-2.0
"""The bridge in front of a real agentstack-sdk 0.7.1 agent (A2A 0.3), driven by plain clients.

Clients: a2a-sdk 1.x (ours; it speaks 1.0 to the bridge, the bridge speaks 0.3 to the agent) and
a2a-sdk 0.3 from the peer venv. The broker is the scripted fake, so prompts are counted, not shown.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.bridge.fakes import ScriptedSecrets, keys_of
from tests.bridge.support import SECRETS_URI, a2a_client_run, bridged, record_from_url
from tests.interop.bridge_peer import peer_client_run
from tests.interop.conftest import RunningPeer

GITHUB = "ghp_CANARY_as_0123456789abcdef"
SLACK = "xoxb-CANARY-as-5555-6666"


def proof(key: str, value: str, via: str) -> str:
    return f"{key}: len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]} via={via}"


def canaries(secrets: ScriptedSecrets) -> list[bytes]:
    return [v.encode() for v in secrets.values.values()]


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "blocking"])
async def test_preconfigured_secrets_complete_the_task(
    agentstack_agent: RunningPeer, streaming: bool
) -> None:
    secrets = ScriptedSecrets({"github": GITHUB, "slack": SLACK})
    record = record_from_url(agentstack_agent.base_url)
    async with bridged(record, secrets) as bridge:
        run = await a2a_client_run(bridge.url(), "hello", streaming=streaming)
    assert run.state == "TASK_STATE_COMPLETED"
    assert proof("github", GITHUB, "preconfigured") in run.text
    assert proof("slack", SLACK, "preconfigured") in run.text
    assert [(c.phase, c.keys) for c in secrets.calls] == [("preflight", ("github", "slack"))]
    for canary in canaries(secrets):
        assert canary not in run.received


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "blocking"])
async def test_runtime_demand_is_answered_and_the_task_completes(
    agentstack_agent: RunningPeer, streaming: bool
) -> None:
    secrets = ScriptedSecrets({"github": GITHUB, "slack": SLACK, "extra": "extra-CANARY-rt-42"})
    record = record_from_url(agentstack_agent.base_url)
    async with bridged(record, secrets) as bridge:
        run = await a2a_client_run(bridge.url(), "go keys=github,extra", streaming=streaming)
    assert run.state == "TASK_STATE_COMPLETED"
    assert proof("extra", "extra-CANARY-rt-42", "runtime") in run.text
    assert proof("github", GITHUB, "preconfigured") in run.text
    runtime = secrets.calls_for("runtime")
    assert keys_of(runtime) == [("extra",)]
    assert runtime[0].task_id == run.task["id"] and runtime[0].context_id == run.task["contextId"]  # type: ignore[index]
    # One task: every event the client saw belongs to it.
    ids = {e.get("task", {}).get("id") or e.get("statusUpdate", {}).get("taskId") for e in run.events} - {
        None
    }
    assert ids == {run.task["id"]}  # type: ignore[index]
    if streaming:
        states = [e["statusUpdate"]["status"]["state"] for e in run.events if "statusUpdate" in e]
        assert "TASK_STATE_AUTH_REQUIRED" not in states
        assert any("waiting for the user" in json.dumps(e) for e in run.events)
    for canary in canaries(secrets):
        assert canary not in run.received


@pytest.mark.asyncio
async def test_two_runtime_demands_in_one_run_make_one_prompt_call(agentstack_agent: RunningPeer) -> None:
    secrets = ScriptedSecrets(
        {"github": GITHUB, "slack": SLACK, "first_x": "first-CANARY-1", "second_y": "second-CANARY-2"}
    )
    async with bridged(record_from_url(agentstack_agent.base_url), secrets) as bridge:
        run = await a2a_client_run(bridge.url(), "go keys=first_x,second_y")
    assert run.state == "TASK_STATE_COMPLETED"
    assert keys_of(secrets.calls_for("runtime")) == [("first_x", "second_y")]
    assert proof("first_x", "first-CANARY-1", "runtime") in run.text
    assert proof("second_y", "second-CANARY-2", "runtime") in run.text
    for canary in canaries(secrets):
        assert canary not in run.received


@pytest.mark.asyncio
async def test_key_with_unusual_characters(agentstack_agent: RunningPeer) -> None:
    key = "My.Odd-Key_v2.0"
    value = 'odd "quoted" value with spaces, unicode \u00e9\u4e2d and a\\backslash'
    secrets = ScriptedSecrets({"github": GITHUB, "slack": SLACK, key: value})
    async with bridged(record_from_url(agentstack_agent.base_url), secrets) as bridge:
        run = await a2a_client_run(bridge.url(), f"go keys={key}")
    assert run.state == "TASK_STATE_COMPLETED"
    assert proof(key, value, "runtime") in run.text
    assert value.encode() not in run.received
    assert json.dumps(value).encode() not in run.received


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["decline", "timeout"])
async def test_decline_or_timeout_resumes_a_plain_clients_task_without_the_value(
    agentstack_agent: RunningPeer, mode: str
) -> None:
    secrets = ScriptedSecrets({"github": GITHUB}, timeout=mode == "timeout")
    async with bridged(record_from_url(agentstack_agent.base_url), secrets) as bridge:
        run = await a2a_client_run(bridge.url(), "go keys=github,extra")
    # The agent got `{"secret_fulfillments": {}}` back for `extra` and answered as it does without it.
    assert run.state == "TASK_STATE_COMPLETED", run.events
    # A timeout ends every prompt, the pre-flight one for `github` too; a decline only what had no value.
    assert ("missing: github,extra" if mode == "timeout" else "missing: extra") in run.text
    # Pre-flight asked once for the card's demands; run time asked once for what the agent wants.
    assert [c.phase for c in secrets.calls] == ["preflight", "runtime"]
    assert GITHUB.encode() not in run.received


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["decline", "timeout"])
async def test_decline_or_timeout_hands_the_agents_auth_required_to_an_extension_client(
    agentstack_agent: RunningPeer, mode: str
) -> None:
    secrets = ScriptedSecrets({"github": GITHUB}, timeout=mode == "timeout")
    async with bridged(record_from_url(agentstack_agent.base_url), secrets) as bridge:
        run = await a2a_client_run(bridge.url(), "go keys=github,extra", extensions=[SECRETS_URI])
    assert run.state == "TASK_STATE_AUTH_REQUIRED"
    demands = run.task["status"]["message"]["metadata"][SECRETS_URI]["secret_demands"]  # type: ignore[index]
    assert "extra" in demands
    assert [c.phase for c in secrets.calls] == ["preflight", "runtime"]
    assert GITHUB.encode() not in run.received


@pytest.mark.asyncio
@pytest.mark.parametrize("flags", [(), ("--no-stream",), ("--rest",), ("--rest", "--no-stream")], ids=str)
async def test_a2a_03_client_sees_a_completed_task(
    agentstack_agent: RunningPeer, flags: tuple[str, ...]
) -> None:
    secrets = ScriptedSecrets({"github": GITHUB, "slack": SLACK, "extra": "extra-CANARY-v03"})
    async with bridged(record_from_url(agentstack_agent.base_url), secrets) as bridge:
        result = await peer_client_run(bridge.url(), "go keys=github,extra", *flags)
        assert result["card_url"] == bridge.url()
    assert result["protocol_version"].startswith("0.3")
    assert result["state"] == "completed"
    assert proof("extra", "extra-CANARY-v03", "runtime") in result["raw"]
    for canary in ("extra-CANARY-v03", GITHUB, SLACK):
        assert canary not in result["raw"]
