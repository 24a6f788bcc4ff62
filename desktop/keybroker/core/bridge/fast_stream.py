# SPDX-License-Identifier: Apache-2.0
"""The fast path for streams: a granted `message/stream` / `SendStreamingMessage` read as SSE with
aiohttp, each event parsed once and cut as JSON, values split across events held back as on the full
path.

fast_path.py decides the request is its own (same version and binding, granted, no prompt) and puts
the fulfilments in at the JSON level; `FastStream.response` answers it with an event stream at once
(keep-alive pings, keepalive.py, start with the headers) and reads the agent's stream (fast_hop.py,
sse_read.py). Each event is parsed once (orjson) and, as the full path does to models: its tasks are
reported (task_trail.py), every fulfilment masked and every released value cut (json_cut.py). Then
the hold-back across events, chunks.py's `SplitGuard` itself, not a copy (PROTOCOL pitfall 26): while
it holds nothing and the event's text neither holds a value nor ends in what could start one, the
guard would pass the event as it is, so the agent's own bytes go on (or the cleaned JSON, when the
cut changed something). Any other event is read into an a2a-sdk model, fed to the guard, and what
the guard lets out is written in the client's version, as the full path writes it.

A run-time demand mid-stream (an `auth-required` the bridge answers: `BridgeRun.interrupt`) is
handed over, not avoided: the agent is given its moment to close the stream (legs.DRAIN_SECONDS),
then `BridgeRun.events`, the full path's resume loop, asks the broker, resumes the task through the
full path's upstream and streams on, interactive (the client is told what the bridge waits for),
through the same guard, so what it held before the hand-over is cut with what comes after. Falling
back to the full path before the stream starts whenever a card could demand at run time would have
kept every agent speaking the secrets extension off this path, and a hand-over mid-stream loses
nothing: what went out went out cleaned, held text stays held. An `auth-required` the client must
answer, and `input-required`, pass on like any event (the full path does the same).

A stream that fails drops what the guard held (the start of a value at most), as the full path
does, and ends with a JSON-RPC error event. A client that goes away cancels the request
(disconnect.py): the generator closes and so does the agent's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from a2a.compat.v0_3 import conversions
from a2a.compat.v0_3 import types as types_v03
from a2a.server.request_handlers.response_helpers import build_error_response
from a2a.types import SendMessageRequest
from a2a.utils.errors import A2AError, InvalidAgentResponseError
from google.protobuf.json_format import ParseDict  # type: ignore[import-untyped]
from starlette.responses import StreamingResponse

from keybroker.core.bridge.agent_errors import AgentUnreachableError, unreachable
from keybroker.core.bridge.chunks import SplitGuard
from keybroker.core.bridge.collector import stream_payload
from keybroker.core.bridge.fast_events import (
    event_states,
    payload_of,
    to_event,
    to_result,
    to_stream_response,
)
from keybroker.core.bridge.fast_handover import AUTH_REQUIRED_STATES
from keybroker.core.bridge.fast_hop import FastHop, HopFailedError
from keybroker.core.bridge.forms import Cut, fold, open_end
from keybroker.core.bridge.json_cut import clean_json, event_texts
from keybroker.core.bridge.legs import DRAIN_SECONDS, stream_leg
from keybroker.core.bridge.rpc_errors import client_error
from keybroker.core.bridge.sse_read import EventTooLargeError, sse_data
from keybroker.core.bridge.task_trail import observe_states
from keybroker.core.bridge.upstream import EXTENSION_HEADERS

if TYPE_CHECKING:
    from a2a.server.events.event_queue import Event
    from starlette.requests import Request

    from keybroker.core.bridge.run import AgentLink, BridgeRun, Interrupt, Leg

__all__ = ["MAX_EVENT_BYTES", "STREAM_METHODS", "FastStream"]

log = logging.getLogger("keybroker.bridge")

#: The streaming methods this path serves, and the version each belongs to.
STREAM_METHODS = {"message/stream": "0.3", "SendStreamingMessage": "1.0"}
#: The most one event of an agent's stream may hold.
MAX_EVENT_BYTES = 64 * 1024 * 1024
_SSE = "text/event-stream"
_DROPPED = "closed the connection mid-stream (did it stop?)"


def _frame(data: bytes) -> bytes:
    return b"data: " + data + b"\r\n\r\n"


def _error_frame(request_id: object, exc: BaseException) -> bytes:
    rid = request_id if isinstance(request_id, str | int) else None
    return _frame(orjson.dumps(build_error_response(rid, client_error(exc))))


class _StopError(Exception):
    """The stream ends with `frame` (an error event)."""

    def __init__(self, frame: bytes) -> None:
        super().__init__("stream stopped")
        self.frame = frame


class _Taken:
    """An answerable `auth-required`: the agent's event (a model) and what the bridge answers."""

    __slots__ = ("event", "interrupt")

    def __init__(self, event: Event, interrupt: Interrupt) -> None:
        self.event = event
        self.interrupt = interrupt


