# SPDX-License-Identifier: Apache-2.0
"""The bridge with the official JS SDK on either side (@a2a-js/sdk 1.x, and 0.3 as a client).

- As a client: `ClientFactory.createFromUrl(<bridged URL>)`, the URL pasted verbatim as Keybroker shows
  it (`bridged_url`, INTERFACES "Bridge"). The JS resolver reads `new URL('.well-known/agent-card.json',
  base)` (PROTOCOL pitfall 25), so only the form with the trailing slash finds the bridged card.
- As an agent: the bridge fronts a JS 1.x agent (A2A 1.0), its secret demands fulfilled pre-flight
  and at run time, for a Python client and for the JS client.
Values are canaries: none may reach a client.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import replace

import pytest

from keybroker.core.agents.status import bridged_url
from tests.bridge.fakes import ScriptedSecrets, keys_of
from tests.bridge.support import a2a_client_run, bridged, record_from_url
from tests.interop.conftest import RunningPeer
from tests.peers import a2a_js
from tests.peers.a2a_js import V03, V1, A2AJsAgent, SdkLine
from tests.peers.process import PeerError, skip_if_missing

OPENAI = "sk-CANARY-js-0123456789"
GITHUB = "ghp_CANARY_js_abcdef012345"
EXTRA = "extra-CANARY-js-runtime"
API_KEY = "js-CANARY-api-key-424242"


def proof(key: str, value: str, via: str) -> str:
    return f"{key}: len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]} via={via}"


def js_proof(key: str, value: str) -> str:
    return f"{key} sha256={hashlib.sha256(value.encode()).hexdigest()}"


@pytest.fixture(scope="module")
def js_agent() -> Iterator[A2AJsAgent]:
    with skip_if_missing(), a2a_js.a2a_js_agent(line=V1) as running:
        yield running


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True], ids=["blocking", "stream"])
@pytest.mark.parametrize("line", [V1, V03], ids=["js-1.x", "js-0.3"])
async def test_the_bridged_url_works_verbatim_in_the_js_client(
    a2a1_agent: RunningPeer, line: SdkLine, stream: bool
) -> None:
    secrets = ScriptedSecrets({"openai": OPENAI, "github": GITHUB, "extra": EXTRA})
    async with bridged(record_from_url(a2a1_agent.base_url), secrets) as bridge:
        url = bridged_url("peer", bridge.port)
        with skip_if_missing():
            done = await _run_client(url, "go keys=openai,extra", stream=stream, line=line)
    assert done.state in ("TASK_STATE_COMPLETED", "completed"), done.result
    assert proof("openai", OPENAI, "preconfigured") in done.artifact_text()
    assert proof("extra", EXTRA, "runtime") in done.artifact_text()
    assert [(c.phase, c.keys) for c in secrets.calls] == [
        ("preflight", ("github", "openai")),
        ("runtime", ("extra",)),
    ]
    for value in (OPENAI, GITHUB, EXTRA):
        assert value not in str(done.result) + done.stderr


@pytest.mark.asyncio
async def test_without_the_slash_the_js_client_misses_the_card(a2a1_agent: RunningPeer) -> None:
    """Why the bridged URL ends with "/": the JS resolver drops the last path segment (pitfall 25)."""
    async with bridged(record_from_url(a2a1_agent.base_url), ScriptedSecrets({})) as bridge:
        with skip_if_missing(), pytest.raises(PeerError) as failed:
            await _run_client(bridged_url("peer", bridge.port).rstrip("/"), "hi", line=V1)
    assert "/agents/.well-known/agent-card.json" in str(failed.value) or "404" in str(failed.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "blocking"])
async def test_the_bridge_fronts_a_js_agent_and_fulfils_its_demand(
    js_agent: A2AJsAgent, streaming: bool
) -> None:
    secrets = ScriptedSecrets({"api_key": API_KEY})
    record = record_from_url(js_agent.url)
    assert [d.key for d in record.demands] == ["api_key"]
    async with bridged(record, secrets) as bridge:
        run = await a2a_client_run(bridged_url("peer", bridge.port), "/secret please", streaming=streaming)
    assert run.state == "TASK_STATE_COMPLETED", run.events
    joined = "".join(p.get("text", "") for a in run.task["artifacts"] for p in a["parts"])  # type: ignore[index]
    assert js_proof("api_key", API_KEY) in joined  # the agent streams it in 4-character chunks
    assert keys_of(secrets.calls) == [("api_key",)]  # pre-flight: the card declares it
    assert API_KEY.encode() not in run.received


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "blocking"])
async def test_js_client_to_js_agent_with_a_run_time_demand(js_agent: A2AJsAgent, stream: bool) -> None:
    """Both ends on @a2a-js/sdk 1.x; the demand reaches the bridge only at run time and is resumed there."""
    secrets = ScriptedSecrets({"api_key": API_KEY})
    record = replace(record_from_url(js_agent.url), demands=())  # as if the card declared nothing
    async with bridged(record, secrets) as bridge:
        with skip_if_missing():
            done = await _run_client(
                bridged_url("peer", bridge.port), "/secret please", stream=stream, line=V1
            )
    assert done.state == "TASK_STATE_COMPLETED", done.result
    assert js_proof("api_key", API_KEY) in done.artifact_text()
    assert [(c.phase, c.keys) for c in secrets.calls] == [("runtime", ("api_key",))]
    if stream:
        states = [e["statusUpdate"]["status"]["state"] for e in done.events if "statusUpdate" in e]
        assert "TASK_STATE_AUTH_REQUIRED" not in states
    assert API_KEY not in str(done.result) + done.stderr


async def _run_client(url: str, text: str, **kwargs: object) -> a2a_js.ClientResult:
    """`run_client` off the event loop (it waits for a node process while the bridge serves it)."""
    return await asyncio.to_thread(lambda: a2a_js.run_client(url, text, **kwargs))  # type: ignore[arg-type]
