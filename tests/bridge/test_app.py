# SPDX-License-Identifier: Apache-2.0
"""The bridge app in-process: a2a-sdk 1.x agents behind `httpx.ASGITransport`, clients speaking raw
JSON-RPC and HTTP+JSON in both protocol versions. The real-agent runs are in tests/interop."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.bridge import BridgeApp
from keybroker.core.bridge.masking import MASK
from keybroker.core.models import AgentRecord, SecretValue
from tests.bridge.fakes import ScriptedSecrets, keys_of
from tests.bridge.scripted_agent import scripted_app, scripted_card
from tests.bridge.support import (
    SECRETS_URI,
    jsonrpc,
    message_v03,
    message_v10,
    record_from_card,
    sse_payloads,
)
from tests.interop.agents import a2a1_agent

BRIDGE = "http://127.0.0.1:7411"
AGENT = "http://127.0.0.1:10001"
GITHUB = "ghp_CANARY_github_0123456789"
OPENAI = "sk-CANARY-openai-9876543210"
V10 = {"A2A-Version": "1.0"}


def proof(value: str) -> str:
    return f"len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]}"


@dataclass
class Rig:
    client: httpx.AsyncClient
    secrets: ScriptedSecrets
    record: AgentRecord
    app: BridgeApp

    async def rpc(self, method: str, params: dict[str, Any], *, path: str = "/agents/peer", **kw: Any) -> Any:
        response = await self.client.post(path, json=jsonrpc(method, params), **kw)
        assert response.status_code == 200, response.text
        return response.json()

    async def stream(self, method: str, params: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
        response = await self.client.post("/agents/peer", json=jsonrpc(method, params), **kw)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        return sse_payloads(response.text)


class HeaderLog(httpx.AsyncBaseTransport):
    """An in-process upstream that remembers the headers of every request sent to the agent."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.headers: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)
        return await self.inner.handle_async_request(request)


@asynccontextmanager
async def rig(
    kind: str = "a2a1",
    values: dict[str, str] | None = None,
    *,
    demands: dict[str, dict[str, str]] | None = None,
    api_token: str | None = None,
    follow_streams: bool = False,
    upstream_log: list[HeaderLog] | None = None,
    **record_changes: Any,
) -> AsyncIterator[Rig]:
    """A bridge fronting one in-process agent as slug `peer`."""
    if kind == "a2a1":
        card = a2a1_agent.build_card(AGENT)
        agent_app = a2a1_agent.build_app(10001)
    else:
        card = scripted_card(AGENT, demands)
        agent_app = scripted_app(card)
    record = replace(record_from_card(agent_card_to_dict(card), "peer", url=AGENT), **record_changes)
    secrets = ScriptedSecrets(dict(values or {}))
    upstream = HeaderLog(httpx.ASGITransport(app=agent_app))
    if upstream_log is not None:
        upstream_log.append(upstream)
    app = BridgeApp(
        {"peer": record}.get,
        secrets,
        api_token=SecretValue(api_token) if api_token else None,
        caller=None,
        follow_streams=follow_streams,
        transport=upstream,
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BRIDGE, timeout=30) as client:
            yield Rig(client, secrets, record, app)
    finally:
        await app.aclose()


def _text(data: Any) -> str:
    return json.dumps(data)


def _artifact_text_v03(task: dict[str, Any]) -> str:
    return "\n".join(p.get("text", "") for a in task.get("artifacts", []) for p in a["parts"])


# The card ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_card_offers_both_versions_at_exactly_the_bridged_url() -> None:
    async with rig() as r:
        response = await r.client.get("/agents/peer/.well-known/agent-card.json")
    assert response.status_code == 200
    card = response.json()
    url = f"{BRIDGE}/agents/peer"
    offered = {(i["protocolBinding"], i["protocolVersion"]) for i in card["supportedInterfaces"]}
    assert offered == {("JSONRPC", "1.0"), ("HTTP+JSON", "1.0"), ("JSONRPC", "0.3"), ("HTTP+JSON", "0.3")}
    assert {i["url"] for i in card["supportedInterfaces"]} == {url}
    # The 0.3 view a legacy client reads.
    assert card["url"] == url
    assert card["protocolVersion"].startswith("0.3")
    assert card["preferredTransport"] == "JSONRPC"
    assert all(i["url"] == url for i in card.get("additionalInterfaces", []))
    # Kept from the agent's own card.
    original = agent_card_to_dict(a2a1_agent.build_card(AGENT))
    assert card["name"] == original["name"]
    assert card["skills"] == original["skills"]
    assert card["capabilities"]["extensions"] == original["capabilities"]["extensions"]
    assert card["capabilities"]["streaming"] is True
    # Its API key and bearer schemes are the bridge's to send: a client is not told to send one.
    assert set(original["securitySchemes"]) == {"apiKey", "bearer"}
    assert "securitySchemes" not in card and "security" not in card and "securityRequirements" not in card
    assert AGENT not in _text(card)