def _passes(kind: str, event: dict[str, Any], cut: Cut) -> bool:
    """Whether an idle `SplitGuard` would send this cleaned event as it is: its text (the guard's
    pieces, one lane) holds no value and does not end in the start of one."""
    if not cut:
        return True
    joined = "".join(event_texts(kind, event))
    return not joined or (open_end(joined, cut) == 0 and not cut.occurs_in(fold(joined)))


class _Events:
    """One stream's events from the agent to the client: observed, cleaned, held back."""

    def __init__(self, run: BridgeRun, version: str, request_id: object) -> None:
        self.run = run
        self.version = version
        self.request_id = request_id
        self.guard = SplitGuard()

    def error(self, exc: BaseException) -> bytes:
        self.guard = SplitGuard()  # what was held goes nowhere
        return _error_frame(self.request_id, exc)

    def _unreadable(self, what: str) -> _StopError:
        return _StopError(self.error(InvalidAgentResponseError(f"agent {self.run.link.slug!r} sent {what}")))

    def take(self, data: bytes) -> list[bytes] | _Taken:
        """The frames to send for the agent's event `data`, or the run to hand over."""
        try:
            envelope = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise self._unreadable("a stream event that is not JSON") from None
        if not isinstance(envelope, dict):
            raise self._unreadable("a stream event that is not JSON-RPC")
        if "result" not in envelope:
            if "error" not in envelope:
                raise self._unreadable("a stream event that is not JSON-RPC")
            self.guard = SplitGuard()
            cleaned, _ = clean_json(envelope, self.run.cut())
            raise _StopError(_frame(orjson.dumps(cleaned)))
        found = payload_of(envelope["result"], self.version)
        if found is None:
            raise self._unreadable("a stream event that is no task, message or update")
        states = event_states(*found)
        if states and states[0][2] in AUTH_REQUIRED_STATES:
            taken = self._interrupt(envelope)
            if taken is not None:
                return taken
        self._observe(states)
        cut = self.run.cut()
        cleaned, changed = clean_json(envelope, cut)
        found = payload_of(cleaned.get("result"), self.version) if isinstance(cleaned, dict) else None
        if found is not None and self.guard.idle and _passes(*found, cut):
            return [_frame(orjson.dumps(cleaned) if changed else data)]
        try:
            event = to_event(cleaned, self.version)
        except Exception:
            raise self._unreadable("a stream event the bridge cannot read") from None
        return self.feed(event)

    def feed(self, event: Event, *, force: bool = False) -> list[bytes]:
        """The frames the guard lets out for `event` (a model, cleaned already)."""
        out = self.guard.feed(event, self.run.cut(), force=force)
        return [self._frame_of(item) for item in out]

    def flush(self) -> list[bytes]:
        """The stream ended: what the guard held."""
        return [self._frame_of(item) for item in self.guard.flush(self.run.cut())]

    def _frame_of(self, event: Event) -> bytes:
        return _frame(orjson.dumps(to_result(event, self.version, self.request_id)))

    def _interrupt(self, envelope: dict[str, Any]) -> _Taken | None:
        try:
            response = to_stream_response(envelope, self.version)
        except Exception:
            return None  # unreadable: read below, and refused there
        try:
            interrupt = self.run.interrupt(response)
        except A2AError as exc:  # a malformed demand
            raise _StopError(self.error(exc)) from None
        return _Taken(stream_payload(response), interrupt) if interrupt is not None else None

    def _observe(self, states: list[tuple[str, str, str]]) -> None:
        run, link = self.run, self.run.link
        if link.recall is not None:
            for task_id, context_id, _ in states:
                link.recall.know(run.recall_epoch, task_id, context_id)
        if link.tasks is not None:
            observe_states(link.tasks, link.slug, states, run.state)


def _params(rpc: dict[str, Any], version: str) -> SendMessageRequest:
    """The client's request as a 1.0 model (fast_path.py checked that the SDK reads it)."""
    if version == "1.0":
        params: SendMessageRequest = ParseDict(
            rpc["params"], SendMessageRequest(), ignore_unknown_fields=True
        )
        return params
    compat = types_v03.SendStreamingMessageRequest.model_validate(rpc)
    return conversions.to_core_send_message_request(compat)  # type: ignore[arg-type]


