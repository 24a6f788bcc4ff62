# SPDX-License-Identifier: Apache-2.0
"""The bridge in front of a real a2a-sdk 1.x agent (A2A 1.0), driven by plain 1.x and 0.3 clients."""

from __future__ import annotations

import hashlib

import pytest

from tests.bridge.fakes import ScriptedSecrets, keys_of
from tests.bridge.support import SECRETS_URI, a2a_client_run, bridged, record_from_url
from tests.interop.bridge_peer import peer_client_run
from tests.interop.conftest import RunningPeer

OPENAI = "sk-CANARY-a2a1-0123456789"
GITHUB = "ghp_CANARY_a2a1_abcdef012345"


def proof(key: str, value: str, via: str) -> str:
    return f"{key}: len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]} via={via}"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("streaming", "binding"),
    [(True, "JSONRPC"), (False, "JSONRPC"), (True, "HTTP+JSON"), (False, "HTTP+JSON")],
    ids=["jsonrpc-stream", "jsonrpc-blocking", "rest-stream", "rest-blocking"],
)
async def test_v10_client_preflight_and_runtime(
    a2a1_agent: RunningPeer, streaming: bool, binding: str
) -> None:
    secrets = ScriptedSecrets({"openai": OPENAI, "github": GITHUB, "extra": "extra-CANARY-a2a1"})
    async with bridged(record_from_url(a2a1_agent.base_url), secrets) as bridge:
        run = await a2a_client_run(bridge.url(), "go keys=openai,extra", streaming=streaming, binding=binding)
    assert run.state == "TASK_STATE_COMPLETED"
    assert proof("openai", OPENAI, "preconfigured") in run.text
    assert proof("extra", "extra-CANARY-a2a1", "runtime") in run.text
    assert [(c.phase, c.keys) for c in secrets.calls] == [
        ("preflight", ("github", "openai")),
        ("runtime", ("extra",)),
    ]
    for value in (OPENAI, GITHUB, "extra-CANARY-a2a1"):
        assert value.encode() not in run.received


@pytest.mark.asyncio
async def test_v10_client_decline_gets_the_agents_own_answer(a2a1_agent: RunningPeer) -> None:
    secrets = ScriptedSecrets({})
    async with bridged(record_from_url(a2a1_agent.base_url), secrets) as bridge:
        run = await a2a_client_run(bridge.url(), "go keys=openai")
    # Resumed without the value, this agent fails the task by itself (it has no fallback).
    assert run.state == "TASK_STATE_FAILED"
    assert "missing: openai" in run.text
    assert keys_of(secrets.calls) == [("github", "openai")]  # pre-flight only: the decline is remembered


@pytest.mark.asyncio
async def test_v10_extension_client_decline_gets_the_auth_required(a2a1_agent: RunningPeer) -> None:
    secrets = ScriptedSecrets({})
    async with bridged(record_from_url(a2a1_agent.base_url), secrets) as bridge:
        run = await a2a_client_run(bridge.url(), "go keys=openai", extensions=[SECRETS_URI])
    assert run.state == "TASK_STATE_AUTH_REQUIRED"
    assert "openai" in run.task["status"]["message"]["metadata"][SECRETS_URI]["secret_demands"]  # type: ignore[index]
    assert keys_of(secrets.calls) == [("github", "openai")]  # pre-flight only: the decline is remembered


@pytest.mark.asyncio
@pytest.mark.parametrize("flags", [(), ("--no-stream",), ("--rest", "--no-stream")], ids=str)
async def test_a2a_03_client_through_the_bridge_to_a_10_agent(
    a2a1_agent: RunningPeer, flags: tuple[str, ...]
) -> None:
    secrets = ScriptedSecrets({"openai": OPENAI, "github": GITHUB, "extra": "extra-CANARY-mixed"})
    async with bridged(record_from_url(a2a1_agent.base_url), secrets) as bridge:
        result = await peer_client_run(bridge.url(), "go keys=github,extra", *flags)
    assert result["state"] == "completed"
    assert proof("extra", "extra-CANARY-mixed", "runtime") in result["raw"]
    for value in (OPENAI, GITHUB, "extra-CANARY-mixed"):
        assert value not in result["raw"]
