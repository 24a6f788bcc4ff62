# SPDX-License-Identifier: Apache-2.0
"""The fast path for streams (fast_stream.py) over real TCP: a real a2a-sdk 1.x agent on a loopback
port, the real bridge on another, raw JSON-RPC 0.3 `message/stream` and 1.0 `SendStreamingMessage`
clients reading SSE. A granted stream is served by the fast path and leaks no value in any shape
the leaky agent streams (a value dripped one chunk an event, split across status messages, artifacts
and data parts; the client joins and decodes what it received); a run-time demand mid-stream is
answered from a grant through the full path's resume loop; a client that goes away takes the
agent's stream with it. The same leak shapes with chunks.py's hold-back switched off leak: the
tests can fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers.response_helpers import agent_card_to_dict

from keybroker.core.bridge import BridgeApp, stream_events
from keybroker.core.bridge.chunks import SplitGuard
from keybroker.core.bridge.fast_path import PATH_ENV, FastPath
from keybroker.core.bridge.forms import Cut
from keybroker.core.bridge.keepalive import PING
from keybroker.core.bridge.server import running_bridge
from keybroker.core.models import MASK
from tests.bridge.fakes import ScriptedSecrets
from tests.bridge.joining_client import dump, leaks, texts
from tests.bridge.leaky_agent import leaky_app
from tests.bridge.live_agent import InFlight
from tests.bridge.scripted_agent import scripted_app, scripted_card
from tests.bridge.support import (
    bridged,
    http_client,
    jsonrpc,
    message_v03,
    message_v10,
    record_from_card,
    sse_payloads,
)
from tests.bridge.test_fast_path import DEMANDS, MODES, OTHER, V10, VALUE, _channel, _grant

#: The shapes that only the hold-back across events stops (the others are cut within one event).
SPLIT_MODES = [
    "drip 1",
    "drip 3 b64",
    "drip 2 percent",
    "drip 1 hex",
    "drip-status 2",
    "status-split",
    "two-artifacts",
    "interleave",
]
_DONE = ("completed", "TASK_STATE_COMPLETED")


@pytest.fixture(autouse=True)
def _fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the fast path, whichever path the rest of the run is on."""
    monkeypatch.setenv(PATH_ENV, "fast")


def _fast(app: BridgeApp) -> FastPath:
    fast = _channel(app).fast
    assert fast is not None
    return fast


@asynccontextmanager
async def _rig(
    agent: str, secrets: ScriptedSecrets, counter: list[InFlight] | None = None, **options: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, BridgeApp]]:
    """`agent` ("leaky" or "scripted") on a loopback port behind the bridge (`options`: BridgeApp's); a
    client for the bridge. `counter` gets the agent's in-flight request counter."""
    port = free_port()
    card = scripted_card(f"http://127.0.0.1:{port}", DEMANDS)
    served = InFlight(leaky_app(card) if agent == "leaky" else scripted_app(card))
    if counter is not None:
        counter.append(served)
    async with running_bridge(served, port, shutdown_grace=0.5):
        record = record_from_card(agent_card_to_dict(card), "peer", url=f"http://127.0.0.1:{port}")
        async with (
            bridged(record, secrets, caller=None, **options) as bridge,
            http_client(base_url=f"http://127.0.0.1:{bridge.port}") as client,
        ):
            card_answer = await client.get("/agents/peer/.well-known/agent-card.json")
            assert card_answer.status_code == 200  # builds the channel
            yield client, bridge.app


