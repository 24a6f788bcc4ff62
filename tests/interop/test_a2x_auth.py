# SPDX-License-Identifier: Apache-2.0
"""A card credential refused the A2X way (PROTOCOL pitfall 28, seed 004), through the bridge.

The agent (tests/interop/agents/a2x_auth_agent.py, a2a-sdk 1.x) answers a bad or missing API key or
bearer token with a task in `auth-required` (HTTP 200; a stream: one status event, then close) and
with `-32600` on `tasks/get` and `tasks/cancel`. The bridge (real broker, memory vault, scripted
prompter) then asks for the credential again and re-sends the client's original request once, a
stream on a new upstream stream, never a resume of the refused task; a second refusal reaches the
client unchanged. The client is a plain a2a-sdk client that holds no credential.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keybroker.core.broker.prompts import NewValue, PromptAnswer
from keybroker.core.models import AuditDecision, GrantScope, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.support import a2a_client_run, bridged, jsonrpc, record_from_url
from tests.core.broker.test_broker import make_broker
from tests.fakes import ScriptedPrompter
from tests.interop.conftest import RunningPeer

SECRET = "kb-CANARY-a2x-good-0123456789"
STALE = "kb-CANARY-a2x-stale-9876543210"
WRONG = "kb-CANARY-a2x-wrong-5555555555"
ROTATED = "kb-CANARY-a2x-rotated-7777777"
SCHEME = {"header": "apiKey", "bearer": "bearer"}
StartPeer = Callable[..., RunningPeer]
SENDS = ("send", "stream")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


def a2x_peer(
    start_peer: StartPeer, services: Services, kind: str = "header", version: str = "both"
) -> RunningPeer:
    """The A2X-like agent accepting SECRET, known as `peer`, STALE stored for it under an always grant."""
    env = {
        "KEYBROKER_PEER_SECRET": SECRET,
        "KEYBROKER_PEER_A2X_SCHEME": kind,
        "KEYBROKER_PEER_A2X_VERSION": version,
    }
    peer = start_peer("a2x", env=env)
    services.catalog.upsert_agent(record_from_url(peer.base_url))
    services.secrets.set(SCHEME[kind], SecretValue(STALE), owner="peer", scheme=SCHEME[kind])
    return peer


def typed(kind: str, value: str) -> PromptAnswer:
    return PromptAnswer.grant(GrantScope.ALWAYS, {SCHEME[kind]: NewValue(SecretValue(value))})


def calls(peer: RunningPeer, *methods: str) -> list[dict[str, Any]]:
    """What the agent saw (its debug log), the calls of `methods` only."""
    seen: list[dict[str, Any]] = httpx.get(f"{peer.base_url}/debug/requests", trust_env=False).json()
    return [c for c in seen if c["method"] in methods]


def last_state(events: list[dict[str, Any]]) -> str:
    last = events[-1]
    return str((last.get("task") or last["statusUpdate"])["status"]["state"])


def decisions(services: Services, kind: str) -> list[AuditDecision]:
    return [e.decision for e in services.audit.events() if e.key == SCHEME[kind]]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["header", "bearer"])
@pytest.mark.parametrize(
    ("streaming", "version"),
    [(True, "both"), (False, "both"), (True, "0.3"), (False, "0.3")],
    ids=["stream-1.0", "blocking-1.0", "stream-0.3", "blocking-0.3"],
)
async def test_a_refused_credential_is_asked_for_again_and_the_original_request_sent_again(
    start_peer: StartPeer, services: Services, kind: str, streaming: bool, version: str
) -> None:
    peer = a2x_peer(start_peer, services, kind, version)
    prompter = ScriptedPrompter(typed(kind, SECRET))
    async with bridged(services.catalog.get_agent("peer"), make_broker(services, prompter)) as bridge:
        run = await a2a_client_run(bridge.url(), "hello a2x", streaming=streaming)
    assert run.state == "TASK_STATE_COMPLETED", run.events
    assert "echo: hello a2x" in run.text
    # Asked once, for the stored value the agent refused; the audit says so.
    (request,) = prompter.requests
    assert request.items[0].stored is not None and "refused" in request.items[0].reason
    assert decisions(services, kind)[:4] == [
        AuditDecision.CREATED,
        AuditDecision.RELEASED,
        AuditDecision.REFUSED,
        AuditDecision.UPDATED,
    ]
    # The same request twice, each a new exchange of the same kind: not a resume of the refused task.
    sends = calls(peer, *SENDS)
    assert [c["accepted"] for c in sends] == [False, True]
    assert len({c["method"] for c in sends}) == 1
    assert sends[0]["message_id"] == sends[1]["message_id"]
    assert [c["text"] for c in sends] == ["hello a2x", "hello a2x"]
    assert [c["task_id"] for c in sends] == ["", ""]
    for value in (SECRET, STALE):
        assert value.encode() not in run.received


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "blocking"])
@pytest.mark.parametrize("answer", ["wrong", "decline"])
async def test_a_second_refusal_reaches_the_client_unchanged(
    start_peer: StartPeer, services: Services, streaming: bool, answer: str
) -> None:
    peer = a2x_peer(start_peer, services)
    reply = typed("header", WRONG) if answer == "wrong" else PromptAnswer.deny("no")
    prompter = ScriptedPrompter(reply)
    async with bridged(services.catalog.get_agent("peer"), make_broker(services, prompter)) as bridge:
        # No tasks/get afterwards: A2X keeps no refused task, there would be nothing to get.
        run = await a2a_client_run(bridge.url(), "hello again", streaming=streaming, fetch=False)
    assert last_state(run.events) == "TASK_STATE_AUTH_REQUIRED", run.events
    assert "Authentication required" in run.text  # the agent's own words
    assert len(prompter.requests) == 1
    assert [c["accepted"] for c in calls(peer, *SENDS)] == ([False, False] if answer == "wrong" else [False])
    for value in (STALE, WRONG):
        assert value.encode() not in run.received


@pytest.mark.asyncio
async def test_minus_32600_on_tasks_get_and_cancel_is_retried_once_with_a_fresh_credential(
    start_peer: StartPeer, services: Services
) -> None:
    peer = a2x_peer(start_peer, services)
    services.secrets.set("apiKey", SecretValue(SECRET), owner="peer", scheme="apiKey")
    prompter = ScriptedPrompter(typed("header", ROTATED), typed("header", WRONG))
    async with (
        bridged(services.catalog.get_agent("peer"), make_broker(services, prompter)) as bridge,
        httpx.AsyncClient(trust_env=False, timeout=60) as client,
    ):
        run = await a2a_client_run(bridge.url(), "before the rotation", streaming=False, fetch=False)
        assert last_state(run.events) == "TASK_STATE_COMPLETED" and prompter.requests == []
        task_id = run.events[-1]["task"]["id"]
        # The agent's key is rotated: the stored one now gets -32600 on a call that is not a send.
        httpx.post(f"{peer.base_url}/debug/secret", json={"secret": ROTATED}, trust_env=False)
        got = (await client.post(bridge.url(), json=jsonrpc("tasks/get", {"id": task_id}))).json()
        assert got["result"]["status"]["state"] == "completed", got
        httpx.post(f"{peer.base_url}/debug/secret", json={"secret": SECRET}, trust_env=False)
        canceled = (await client.post(bridge.url(), json=jsonrpc("tasks/cancel", {"id": task_id}))).json()
    # get: refused, asked, retried with the rotated key. cancel: refused, asked, the wrong key refused
    # again, and that second -32600 goes to the client.
    assert [c["accepted"] for c in calls(peer, "get")] == [False, True]
    assert [c["accepted"] for c in calls(peer, "cancel")] == [False, False]
    assert canceled["error"]["code"] == -32600, canceled
    assert "Authentication required" in canceled["error"]["message"]
    assert len(prompter.requests) == 2
    for text in (str(got), str(canceled)):
        for value in (SECRET, ROTATED, WRONG):
            assert value not in text
