# SPDX-License-Identifier: Apache-2.0
"""A run-time demand answered on the fast path from a grant (fast_resume.py), on the real broker.

A real a2a-sdk 1.x agent (scripted_agent.py, `ask KEY ...`) on a loopback port behind the real bridge,
the real broker over a real catalog and audit log (test_fast_grant.py's rig), and a plain JSON-RPC
client in both versions, sending and streaming. Each granted demand is one audited release in the
chain, the task is resumed through the fast hop (the full path's resume loop is not used), a revoke
between the agent's demand and the release releases nothing, and no value reaches the client in any
answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from keybroker.core.bridge.fast_path import PATH_ENV
from keybroker.core.bridge.ports import Phase
from keybroker.core.broker.prompts import PromptAnswer
from keybroker.core.models import AgentRecord, AuditDecision, AuditEvent, SecretDemand, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.joining_client import leaks
from tests.bridge.support import jsonrpc, message_v03, message_v10, sse_payloads
from tests.bridge.test_fast_grant import VALUE, Rig, _rig

OTHER = "FastResume-CANARY-3e8f1b-L8642rst"
THIRD = "FastResume-CANARY-third-6a2c9d-M9753uvw"
V10 = {"A2A-Version": "1.0"}


@pytest.fixture(autouse=True)
def _fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PATH_ENV, "fast")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


async def _send(rig: Rig, version: str, text: str) -> tuple[dict[str, Any], str]:
    if version == "1.0":
        body = jsonrpc("SendMessage", {"message": message_v10(text)})
        answer = await rig.client.post(f"/agents/{rig.record.slug}", json=body, headers=V10)
    else:
        body = jsonrpc("message/send", {"message": message_v03(text)})
        answer = await rig.client.post(f"/agents/{rig.record.slug}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.text


async def _stream(rig: Rig, version: str, text: str) -> tuple[list[dict[str, Any]], str]:
    if version == "1.0":
        body, headers = jsonrpc("SendStreamingMessage", {"message": message_v10(text)}), V10
    else:
        body, headers = jsonrpc("message/stream", {"message": message_v03(text)}), {}
    answer = await rig.client.post(f"/agents/{rig.record.slug}", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return sse_payloads(answer.text), answer.text


def _last_state(events: list[dict[str, Any]]) -> str:
    for event in reversed(events):
        result = event.get("result") or {}
        inner = result.get("statusUpdate") or result.get("task") or result
        state = (inner.get("status") or {}).get("state")
        if state:
            return str(state)
    return ""


async def _get(rig: Rig, version: str, task_id: str) -> tuple[dict[str, Any], str]:
    method, headers = ("GetTask", V10) if version == "1.0" else ("tasks/get", {})
    body = jsonrpc(method, {"id": task_id})
    answer = await rig.client.post(f"/agents/{rig.record.slug}", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.text


def _task(payload: dict[str, Any]) -> dict[str, Any]:
    result = payload["result"]
    return dict(result.get("task", result))


def _completed(task: dict[str, Any]) -> bool:
    return task["status"]["state"] in ("completed", "TASK_STATE_COMPLETED")


def _released(services: Services) -> list[AuditEvent]:
    return [e for e in services.audit.events() if e.decision is AuditDecision.RELEASED]


def _no_leak(shown: Sequence[tuple[dict[str, Any] | list[dict[str, Any]], str]]) -> None:
    for payload, body in shown:
        for value in (VALUE, OTHER, THIRD):
            assert value not in body
            assert leaks(value, payload if isinstance(payload, list) else [payload], body) == [], value


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_two_granted_runtime_demands_are_released_once_each_in_the_chain_on_the_fast_path(
    services: Services, version: str
) -> None:
    async with _rig(services) as rig:
        services.secrets.set("other", SecretValue(OTHER), owner=rig.record.slug)
        services.secrets.set("third", SecretValue(THIRD), owner=rig.record.slug)
        payload, body = await _send(rig, version, "ask other third")
        assert (rig.fast.served, rig.fast.handed_over, rig.fast.resumed) == (1, 0, 2)
        task = _task(payload)
        fetched = await _get(rig, version, task["id"])
    assert _completed(task), body
    text = json.dumps(payload)
    assert f"got other len={len(OTHER)}" in text and f"got third len={len(THIRD)}" in text
    assert rig.prompter.requests == []
    released = _released(services)
    assert [(e.key, e.detail) for e in released] == [
        ("k", "preflight"),
        ("other", "runtime"),
        ("third", "runtime"),
    ]
    assert {(e.task_id, e.context_id) for e in released[1:]} == {(task["id"], task["contextId"])}
    assert [services.catalog.list_secrets(key=k)[0].use_count for k in ("k", "other", "third")] == [1, 1, 1]
    assert services.audit.verify().ok
    _no_leak([(payload, body), fetched])


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_revoke_between_the_demand_and_the_release_releases_nothing(
    services: Services, version: str
) -> None:
    """The grant for `other` is revoked after the agent asked and before the broker releases: the
    fast path's one call releases nothing, and the full path asks the user (who declines)."""
    async with _rig(services) as rig:
        services.secrets.set("other", SecretValue(OTHER), owner=rig.record.slug)
        secret_id = services.catalog.list_secrets(key="other")[0].secret_id
        (grant,) = services.catalog.list_grants(agent=rig.record.slug, secret_id=secret_id)
        broker = rig.broker
        real = broker.fulfil_if_granted

        async def revoked_first(
            agent: AgentRecord, demands: Sequence[SecretDemand], *, phase: Phase, **kw: Any
        ) -> Any:
            if phase == "runtime":
                services.grants.revoke(grant.grant_id)
            return await real(agent, demands, phase=phase, **kw)

        broker.fulfil_if_granted = revoked_first  # type: ignore[method-assign]
        payload, body = await _send(rig, version, "ask other")
        assert (rig.fast.served, rig.fast.handed_over, rig.fast.resumed) == (1, 1, 0)
        assert [[i.key for i in r.items] for r in rig.prompter.requests] == [["other"]]
    # Declined: the plain client's task resumed without it, the agent's own fallback ran (pitfall 27).
    assert "missing other" in json.dumps(payload), body
    assert [e.key for e in _released(services)] == ["k"]
    assert services.catalog.list_secrets(key="other")[0].use_count == 0
    assert services.audit.verify().ok
    _no_leak([(payload, body)])


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_granted_demand_then_one_that_needs_a_prompt_releases_each_once(
    services: Services, version: str
) -> None:
    """`other` is granted (resumed on the fast path), `third` is not: the full path takes the run over
    where it stands, asks for `third` alone and resumes the same task."""
    async with _rig(services) as rig:
        services.secrets.set("other", SecretValue(OTHER), owner=rig.record.slug)
        services.secrets.set("third", SecretValue(THIRD))  # stored, not granted to the agent
        rig.prompter.queue(PromptAnswer.grant())
        payload, body = await _send(rig, version, "ask other third")
        assert (rig.fast.served, rig.fast.handed_over, rig.fast.resumed) == (1, 1, 1)
        assert [[i.key for i in r.items] for r in rig.prompter.requests] == [["third"]]
        task = _task(payload)
        fetched = await _get(rig, version, task["id"])
    assert _completed(task), body
    assert f"got third len={len(THIRD)}" in json.dumps(payload)
    released = _released(services)
    assert [(e.key, (e.detail or "").split(":")[0]) for e in released] == [
        ("k", "preflight"),
        ("other", "runtime"),
        ("third", "runtime"),  # "runtime: prompt <id>"
    ]
    assert services.audit.verify().ok
    _no_leak([(payload, body), fetched])


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_two_granted_runtime_demands_mid_stream_are_released_once_each_on_the_fast_path(
    services: Services, version: str
) -> None:
    async with _rig(services) as rig:
        services.secrets.set("other", SecretValue(OTHER), owner=rig.record.slug)
        services.secrets.set("third", SecretValue(THIRD), owner=rig.record.slug)
        events, body = await _stream(rig, version, "ask other third")
        streams = rig.fast.streams
        assert (rig.fast.served, streams.handed_over, streams.resumed) == (1, 0, 2)
    assert _last_state(events) in ("completed", "TASK_STATE_COMPLETED"), body[-2000:]
    assert f"got other len={len(OTHER)}" in body and f"got third len={len(THIRD)}" in body
    assert "AUTH_REQUIRED" not in body and "auth-required" not in body  # answered, never shown
    assert rig.prompter.requests == []
    released = _released(services)
    assert [(e.key, e.detail) for e in released] == [
        ("k", "preflight"),
        ("other", "runtime"),
        ("third", "runtime"),
    ]
    assert services.audit.verify().ok
    _no_leak([(events, body)])


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_revoke_before_the_release_mid_stream_releases_nothing(
    services: Services, version: str
) -> None:
    async with _rig(services) as rig:
        services.secrets.set("other", SecretValue(OTHER), owner=rig.record.slug)
        secret_id = services.catalog.list_secrets(key="other")[0].secret_id
        (grant,) = services.catalog.list_grants(agent=rig.record.slug, secret_id=secret_id)
        real = rig.broker.fulfil_if_granted

        async def revoked_first(
            agent: AgentRecord, demands: Sequence[SecretDemand], *, phase: Phase, **kw: Any
        ) -> Any:
            if phase == "runtime":
                services.grants.revoke(grant.grant_id)
            return await real(agent, demands, phase=phase, **kw)

        rig.broker.fulfil_if_granted = revoked_first  # type: ignore[method-assign]
        events, body = await _stream(rig, version, "ask other")
        streams = rig.fast.streams
        assert (streams.handed_over, streams.resumed) == (1, 0)
        assert [[i.key for i in r.items] for r in rig.prompter.requests] == [["other"]]
    assert "missing other" in body, body[-2000:]
    assert [e.key for e in _released(services)] == ["k"]
    assert services.audit.verify().ok
    _no_leak([(events, body)])


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_an_agent_asking_again_for_a_key_it_was_given_gets_it_no_second_time(
    services: Services, version: str
) -> None:
    """As on the full path: a key answered in this run is not asked for or released again; a plain
    client's task is resumed without it once (the agent's fallback runs), by the full path."""
    async with _rig(services) as rig:
        services.secrets.set("other", SecretValue(OTHER), owner=rig.record.slug)
        payload, body = await _send(rig, version, "ask other other")
        assert (rig.fast.handed_over, rig.fast.resumed) == (1, 1)
    text = json.dumps(payload)
    assert f"got other len={len(OTHER)}" in text and "missing other" in text, body
    assert _completed(_task(payload)), body
    assert rig.prompter.requests == []
    assert [e.key for e in _released(services)] == ["k", "other"]
    assert services.audit.verify().ok
    _no_leak([(payload, body)])