@asynccontextmanager
async def granted_leaky(
    wrap: Callable[[Any], Any] = lambda app: app,
) -> AsyncIterator[tuple[httpx.AsyncClient, BridgeApp, Any]]:
    """The leaky agent, wrapped by `wrap` (an ASGI wrapper reshaping what it writes), on a loopback port
    behind the bridge, `VALUE` granted for its demand: a client for the bridge, the bridge's app and
    the wrapped agent."""
    port = free_port()
    card = scripted_card(f"http://127.0.0.1:{port}", DEMANDS)
    agent = wrap(InFlight(leaky_app(card)))
    secrets = ScriptedSecrets({"k": VALUE})
    async with running_bridge(agent, port, shutdown_grace=0.5):
        record = record_from_card(agent_card_to_dict(card), "peer", url=f"http://127.0.0.1:{port}")
        async with (
            bridged(record, secrets, caller=None) as bridge,
            http_client(base_url=f"http://127.0.0.1:{bridge.port}") as client,
        ):
            assert (await client.get("/agents/peer/.well-known/agent-card.json")).status_code == 200
            await _grant(secrets, bridge.app, ["k"])
            yield client, bridge.app, agent


def free_port() -> int:
    from tests.interop.conftest import free_port as pick

    return pick()


def _request(version: str, text: str) -> tuple[dict[str, Any], dict[str, str]]:
    if version == "1.0":
        return jsonrpc("SendStreamingMessage", {"message": message_v10(text)}), V10
    return jsonrpc("message/stream", {"message": message_v03(text)}), {}