@pytest.mark.asyncio
async def test_card_of_a_require_token_agent_declares_the_bridge_token_and_stays_public() -> None:
    async with rig(require_token=True, api_token="kb-token") as r:
        response = await r.client.get("/agents/peer/.well-known/agent-card.json")
    assert response.status_code == 200
    card = response.json()
    assert list(card["securitySchemes"]) == ["keybroker_token"]
    assert card["securityRequirements"] == [{"schemes": {"keybroker_token": {}}}]


# Routing and errors ------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path", ["/agents/nobody", "/agents/nobody/", "/agents/nobody/.well-known/agent-card.json"]
)
async def test_unknown_slug_is_a_json_404(path: str) -> None:
    async with rig() as r:
        response = await r.client.post(path, json=jsonrpc("message/send", {}))
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_agent"
    assert "nobody" in response.json()["message"]


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/", "/agents/", "/api/v1/status", "/agents/peer/no/such/thing"])
async def test_other_paths_are_json_404s(path: str) -> None:
    async with rig() as r:
        response = await r.client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] in {"not_found", "unknown_agent"}


@pytest.mark.asyncio
async def test_malformed_stored_card_is_a_clear_502() -> None:
    async with rig(card_json='{"name": "x", "supportedInterfaces": "not a list"}') as r:
        card = await r.client.get("/agents/peer/.well-known/agent-card.json")
        rpc = await r.client.post(
            "/agents/peer", json=jsonrpc("message/send", {"message": message_v03("hi")})
        )
    for response in (card, rpc):
        assert response.status_code == 502
        assert response.json()["error"] == "bad_agent_card"
        assert "Traceback" not in response.text