def _first_then_stream(taken: _Taken) -> Leg:
    """A leg that yields the `auth-required` the fast path read, then follows streams (legs.stream_leg)."""
    used = False

    async def leg(
        run: BridgeRun, request: SendMessageRequest, extensions: set[str]
    ) -> AsyncGenerator[tuple[Event, Interrupt | None], None]:
        nonlocal used
        if not used:
            used = True
            yield taken.event, taken.interrupt
            return
        async with contextlib.aclosing(stream_leg(run, request, extensions)) as answers:
            async for item in answers:
                yield item

    return leg


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Give the agent its moment to close the stream after an answerable demand (legs.stream_leg)."""
    with contextlib.suppress(TimeoutError, aiohttp.ClientError, OSError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in chunks:
                pass


class FastStream:
    """One agent's fast streams (module docstring); `handed_over` counts run-time demands taken over."""

    def __init__(self, link: AgentLink, hop: FastHop) -> None:
        self.link = link
        self._hop = hop
        self.handed_over = 0

    def response(
        self, run: BridgeRun, rpc: dict[str, Any], url: str, body: bytes, request: Request
    ) -> StreamingResponse:
        """The event stream answering `rpc` (the agent is reached once the response starts)."""
        headers = {"Content-Type": "application/json", "Accept": _SSE}
        version = request.headers.get("a2a-version")
        if version:
            headers["A2A-Version"] = version
        extensions = run.extensions()
        if extensions:
            joined = ",".join(sorted(extensions))
            headers.update({name: joined for name in EXTENSION_HEADERS})
        stream = self._stream(run, rpc, url, body, headers)
        return StreamingResponse(
            stream, media_type=_SSE, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    async def _stream(
        self, run: BridgeRun, rpc: dict[str, Any], url: str, body: bytes, headers: dict[str, str]
    ) -> AsyncIterator[bytes]:
        version = STREAM_METHODS[str(rpc.get("method"))]
        events = _Events(run, version, rpc.get("id"))
        taken: _Taken | None = None
        try:
            async with self._hop.stream(url, body, headers) as answer:
                if answer.status != 200 or not answer.content_type.startswith(_SSE):
                    yield await self._refused(answer, events)
                    return
                async with contextlib.aclosing(sse_data(answer.content.iter_any(), MAX_EVENT_BYTES)) as datas:
                    async for data in datas:
                        out = events.take(data)
                        if isinstance(out, _Taken):
                            taken = out
                            break
                        for frame in out:
                            yield frame
                if taken is not None:
                    await _drain(answer.content.iter_any())
        except HopFailedError as exc:
            slug = self.link.slug
            log.warning("agent %r: %s", slug, exc.reason)
            reason = unreachable(slug) if not exc.sent else f"agent {slug!r} {_DROPPED}"
            yield events.error(AgentUnreachableError(reason))
            return
        except _StopError as stop:
            yield stop.frame
            return
        except (aiohttp.ClientError, OSError, EventTooLargeError) as exc:
            log.warning("agent %r: the stream failed (%s)", self.link.slug, type(exc).__name__)
            yield events.error(AgentUnreachableError(f"agent {self.link.slug!r} {_DROPPED}"))
            return
        except Exception as exc:  # a bug of ours: the client gets a clean error, not a broken stream
            yield events.error(exc)
            return
        if taken is None:
            for frame in events.flush():
                yield frame
            return
        self.handed_over += 1
        async with contextlib.aclosing(self._resume(run, rpc, events, taken)) as resumed:
            async for frame in resumed:
                yield frame

    async def _refused(self, answer: aiohttp.ClientResponse, events: _Events) -> bytes:
        """The error event for an answer that is no event stream: the agent's JSON-RPC error, cleaned,
        or what the blocking fast path says of the status."""
        slug = self.link.slug
        if answer.status != 200:
            hint = " (it wants credentials)" if answer.status in (401, 403) else ""
            return events.error(AgentUnreachableError(f"agent {slug!r} answered HTTP {answer.status}{hint}"))
        try:
            data = orjson.loads(await answer.read())
        except (orjson.JSONDecodeError, aiohttp.ClientError, OSError):
            data = None
        if not isinstance(data, dict) or "error" not in data:
            return events.error(InvalidAgentResponseError(f"agent {slug!r} answered a stream with no events"))
        cleaned, _ = clean_json(data, events.run.cut())
        return _frame(orjson.dumps(cleaned))

    async def _resume(
        self, run: BridgeRun, rpc: dict[str, Any], events: _Events, taken: _Taken
    ) -> AsyncGenerator[bytes, None]:
        """The full path's resume loop from the demand on, through the same guard."""
        try:
            params = _params(rpc, events.version)
            request = SendMessageRequest()
            request.CopyFrom(params)
            sent = run.events(params, request, _first_then_stream(taken), interactive=True, prepared=True)
            async with contextlib.aclosing(sent) as stream:
                async for event in stream:
                    for frame in events.feed(event, force=event is run.own_event):
                        yield frame
            for frame in events.flush():
                yield frame
        except Exception as exc:
            yield events.error(exc)