async def _stream(client: httpx.AsyncClient, version: str, text: str) -> tuple[list[dict[str, Any]], str]:
    """Every event of a stream to the bridge, and the raw body."""
    body, headers = _request(version, text)
    answer = await client.post("/agents/peer", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    return sse_payloads(answer.text), answer.text


def _last_state(events: list[dict[str, Any]]) -> str:
    for event in reversed(events):
        result = event.get("result") or {}
        inner = result.get("statusUpdate") or result.get("task") or result
        state = (inner.get("status") or {}).get("state")
        if state:
            return str(state)
    return ""


def _task_ids(events: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for event in events:
        result = event.get("result") or {}
        for kind in ("statusUpdate", "artifactUpdate", "task"):
            result = result.get(kind, result)
        task_id = result.get("taskId") or (result.get("id") if "status" in result else None)
        if isinstance(task_id, str):
            found.add(task_id)
    return found


def _guard_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """chunks.py's hold-back switched off: every event goes out at once, as it is."""

    def feed(self: SplitGuard, event: Event, cut: Cut, *, force: bool = False) -> Sequence[Event]:
        return (event,)

    monkeypatch.setattr(SplitGuard, "feed", feed)


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
@pytest.mark.parametrize("mode", MODES)
async def test_the_fast_path_serves_a_granted_stream_and_leaks_no_value(version: str, mode: str) -> None:
    secrets = ScriptedSecrets({"k": VALUE})
    async with _rig("leaky", secrets) as (client, app):
        await _grant(secrets, app, ["k"])
        events, body = await _stream(client, version, mode)
        assert _fast(app).served == 1
    assert _last_state(events) in _DONE, body[-2000:]
    assert all("error" not in event for event in events), body[-2000:]
    assert leaks(VALUE, events, body) == [], dump(events)[-3000:]
    assert [c.phase for c in secrets.calls] == ["preflight", "preflight"]


#: test_leak_shapes.py's token-sized streams (item 1), on the fast path.
DRIPS = [
    *(f"drip {size}" for size in (1, 2, 3, 5)),
    *(f"drip {size} {form}" for form in ("b64", "basic", "percent", "upper", "hex") for size in (1, 3)),
    *(f"drip-status {size}" for size in (1, 2)),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
@pytest.mark.parametrize("mode", DRIPS)
async def test_a_value_dripped_in_any_size_or_form_is_cut_and_the_rest_arrives(
    version: str, mode: str
) -> None:
    secrets = ScriptedSecrets({"k": VALUE})
    async with _rig("leaky", secrets) as (client, app):
        await _grant(secrets, app, ["k"])
        events, body = await _stream(client, version, mode)
        assert _fast(app).served == 1
    assert leaks(VALUE, events, body) == [], dump(events)[-3000:]
    joined = texts(events)
    assert "the key is " in joined and " ok" in joined, joined
    if mode.split()[-1].isdigit():  # plain text: the client sees where the value was
        assert MASK in joined


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
@pytest.mark.parametrize("mode", SPLIT_MODES)
async def test_without_the_hold_back_the_split_shapes_leak(
    version: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leak tests above can fail: with chunks.py's hold-back off, the client assembles the value."""
    _guard_off(monkeypatch)
    secrets = ScriptedSecrets({"k": VALUE})
    async with _rig("leaky", secrets) as (client, app):
        await _grant(secrets, app, ["k"])
        events, body = await _stream(client, version, mode)
        assert _fast(app).served == 1
    assert leaks(VALUE, events, body) != []


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_runtime_demand_mid_stream_is_answered_from_a_grant_and_the_stream_goes_on(
    version: str,
) -> None:
    """The agent drips half the value, goes `auth-required` for `other`, and on resume drips the rest
    into the same artifact: the bridge answers from the grant, and the client joins no value."""
    secrets = ScriptedSecrets({"k": VALUE, "other": OTHER})
    async with _rig("leaky", secrets) as (client, app):
        await _grant(secrets, app, ["k", "other"])
        prompted = list(secrets.prompts)  # the user's grant
        events, body = await _stream(client, version, "drip-ask")
        fast = _fast(app)
        # Resumed on a new stream through the fast hop, not handed to the full path's resume loop.
        assert (fast.served, fast.streams.handed_over, fast.streams.resumed) == (1, 0, 1)
    assert _last_state(events) in _DONE, body[-2000:]
    assert [c.phase for c in secrets.calls] == ["preflight", "preflight", "runtime"]
    assert secrets.prompts == prompted  # no prompt: both keys answered from the grant
    assert leaks(VALUE, events, body) == [], dump(events)[-3000:]
    assert leaks(OTHER, events, body) == []
    joined = texts(events)
    assert "the key is " in joined and " ok" in joined, joined  # what was not the value went on
    assert len(_task_ids(events)) == 1, _task_ids(events)  # one task: the resume is no new one to the client


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_runtime_demand_mid_stream_that_needs_a_prompt_is_handed_to_the_full_path(
    version: str,
) -> None:
    secrets = ScriptedSecrets({"k": VALUE, "other": OTHER})
    async with _rig("leaky", secrets) as (client, app):
        await _grant(secrets, app, ["k"])
        events, body = await _stream(client, version, "drip-ask")
        fast = _fast(app)
        assert (fast.served, fast.streams.handed_over, fast.streams.resumed) == (1, 1, 0)
    assert _last_state(events) in _DONE, body[-2000:]
    assert secrets.prompts == [("peer", "k"), ("peer", "other")]
    assert [c.phase for c in secrets.calls] == ["preflight", "preflight", "runtime"]
    assert "waiting for the user" in body  # the full path told the client what it waits for
    assert leaks(VALUE, events, body) == [], dump(events)[-3000:]
    assert leaks(OTHER, events, body) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_runtime_demand_mid_stream_without_the_hold_back_leaks(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _guard_off(monkeypatch)
    secrets = ScriptedSecrets({"k": VALUE, "other": OTHER})
    async with _rig("leaky", secrets) as (client, app):
        await _grant(secrets, app, ["k", "other"])
        events, body = await _stream(client, version, "drip-ask")
        assert _fast(app).streams.resumed == 1
    assert leaks(VALUE, events, body) != []


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_a_stream_that_needs_a_prompt_goes_the_full_path(version: str) -> None:
    secrets = ScriptedSecrets({"k": VALUE})
    async with _rig("leaky", secrets) as (client, app):
        events, body = await _stream(client, version, "drip 1")
        assert _fast(app).served == 0
        assert secrets.prompts == [("peer", "k")]
    assert _last_state(events) in _DONE
    assert leaks(VALUE, events, body) == []


@pytest.mark.asyncio
async def test_a_client_that_leaves_mid_stream_closes_the_agents_stream() -> None:
    secrets = ScriptedSecrets({"k": VALUE})
    counter: list[InFlight] = []
    async with _rig("scripted", secrets, counter) as (client, app):
        await _grant(secrets, app, ["k"])
        body, headers = _request("1.0", "slow 600")
        async with client.stream("POST", "/agents/peer", json=body, headers=headers) as answer:
            async for line in answer.aiter_lines():
                if line.startswith("data:") and "WORKING" in line:
                    break  # the agent said `working` and sleeps: leave
        assert _fast(app).served == 1
        async with asyncio.timeout(15):
            while counter[0].now:
                await asyncio.sleep(0.05)


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_events_with_nothing_to_hold_pass_without_being_read_into_models(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent's own event bytes go on when nothing in them could start a value; a dripped value is
    read into models and held (the same stream with a value released)."""
    reads: list[str] = []
    real = stream_events.to_event

    def counted(envelope: dict[str, Any], version: str) -> Event:
        reads.append(version)
        return real(envelope, version)

    monkeypatch.setattr(stream_events, "to_event", counted)
    secrets = ScriptedSecrets({"k": VALUE})
    async with _rig("leaky", secrets) as (client, app):
        await _grant(secrets, app, ["k"])
        events, body = await _stream(client, version, "hello")
        assert _last_state(events) in _DONE, body
        assert reads == []
        assert 'unknown mode "hello"' in texts(events)
        events, body = await _stream(client, version, "drip 1")
        assert reads  # the value's start was held: read into models
        assert _fast(app).served == 2
    assert leaks(VALUE, events, body) == []


@pytest.mark.asyncio
async def test_a_quiet_fast_stream_gets_keep_alive_pings() -> None:
    secrets = ScriptedSecrets({"k": VALUE})
    async with _rig("scripted", secrets, keepalive=0.3) as (client, app):
        await _grant(secrets, app, ["k"])
        events, body = await _stream(client, "1.0", "slow 1.5")
        assert _fast(app).served == 1
    assert PING.decode().strip() in body
    assert _last_state(events) in _DONE


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_input_required_mid_stream_reaches_the_client_cut(version: str) -> None:
    """Not the bridge's to answer: the agent's `input-required` (after an artifact quoting the value)
    goes on, cut, and nothing is handed over."""
    secrets = ScriptedSecrets({"k": VALUE})
    async with _rig("scripted", secrets) as (client, app):
        await _grant(secrets, app, ["k"])
        events, body = await _stream(client, version, "hold")
        fast = _fast(app)
        assert (fast.served, fast.streams.handed_over) == (1, 0)
    assert _last_state(events) in ("input-required", "TASK_STATE_INPUT_REQUIRED"), body[-2000:]
    assert "holding" in texts(events)
    assert leaks(VALUE, events, body) == []


class _MultiLineData:
    """The agent's SSE with each JSON event's data spread over two `data:` lines (legal SSE: the
    client joins them with a newline, which JSON allows between tokens)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                lines = message["body"].split(b"\n")
                split = [
                    ln.replace(b',"', b',\ndata: "', 1) if ln.startswith(b"data: {") and b',"' in ln else ln
                    for ln in lines
                ]
                message = {**message, "body": b"\n".join(split)}
            await send(message)

        await self.app(scope, receive, sending)


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["0.3", "1.0"])
async def test_an_event_whose_data_spans_lines_reaches_the_client_whole(version: str) -> None:
    """An event the agent sent on several `data:` lines is passed on as one line: forwarded as the
    agent's bytes, only its first line would be data to the client (broken JSON)."""
    async with granted_leaky(_MultiLineData) as (client, app, _):
        events, body = await _stream(client, version, "hello")
        assert _fast(app).served == 1
    assert _last_state(events) in _DONE, body
    assert 'unknown mode "hello"' in texts(events)