@pytest.mark.asyncio
async def test_require_token_agent_answers_only_with_the_api_token() -> None:
    body = jsonrpc("message/send", {"message": message_v03("hi keys=github")})
    async with rig(values={"github": GITHUB}, require_token=True, api_token="kb-token") as r:
        missing = await r.client.post("/agents/peer", json=body)
        wrong = await r.client.post("/agents/peer", json=body, headers={"Authorization": "Bearer nope"})
        right = await r.client.post("/agents/peer", json=body, headers={"Authorization": "Bearer kb-token"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert right.status_code == 200
    assert right.json()["result"]["status"]["state"] == "completed"


# JSON-RPC, both versions, both paths -------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/agents/peer", "/agents/peer/"])
async def test_v03_and_v10_json_rpc_on_both_paths_without_redirect(path: str) -> None:
    async with rig(values={"github": GITHUB, "openai": OPENAI}) as r:
        old = await r.client.post(path, json=jsonrpc("message/send", {"message": message_v03("hi")}))
        new = await r.client.post(
            path, json=jsonrpc("SendMessage", {"message": message_v10("hi")}), headers=V10
        )
    assert old.status_code == new.status_code == 200  # never a 307
    assert old.json()["result"]["kind"] == "task"
    assert old.json()["result"]["status"]["state"] == "completed"
    assert new.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


@pytest.mark.asyncio
async def test_v10_method_without_version_header_is_refused_by_the_sdk() -> None:
    async with rig() as r:
        answer = await r.rpc("SendMessage", {"message": message_v10("hi")})
    assert answer["error"]["code"] == -32009


# Secrets: pre-configured -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_preflight_fulfils_all_declared_demands_once_and_masks_the_echo() -> None:
    async with rig(values={"github": GITHUB, "openai": OPENAI}) as r:
        answer = await r.rpc(
            "message/send", {"message": message_v03("hi"), "configuration": {"blocking": True}}
        )
        calls = list(r.secrets.calls)
    task = answer["result"]
    assert task["status"]["state"] == "completed"
    proofs = _artifact_text_v03(task)
    assert f"github: {proof(GITHUB)} via=preconfigured" in proofs
    assert f"openai: {proof(OPENAI)} via=preconfigured" in proofs
    assert keys_of(calls) == [("github", "openai")]
    assert calls[0].phase == "preflight" and calls[0].task_id is None
    # The agent echoed the user message, metadata and all: masked.
    text = _text(answer)
    assert GITHUB not in text and OPENAI not in text
    history_meta = task["history"][0]["metadata"][SECRETS_URI]["secret_fulfillments"]
    assert history_meta == {"github": {"secret": MASK}, "openai": {"secret": MASK}}


@pytest.mark.asyncio
async def test_client_fulfilments_pass_through_and_are_not_prompted_for() -> None:
    mine = "ghp_client_own_value_42"
    metadata = {SECRETS_URI: {"secret_fulfillments": {"github": {"secret": mine}}}}
    async with rig(values={"github": GITHUB, "openai": OPENAI}) as r:
        answer = await r.rpc("message/send", {"message": message_v03("hi", metadata=metadata)})
        calls = list(r.secrets.calls)
    proofs = _artifact_text_v03(answer["result"])
    assert f"github: {proof(mine)} via=preconfigured" in proofs  # the client's value, not ours
    assert f"openai: {proof(OPENAI)} via=preconfigured" in proofs
    assert keys_of(calls) == [("openai",)]
    assert mine not in _text(answer)  # masked on the way back too


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "fulfilments",
    [{"github": "bare-string"}, {"github": {"secret": 5}}, "not-an-object", {"github": {"value": "x"}}],
)
async def test_malformed_client_fulfilments_are_refused_before_forwarding(fulfilments: object) -> None:
    metadata = {SECRETS_URI: {"secret_fulfillments": fulfilments}}
    async with rig(values={"github": GITHUB}) as r:
        answer = await r.rpc("message/send", {"message": message_v03("hi", metadata=metadata)})
        assert r.secrets.calls == []
    assert answer["error"]["code"] == -32602
    assert "secret_fulfillments" in answer["error"]["message"]
    assert "bare-string" not in _text(answer)


@pytest.mark.asyncio
async def test_preflight_decline_forwards_without_values_and_the_agent_answers_by_itself() -> None:
    async with rig(values={}) as r:  # the user declines everything
        answer = await r.rpc("message/send", {"message": message_v03("hi keys=github")})
        calls = list(r.secrets.calls)
    task = answer["result"]
    # The agent asks at run time; the declined key is not asked again, and this client (which never
    # asked for the secrets extension) would be stuck on an auth-required: the task is resumed with
    # no value for it, and the agent answers as it does without one (this one fails the task).
    assert task["status"]["state"] == "failed"
    assert "missing: github" in _text(answer)
    assert keys_of(calls) == [("github", "openai")]


@pytest.mark.asyncio
@pytest.mark.parametrize("header", ["X-A2A-Extensions", "A2A-Extensions"])
async def test_preflight_decline_hands_the_demand_to_a_client_that_asked_for_the_extension(
    header: str,
) -> None:
    async with rig(values={}) as r:
        answer = await r.rpc(
            "message/send", {"message": message_v03("hi keys=github")}, headers={header: SECRETS_URI}
        )
        calls = list(r.secrets.calls)
    task = answer["result"]
    # The agent's own auth-required reaches the client unchanged; the declined key is not asked again.
    assert task["status"]["state"] == "auth-required"
    demands = task["status"]["message"]["metadata"][SECRETS_URI]["secret_demands"]
    assert set(demands) == {"github"}
    assert keys_of(calls) == [("github", "openai")]


# Secrets: at run time ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_runtime_demand_is_answered_and_resumed_blocking_v10() -> None:
    async with rig("scripted", values={"extra": "extra-CANARY-value"}) as r:
        answer = await r.rpc("SendMessage", {"message": message_v10("ask extra")}, headers=V10)
        calls = list(r.secrets.calls)
    task = answer["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"][0]["parts"][0]["text"] == f"got extra len={len('extra-CANARY-value')}"
    assert [(c.phase, c.keys) for c in calls] == [("runtime", ("extra",))]
    assert calls[0].task_id == task["id"] and calls[0].context_id == task["contextId"]
    assert "extra-CANARY-value" not in _text(answer)


@pytest.mark.asyncio
async def test_runtime_demand_in_a_v03_stream_gives_one_task_that_completes() -> None:
    async with rig("scripted", values={"extra": "extra-CANARY-value"}) as r:
        events = await r.stream("message/stream", {"message": message_v03("ask extra")})
    results = [e["result"] for e in events]
    task_ids = {x.get("taskId") or x.get("id") for x in results}
    assert len(task_ids) == 1
    states = [x["status"]["state"] for x in results if x["kind"] in ("status-update", "task")]
    assert "auth-required" not in states
    waiting = [x for x in results if x["kind"] == "status-update" and x["status"].get("message")]
    assert any("waiting for the user" in p["text"] for w in waiting for p in w["status"]["message"]["parts"])
    assert states[-1] == "completed"
    assert "extra-CANARY-value" not in _text(events)


@pytest.mark.asyncio
async def test_runtime_decline_hands_the_agents_auth_required_to_a_v10_stream() -> None:
    """A client that asked for the secrets extension gets the agent's demand, to answer by itself."""
    headers = {**V10, "A2A-Extensions": SECRETS_URI}
    async with rig("scripted", values={}) as r:
        events = await r.stream(
            "SendStreamingMessage", {"message": message_v10("ask extra")}, headers=headers
        )
        calls = list(r.secrets.calls)
    last = events[-1]["result"]["statusUpdate"]
    assert last["status"]["state"] == "TASK_STATE_AUTH_REQUIRED"
    assert last["status"]["message"]["metadata"][SECRETS_URI] == {
        "secret_demands": {"extra": {"name": "extra please", "description": None}}
    }
    assert keys_of(calls) == [("extra",)]


@pytest.mark.asyncio
async def test_runtime_decline_resumes_a_plain_clients_task_without_the_value() -> None:
    async with rig("scripted", values={}) as r:
        events = await r.stream("SendStreamingMessage", {"message": message_v10("ask extra")}, headers=V10)
        calls = list(r.secrets.calls)
    states = [e["result"]["statusUpdate"]["status"]["state"] for e in events if "statusUpdate" in e["result"]]
    assert states[-1] == "TASK_STATE_COMPLETED" and "TASK_STATE_AUTH_REQUIRED" not in states
    assert "missing extra" in json.dumps(events)  # the agent's own answer without the value
    assert keys_of(calls) == [("extra",)]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("headers", "state"), [({}, "completed"), ({"X-A2A-Extensions": SECRETS_URI}, "auth-required")]
)
async def test_runtime_timeout_counts_as_a_decline(headers: dict[str, str], state: str) -> None:
    async with rig("scripted", values={"extra": "v"}) as r:
        r.secrets.timeout = True
        answer = await r.rpc("message/send", {"message": message_v03("ask extra")}, headers=headers)
    assert answer["result"]["status"]["state"] == state


