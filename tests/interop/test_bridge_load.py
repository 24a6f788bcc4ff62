# SPDX-License-Identifier: Apache-2.0
"""The bridge under load and under failure: 200 concurrent streaming runs; an agent killed mid-stream."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.types import Message, Part, Role, SendMessageRequest
from google.protobuf.json_format import MessageToDict

from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.support import bridged, jsonrpc, message_v03, message_v10, record_from_url, sse_payloads
from tests.interop.conftest import RunningPeer, free_port

REPO = Path(__file__).resolve().parents[2]
RUNS = 200


@pytest.mark.slow
@pytest.mark.asyncio
async def test_200_concurrent_streaming_runs_one_prompt_per_distinct_demand(
    agentstack_agent: RunningPeer,
) -> None:
    # Three distinct demands: github and slack before the run, `extra` during it. The fake broker
    # prompts once per key and remembers the grant; concurrent demands wait on the same prompt.
    secrets = ScriptedSecrets(
        {"github": "ghp_CANARY_load_1", "slack": "xoxb-CANARY-load-2", "extra": "extra-CANARY-load-3"},
        prompt_delay=0.3,
    )
    async with bridged(record_from_url(agentstack_agent.base_url), secrets) as bridge:
        limits = httpx.Limits(max_connections=RUNS + 8, max_keepalive_connections=RUNS + 8)
        async with httpx.AsyncClient(trust_env=False, timeout=120.0, limits=limits) as http:
            client = await ClientFactory(ClientConfig(httpx_client=http, streaming=True)).create_from_url(
                bridge.url()
            )

            async def one(i: int) -> tuple[str, str]:
                message = Message(
                    role=Role.ROLE_USER,
                    message_id=str(uuid.uuid4()),
                    parts=[Part(text=f"run {i} keys=github,extra")],
                )
                last = ""
                seen = []
                async for event in client.send_message(SendMessageRequest(message=message)):
                    data = MessageToDict(event)
                    seen.append(str(data))
                    if "statusUpdate" in data:
                        last = data["statusUpdate"]["status"]["state"]
                return last, "".join(seen)

            started = time.monotonic()
            results = await asyncio.gather(*(one(i) for i in range(RUNS)), return_exceptions=True)
            elapsed = time.monotonic() - started
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} runs failed, first: {errors[0]!r}"
    states = [r[0] for r in results if not isinstance(r, BaseException)]
    assert states == ["TASK_STATE_COMPLETED"] * RUNS
    assert sorted(key for _, key in secrets.prompts) == ["extra", "github", "slack"]
    for _, seen in results:  # type: ignore[misc]
        for value in secrets.values.values():
            assert value not in seen
    print(f"{RUNS} concurrent streaming runs in {elapsed:.1f} s")


@pytest.fixture
def scripted_peer(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The scripted agent (tests/bridge/scripted_agent.py) as a process we may kill."""
    port = free_port()
    log = (tmp_path / "scripted.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.bridge.scripted_agent", str(port)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if (
                httpx.get(url + "/.well-known/agent-card.json", timeout=1.0, trust_env=False).status_code
                == 200
            ):
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("the scripted agent did not start")
    yield process, url
    if process.poll() is None:
        process.kill()
    process.wait(10)
    log.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_agent_killed_mid_stream_gives_a_clean_error_within_a_second(
    scripted_peer: tuple[subprocess.Popen[bytes], str], version: str
) -> None:
    process, url = scripted_peer
    if version == "1.0":
        body = jsonrpc("SendStreamingMessage", {"message": message_v10("slow 60")})
        headers = {"A2A-Version": "1.0"}
    else:
        body, headers = jsonrpc("message/stream", {"message": message_v03("slow 60")}), {}
    async with (
        bridged(record_from_url(url), ScriptedSecrets()) as bridge,
        httpx.AsyncClient(trust_env=False, timeout=30.0) as http,
    ):
        async with http.stream("POST", bridge.url(), json=body, headers=headers) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            received = ""
            while "working" not in received.lower():  # the agent is mid-run, its stream open
                received += await anext(lines) + "\n"
            process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            rest = [line async for line in lines]
            elapsed = time.monotonic() - killed
        # Dead, not dying: the kernel closes a killed process's sockets one by one, so its listening
        # socket can still take a connection (then reset it) after the stream's socket has closed.
        await asyncio.to_thread(process.wait, 10)
        events = sse_payloads(received + "\n".join(rest) + "\n")
        # The bridge keeps serving: its card, and a clean error for the dead agent.
        card = await http.get(bridge.url() + "/.well-known/agent-card.json")
        again = await http.post(bridge.url(), json=jsonrpc("message/send", {"message": message_v03("x")}))
    assert elapsed < 1.0, f"the error took {elapsed:.2f} s"
    error = events[-1]["error"]
    assert error["message"] == "agent 'peer' closed the connection mid-response (did it stop?)"
    assert "Traceback" not in "".join(rest)
    assert card.status_code == 200
    assert again.json()["error"]["message"] == "agent 'peer' is not reachable (is it running?)"


@pytest.mark.asyncio
async def test_agent_killed_during_a_blocking_send_gives_a_clean_error(
    scripted_peer: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, url = scripted_peer
    async with (
        bridged(record_from_url(url), ScriptedSecrets()) as bridge,
        httpx.AsyncClient(trust_env=False, timeout=30.0) as http,
    ):
        pending = asyncio.create_task(
            http.post(bridge.url(), json=jsonrpc("message/send", {"message": message_v03("slow 60")}))
        )
        await asyncio.sleep(1.0)
        process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        response = await pending
        elapsed = time.monotonic() - killed
    assert elapsed < 1.0
    assert response.status_code == 200
    assert (
        response.json()["error"]["message"]
        == "agent 'peer' closed the connection mid-response (did it stop?)"
    )


@pytest.mark.asyncio
async def test_stream_events_are_passed_on_as_they_come(
    scripted_peer: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, url = scripted_peer
    body = jsonrpc("message/stream", {"message": message_v03("slow 1.5")})
    arrivals: list[tuple[float, str]] = []
    async with (
        bridged(record_from_url(url), ScriptedSecrets()) as bridge,
        httpx.AsyncClient(trust_env=False, timeout=30.0) as http,
        http.stream("POST", bridge.url(), json=body) as response,
    ):
        started = time.monotonic()
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                arrivals.append((time.monotonic() - started, line))
    states = [(t, line) for t, line in arrivals if '"working"' in line]
    assert states, arrivals
    first_working = states[0][0]
    assert first_working < 1.0  # it came before the agent finished sleeping
    assert arrivals[-1][0] >= 1.5
    assert '"completed"' in arrivals[-1][1]


@pytest.mark.asyncio
async def test_a_client_leaving_mid_stream_frees_the_agents_connection(
    scripted_peer: tuple[subprocess.Popen[bytes], str],
) -> None:
    from keybroker.core.bridge import UpstreamLimits

    _, url = scripted_peer
    async with (
        bridged(record_from_url(url), ScriptedSecrets(), limits=UpstreamLimits(connections=1)) as bridge,
        httpx.AsyncClient(trust_env=False, timeout=10.0) as http,
    ):
        body = jsonrpc("message/stream", {"message": message_v03("slow 30")})
        async with http.stream("POST", bridge.url(), json=body) as response:
            async for line in response.aiter_lines():
                if "working" in line:
                    break  # leave while the agent still works: the one upstream permit is in use
        # With a single permit, this only answers if leaving released it.
        started = time.monotonic()
        answer = await http.post(
            bridge.url(), json=jsonrpc("message/send", {"message": message_v03("hello")})
        )
        assert answer.json()["result"]["status"]["state"] == "completed"
        assert time.monotonic() - started < 5.0
