# SPDX-License-Identifier: Apache-2.0
"""The JSON-RPC route (rpc_route.py): a POST on an agent's JSON-RPC URL goes straight to the fast path,
and keeps every guarantee of the layers it no longer passes through.

A real bridge on a real port (the shared one under `/agents/peer` and `/agents/peer/`, and an agent's
own port at `/`), the scripted a2a-sdk 1.x agent on another, raw socket clients where a client must
misbehave (oversize headers and bodies, a slow body, a client that leaves). Each guard refusal is
checked to reach no agent; the fast path is checked to have served what it should (`served`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from keybroker.core.bridge import BridgeApp, running_bridge
from keybroker.core.bridge.fast_path import PATH_ENV, FastPath
from keybroker.core.bridge.keepalive import PING
from keybroker.core.bridge.rpc_route import INTERNAL_ERROR
from keybroker.core.models import SecretDemand
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.live_agent import Agent, scripted_agent
from tests.bridge.support import jsonrpc, message_v03, message_v10, sse_payloads
from tests.bridge.test_abandoned import send_and_leave, until

CANARY = "route-CANARY-93e1c7-Q4242xy"
DEMANDS = {"k": {"name": "K"}}
V10 = {"A2A-Version": "1.0"}
#: Where the bridge answers JSON-RPC: (which port, path).
TARGETS = [("shared", "/agents/peer"), ("shared", "/agents/peer/"), ("own", "/")]


@pytest.fixture(autouse=True)
def _fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The route under test is the fast path's, whichever path the rest of the run is on."""
    monkeypatch.setenv(PATH_ENV, "fast")


@dataclass
class Rig:
    agent: Agent
    app: BridgeApp
    secrets: ScriptedSecrets
    shared: int
    own: int

    def base(self, which: str) -> str:
        return f"http://127.0.0.1:{self.shared if which == 'shared' else self.own}"

    def fast(self, which: str) -> FastPath:
        fast = self.app._channels[("peer", which == "own")].fast
        assert fast is not None
        return fast


@asynccontextmanager
async def rig(demands: dict[str, dict[str, str]] | None = None, **options: Any) -> AsyncIterator[Rig]:
    """The scripted agent behind a bridge on a shared port and on the agent's own port."""
    secrets = ScriptedSecrets({"k": CANARY})
    async with scripted_agent(demands) as agent:
        app = BridgeApp({"peer": agent.record}.get, secrets, **options)
        try:
            async with running_bridge(app, 0) as shared, running_bridge(app.agent_root("peer"), 0) as own:
                yield Rig(agent, app, secrets, shared, own)
        finally:
            await app.aclose()


async def grant(rig: Rig) -> None:
    """The user granted `k` before (an *always* grant): sends need no prompt."""
    await rig.secrets.fulfil(
        rig.agent.record, [SecretDemand("k", "K")], phase="preflight", task_id=None, context_id=None
    )