@pytest.mark.asyncio
async def test_malformed_runtime_demand_is_a_clear_error() -> None:
    async with rig("scripted") as r:
        blocking = await r.rpc("message/send", {"message": message_v03("bad-demand")})
        events = await r.stream("message/stream", {"message": message_v03("bad-demand")})
    for error in (blocking["error"], events[-1]["error"]):
        assert "malformed secret demand" in error["message"]
        assert "peer" in error["message"]
        assert "Traceback" not in error["message"]
    assert r.secrets.calls == []


@pytest.mark.asyncio
async def test_a_value_the_agent_quotes_back_is_cut_out() -> None:
    canary = "leaky-CANARY-0123456789"
    async with rig("scripted", values={"k": canary}, demands={"k": {"name": "K"}}) as r:
        answer = await r.rpc("message/send", {"message": message_v03("leak")})
    assert answer["result"]["status"]["state"] == "completed"
    assert canary not in _text(answer)
    assert MASK in _artifact_text_v03(answer["result"])


# Forwarded methods, masked -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_tasks_get_and_cancel_are_forwarded_and_masked() -> None:
    async with rig(values={"github": GITHUB, "openai": OPENAI}) as r:
        sent = await r.rpc("message/send", {"message": message_v03("hi")})
        task_id = sent["result"]["id"]
        got_old = await r.rpc("tasks/get", {"id": task_id})
        got_new = await r.rpc("GetTask", {"id": task_id}, headers=V10)
        missing = await r.rpc("tasks/get", {"id": "no-such-task"})
        cancel = await r.rpc("tasks/cancel", {"id": task_id})
    assert got_old["result"]["id"] == task_id
    assert got_new["result"]["id"] == task_id
    for answer in (got_old, got_new):
        assert GITHUB not in _text(answer) and OPENAI not in _text(answer)
        assert MASK in _text(answer)
    assert missing["error"]["code"] == -32001
    assert "error" in cancel  # a completed task cannot be cancelled: the agent's error comes through


@pytest.mark.asyncio
async def test_echo_message_reply_comes_back_as_a_message() -> None:
    async with rig("scripted") as r:
        old = await r.rpc("message/send", {"message": message_v03("echo ping")})
        new = await r.rpc("SendMessage", {"message": message_v10("echo pong")}, headers=V10)
        events = await r.stream("message/stream", {"message": message_v03("echo stream")})
    assert old["result"]["kind"] == "message" and old["result"]["parts"][0]["text"] == "echo ping"
    assert new["result"]["message"]["parts"][0]["text"] == "echo pong"
    assert events[-1]["result"]["kind"] == "message"


# HTTP+JSON ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_rest_v10_and_v03_send_with_secrets() -> None:
    async with rig(values={"github": GITHUB, "openai": OPENAI}) as r:
        new = await r.client.post(
            "/agents/peer/message:send", json={"message": message_v10("hi")}, headers=V10
        )
        old = await r.client.post(
            "/agents/peer/v1/message:send",
            json={
                "message": {"messageId": "m1", "role": "ROLE_USER", "content": [{"text": "hi"}]},
                "configuration": {"blocking": True},
            },
        )
        task_id = new.json()["task"]["id"]
        got = await r.client.get(f"/agents/peer/tasks/{task_id}", headers=V10)
    assert new.status_code == 200, new.text
    assert new.json()["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert old.status_code == 200, old.text
    assert "COMPLETED" in _text(old.json())
    assert got.status_code == 200 and got.json()["id"] == task_id
    for response in (new, old, got):
        assert GITHUB not in response.text and OPENAI not in response.text


# Upstream trouble and policy ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_dead_agent_is_a_clean_error_naming_it() -> None:
    record = record_from_card(
        agent_card_to_dict(scripted_card("http://127.0.0.1:9")), "peer", url="http://127.0.0.1:9"
    )
    app = BridgeApp({"peer": record}.get, ScriptedSecrets(), caller=None)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BRIDGE) as client:
            blocking = (
                await client.post("/agents/peer", json=jsonrpc("message/send", {"message": message_v03("x")}))
            ).json()
            stream = await client.post(
                "/agents/peer", json=jsonrpc("message/stream", {"message": message_v03("x")})
            )
    finally:
        await app.aclose()
    events = sse_payloads(stream.text)
    for error in (blocking["error"], events[-1]["error"]):
        assert error["message"] == "agent 'peer' is not reachable (is it running?)"


@pytest.mark.asyncio
async def test_no_secret_goes_to_a_plain_http_remote_agent() -> None:
    remote = "http://10.20.30.40:8000"
    card = a2a1_agent.build_card(remote)
    record = record_from_card(agent_card_to_dict(card), "peer", url=remote)
    secrets = ScriptedSecrets({"github": GITHUB, "openai": OPENAI})
    app = BridgeApp(
        {"peer": record}.get,
        secrets,
        caller=None,
        transport=httpx.ASGITransport(app=a2a1_agent.build_app(8000)),
    )
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BRIDGE) as client:
            answer = (
                await client.post(
                    "/agents/peer", json=jsonrpc("message/send", {"message": message_v03("hi")})
                )
            ).json()
    finally:
        await app.aclose()
    assert secrets.calls == []  # never even asked
    # The plain client is not left with the agent's demand: the task is resumed with no value in it.
    assert answer["result"]["status"]["state"] == "failed"
    assert "missing: " in _text(answer)


@pytest.mark.asyncio
async def test_extension_headers_go_upstream_under_both_names() -> None:
    logs: list[HeaderLog] = []
    async with rig(values={"github": GITHUB, "openai": OPENAI}, upstream_log=logs) as r:
        await r.rpc("message/send", {"message": message_v03("hi")})
    sends = [h for h in logs[0].headers if "a2a-extensions" in h]
    assert sends
    for headers in sends:
        assert SECRETS_URI in headers["a2a-extensions"]
        assert SECRETS_URI in headers["x-a2a-extensions"]


@pytest.mark.asyncio
async def test_client_extension_headers_are_passed_on() -> None:
    logs: list[HeaderLog] = []
    other = "https://example.org/ext/v1"
    async with rig("scripted", upstream_log=logs) as r:
        await r.rpc("message/send", {"message": message_v03("hello")}, headers={"X-A2A-Extensions": other})
    assert other in logs[0].headers[-1]["a2a-extensions"]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["a2a1", "scripted"])