async def raw(base: str, request: bytes, *, timeout: float = 15.0) -> tuple[int, dict[str, str], bytes]:
    """Send `request` bytes on a fresh connection; the answer's status, headers and body."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        with contextlib.suppress(ConnectionError):  # a server that answered early may close first
            await writer.drain()
        async with asyncio.timeout(timeout):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body
    finally:
        writer.close()


def post_head(base: str, path: str, headers: dict[str, str]) -> bytes:
    host = base.removeprefix("http://")
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def send_body(version: str, text: str) -> tuple[dict[str, Any], dict[str, str]]:
    if version == "1.0":
        return jsonrpc("SendMessage", {"message": message_v10(text)}), V10
    return jsonrpc("message/send", {"message": message_v03(text)}), {}


# The guard on the route ------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(("which", "path"), TARGETS)
async def test_guard_refusals_on_the_rpc_route_reach_no_agent(which: str, path: str) -> None:
    body = json.dumps(send_body("1.0", "echo hi")[0]).encode()
    async with rig(body_timeout=0.5) as r:
        base = r.base(which)
        json_headers = {"Content-Type": "application/json", "A2A-Version": "1.0"}
        announced = {**json_headers, "Content-Length": str(1024 * 1024 + 1)}
        status, _, answer = await raw(base, post_head(base, path, announced))
        assert (status, json.loads(answer)["error"]) == (413, "payload_too_large")

        chunk = b"x" * (256 * 1024)
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
        streamed = post_head(base, path, {**json_headers, "Transfer-Encoding": "chunked"}) + chunked
        status, _, answer = await raw(base, streamed)
        assert (status, json.loads(answer)["error"]) == (413, "payload_too_large")

        slow = post_head(base, path, {**json_headers, "Content-Length": str(len(body))}) + body[:10]
        status, headers, answer = await raw(base, slow)
        assert (status, json.loads(answer)["error"]) == (408, "request_timeout")
        assert headers.get("connection") == "close"

        # Past one socket read (asyncio reads 256 KiB at most): the cap counts header bytes that come
        # before the headers end (connections.py).
        big = {**json_headers, "Content-Length": str(len(body)), "X-Pad": "p" * (300 * 1024)}
        status, _, _ = await raw(base, post_head(base, path, big) + body)
        assert status == 431

        async with httpx.AsyncClient(trust_env=False, timeout=15) as http:
            origin = await http.post(
                base + path, content=body, headers={**json_headers, "Origin": "http://x"}
            )
            host = await http.post(base + path, content=body, headers={**json_headers, "Host": "evil.test"})
        assert (origin.status_code, origin.json()["error"]) == (403, "forbidden_origin")
        assert (host.status_code, host.json()["error"]) == (403, "forbidden_host")
        assert r.agent.counter.total == 0


@pytest.mark.asyncio
async def test_the_rpc_route_is_counted_with_the_other_agent_requests() -> None:
    """`max_agent_requests` holds on the route: one slow send in flight, the next one gets the 503."""
    async with rig(max_agent_requests=1) as r, httpx.AsyncClient(trust_env=False, timeout=30) as http:
        base = r.base("shared")
        body, headers = send_body("1.0", "slow 3")
        first = asyncio.create_task(http.post(base + "/agents/peer", json=body, headers=headers))
        await until(lambda: r.agent.counter.now == 1)
        second = await http.post(base + "/agents/peer/", json=send_body("1.0", "echo hi")[0], headers=V10)
        done = await first
        served = r.fast("shared").served
    assert (second.status_code, second.json()["error"]) == (503, "busy")
    assert second.headers["retry-after"] == "1"
    assert done.status_code == 200 and "result" in done.json()
    assert served == 1


# The fast path behind it ------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(("which", "path"), TARGETS)
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_granted_send_is_served_by_the_fast_path_and_masked(
    which: str, path: str, version: str
) -> None:
    async with rig(DEMANDS) as r, httpx.AsyncClient(trust_env=False, timeout=30) as http:
        await http.get(r.base(which) + path.rstrip("/") + "/.well-known/agent-card.json")
        await grant(r)
        body, headers = send_body(version, "echo hi")
        answer = await http.post(r.base(which) + path, json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert int(answer.headers["content-length"]) == len(answer.content)
        assert "result" in answer.json() and CANARY not in answer.text
        assert r.fast(which).served == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_client_that_leaves_cancels_its_fast_send_and_frees_the_agents_connection(
    version: str,
) -> None:
    async with rig() as r:
        base = r.base("shared")
        async with httpx.AsyncClient(trust_env=False, timeout=15) as http:
            await http.get(base + "/agents/peer/.well-known/agent-card.json")
        body, headers = send_body(version, "slow 600")
        for _ in range(3):
            await send_and_leave(base, "/agents/peer", body, headers)
        await until(lambda: r.fast("shared").served == 3)
        await until(lambda: r.agent.counter.now == 0)  # each upstream request was closed
        await until(lambda: r.app._agent_requests == 0)  # and each request's count released


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_quiet_fast_stream_is_kept_alive(version: str) -> None:
    method, headers = ("SendStreamingMessage", V10) if version == "1.0" else ("message/stream", {})
    message = message_v10("slow 1.2") if version == "1.0" else message_v03("slow 1.2")
    async with rig(keepalive=0.3) as r, httpx.AsyncClient(trust_env=False, timeout=30) as http:
        await http.get(r.base("shared") + "/agents/peer/.well-known/agent-card.json")
        body = jsonrpc(method, {"message": message})
        answer = await http.post(r.base("shared") + "/agents/peer", json=body, headers=headers)
        served = r.fast("shared").served
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert PING.decode().strip() in answer.text
    assert sse_payloads(answer.text)
    assert served == 1


@pytest.mark.asyncio
async def test_a_failure_of_the_fast_path_is_todays_json_500_naming_no_value(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected exception (a bug) gets the channel app's JSON 500: no traceback, no value, and the
    connection stays usable."""

    def broken(self: FastPath, request: object, rpc: object) -> None:
        raise RuntimeError(f"a bug holding {CANARY}")

    monkeypatch.setattr(FastPath, "_eligible", broken)
    caplog.set_level(logging.DEBUG)
    async with rig() as r, httpx.AsyncClient(trust_env=False, timeout=30) as http:
        base = r.base("shared")
        await http.get(base + "/agents/peer/.well-known/agent-card.json")
        body, headers = send_body("1.0", "echo hi")
        failed = await http.post(base + "/agents/peer", json=body, headers=headers)
        card = await http.get(base + "/agents/peer/.well-known/agent-card.json")
    assert failed.status_code == 500
    assert failed.content == INTERNAL_ERROR
    assert json.loads(INTERNAL_ERROR) == {
        "error": "internal_error",
        "message": "the bridge failed on this request (see its log)",
    }
    assert card.status_code == 200
    assert "RuntimeError" in caplog.text
    assert CANARY not in caplog.text and "Traceback" not in caplog.text
    assert not any(record.exc_info for record in caplog.records)


# The calling process ------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["fast", "full"])
async def test_a_forwarded_for_header_does_not_hide_the_calling_process(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any local process can send `X-Forwarded-For`; the audit still names the process on the socket."""
    monkeypatch.setenv(PATH_ENV, path)
    async with rig(DEMANDS) as r, httpx.AsyncClient(trust_env=False, timeout=30) as http:
        base = r.base("shared")
        await http.get(base + "/agents/peer/.well-known/agent-card.json")
        body, headers = send_body("1.0", "echo hi")
        spoofed = {**headers, "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        answer = await http.post(base + "/agents/peer", json=body, headers=spoofed)
    assert answer.status_code == 200, answer.text
    callers = [call.caller for call in r.secrets.calls]
    assert callers and all(c is not None and c.startswith(f"pid {os.getpid()} (") for c in callers), callers