async def test_blocking_send_by_following_the_stream_gives_the_same_task(kind: str) -> None:
    text = "hi keys=github,extra" if kind == "a2a1" else "ask extra"
    values = {"github": GITHUB, "openai": OPENAI, "extra": "extra-CANARY-follow"}
    async with rig(kind, values, follow_streams=True) as r:
        answer = await r.rpc("SendMessage", {"message": message_v10(text)}, headers=V10)
        got = await r.rpc("GetTask", {"id": answer["result"]["task"]["id"]}, headers=V10)
    task = answer["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"] == got["result"]["artifacts"]
    assert "runtime" in [c.phase for c in r.secrets.calls]
    for value in values.values():
        assert value not in _text(answer)


@pytest.mark.asyncio
async def test_a_failing_directory_is_a_json_503() -> None:
    def lookup(slug: str) -> AgentRecord | None:
        raise RuntimeError("database is locked")

    app = BridgeApp(lookup, ScriptedSecrets(), caller=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BRIDGE) as client:
        response = await client.post("/agents/peer", json=jsonrpc("message/send", {}))
    await app.aclose()
    assert response.status_code == 503
    assert response.json() == {"error": "unavailable", "message": "the agent directory failed: RuntimeError"}


@pytest.mark.asyncio
async def test_agent_apps_serve_their_sub_paths_and_answer_unknown_slugs_themselves() -> None:
    seen: list[tuple[str, str, str | None]] = []

    async def ap_app(scope: Any, receive: Any, send: Any) -> None:
        record = scope["keybroker.agent"]
        seen.append((scope["path"], scope["root_path"], record.slug if record else None))
        # The app authenticates first and then answers an unknown slug (ap_secrets.py does).
        await send(
            {
                "type": "http.response.start",
                "status": 200 if record else 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b"[]"})

    card = scripted_card(AGENT)
    record = record_from_card(agent_card_to_dict(card), "peer", url=AGENT)
    app = BridgeApp({"peer": record}.get, ScriptedSecrets(), caller=None, agent_apps={"/ap/": ap_app})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BRIDGE) as client:
        known = await client.get("/agents/peer/ap/v1/agent/secrets")
        unknown = await client.get("/agents/nobody/ap/v1/agent/secrets")
    await app.aclose()
    assert known.status_code == 200 and known.json() == []
    assert seen == [
        ("/agents/peer/ap/v1/agent/secrets", "/agents/peer", "peer"),
        ("/agents/nobody/ap/v1/agent/secrets", "/agents/nobody", None),
    ]
    assert unknown.status_code == 404


@pytest.mark.asyncio
async def test_a_changed_record_gets_a_new_card_without_a_restart() -> None:
    card = a2a1_agent.build_card(AGENT)
    records = {"peer": record_from_card(agent_card_to_dict(card), "peer", url=AGENT)}
    agent_app = a2a1_agent.build_app(10001)
    app = BridgeApp(records.get, ScriptedSecrets(), caller=None, transport=httpx.ASGITransport(app=agent_app))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BRIDGE) as client:
        before = (await client.get("/agents/peer/.well-known/agent-card.json")).json()
        changed = agent_card_to_dict(card)
        changed["name"] = "renamed-agent"
        records["peer"] = record_from_card(changed, "peer", url=AGENT)
        after = (await client.get("/agents/peer/.well-known/agent-card.json")).json()
        answer = await client.post(
            "/agents/peer", json=jsonrpc("message/send", {"message": message_v03("hi keys=none")})
        )
    await app.aclose()
    assert before["name"] == "keybroker-a2a1-peer" and after["name"] == "renamed-agent"
    assert "result" in answer.json()


@pytest.mark.asyncio
async def test_push_notifications_are_refused_because_they_would_bypass_masking() -> None:
    push = {"url": "https://127.0.0.1:9999/hook"}
    async with rig(values={"github": GITHUB, "openai": OPENAI}) as r:
        card = (await r.client.get("/agents/peer/.well-known/agent-card.json")).json()
        set_config = await r.rpc(
            "tasks/pushNotificationConfig/set", {"taskId": "T", "pushNotificationConfig": push}
        )
        send = await r.rpc(
            "message/send", {"message": message_v03("hi"), "configuration": {"pushNotificationConfig": push}}
        )
        assert r.secrets.calls == []
    assert card["capabilities"].get("pushNotifications", False) is False
    for answer in (set_config, send):
        assert answer["error"]["code"] == -32003
        assert "push notifications" in answer["error"]["message"]
