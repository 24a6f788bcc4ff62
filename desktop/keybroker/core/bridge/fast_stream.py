# SPDX-License-Identifier: Apache-2.0
"""The fast path for streams: a granted `message/stream` / `SendStreamingMessage` read as SSE through
the fast hop (lean_post.py; aiohttp on Windows), each event parsed once and cut as JSON, values split
across events held back as on the full path.

fast_path.py decides the request is its own (same version and binding, granted, no prompt, an agent
that streams) and puts the fulfilments in at the JSON level; `FastStream.response` answers with an
event stream at once (so keep-alive pings, keepalive.py, can go out while the agent is quiet) and
reads the agent's stream (fast_hop.py, sse_read.py). Each event is parsed once, reported, masked and
cut as JSON, and held back across events by chunks.py's own `SplitGuard` (stream_events.py): an
event with nothing to hold goes on as the agent's own bytes. The events one read of the agent's
connection brought go to the client in one write, at once: never later than they came (DESIGN §7:
streams are never buffered), and with one send, not one per event.

A run-time demand mid-stream (an `auth-required` the bridge answers: `BridgeRun.interrupt`) is
answered, not avoided: the agent is given its moment to close the stream (legs.DRAIN_SECONDS); when
all the run may ask for is granted now, it is released in one broker call and the task resumed on a
new stream through the same hop and the same guard (fast_resume.py; no "waiting for the user" status:
nobody is asked). Otherwise the run is handed over: `BridgeRun.events`, the full path's resume loop,
asks the broker, resumes the task through the full path's upstream and streams on, interactive (the
client is told what the bridge waits for), through the same guard, so what it held before the
hand-over is cut with what comes after. Falling back to the full path before the stream starts
whenever a card could demand at run time would have kept every agent speaking the secrets extension
off this path, and a hand-over mid-stream loses nothing: what went out went out cleaned, held text
stays held. An `auth-required` the client must answer, and `input-required`, pass on like any event
(the full path does the same).

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
from a2a.types import SendMessageRequest
from a2a.utils.errors import A2AError, InvalidAgentResponseError
from google.protobuf.json_format import ParseDict  # type: ignore[import-untyped]
from starlette.responses import StreamingResponse

from keybroker.core.bridge.agent_errors import AgentUnreachableError, unreachable
from keybroker.core.bridge.client_head import ClientHead, HeadedStreamingResponse
from keybroker.core.bridge.fast_hop import FastHop, HopFailedError, HopStream, hop_headers
from keybroker.core.bridge.fast_resume import resume_demand
from keybroker.core.bridge.json_cut import clean_json
from keybroker.core.bridge.legs import DRAIN_SECONDS, replay_then, stream_leg
from keybroker.core.bridge.sse_read import EventTooLargeError, SseReader
from keybroker.core.bridge.stream_events import StreamEvents, StreamStop, Taken, frame

if TYPE_CHECKING:
    from starlette.requests import Request

    from keybroker.core.bridge.run import AgentLink, BridgeRun

__all__ = ["MAX_EVENT_BYTES", "STREAM_METHODS", "V03_REQUESTS", "FastStream"]

log = logging.getLogger("keybroker.bridge")

#: The streaming methods this path serves, and the version each belongs to.
STREAM_METHODS = {"message/stream": "0.3", "SendStreamingMessage": "1.0"}
#: The 0.3 request model the SDK's adapter validates each method with (fast_path.py's check).
V03_REQUESTS: dict[str, Any] = {
    "message/send": types_v03.SendMessageRequest,
    "message/stream": types_v03.SendStreamingMessageRequest,
}
#: The most one event of an agent's stream may hold.
MAX_EVENT_BYTES = 64 * 1024 * 1024
_SSE = "text/event-stream"
_DROPPED = "closed the connection mid-response (did it stop?)"  # as agent_errors says it


def _params(rpc: dict[str, Any], version: str) -> SendMessageRequest:
    """The client's request as a 1.0 model (fast_path.py checked that the SDK reads it)."""
    if version == "1.0":
        params: SendMessageRequest = ParseDict(
            rpc["params"], SendMessageRequest(), ignore_unknown_fields=True
        )
        return params
    compat = types_v03.SendStreamingMessageRequest.model_validate(rpc)
    return conversions.to_core_send_message_request(compat)  # type: ignore[arg-type]


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Give the agent its moment to close the stream after an answerable demand (legs.stream_leg)."""
    with contextlib.suppress(TimeoutError, HopFailedError, aiohttp.ClientError, OSError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in chunks:
                pass


def _take_piece(
    events: StreamEvents, reader: SseReader, piece: bytes, leg: _Leg
) -> tuple[list[bytes], Exception | None]:
    """The frames for the events `piece` completed, up to an answerable demand (`leg.taken`), and what
    stopped them, if anything did (`StreamStop`: the agent's error or an event the bridge cannot
    read; a bug of ours): the frames before it still go out, as they would have one event a read."""
    frames: list[bytes] = []
    try:
        for data in reader.feed(piece):
            out = events.take(data)
            if isinstance(out, Taken):
                leg.taken = out
                break
            frames += out
    except Exception as exc:
        return frames, exc
    return frames, None


class _Leg:
    """How one upstream stream ended: at an answerable demand (`taken`), or failed (its error sent)."""

    __slots__ = ("failed", "taken")

    def __init__(self) -> None:
        self.taken: Taken | None = None
        self.failed = False


class FastStream:
    """One agent's fast streams (module docstring); `handed_over` counts run-time demands taken over by
    the full path, `resumed` those answered here."""

    def __init__(self, link: AgentLink, hop: FastHop) -> None:
        self.link = link
        self._hop = hop
        self.handed_over = 0
        self.resumed = 0

    def response(
        self, run: BridgeRun, rpc: dict[str, Any], url: str, body: bytes, request: Request
    ) -> StreamingResponse:
        """The event stream answering `rpc` (the agent is reached once the response starts; its head
        goes to the client once the agent's request is on its way: client_head.py)."""
        head = ClientHead()
        stream = self._stream(run, rpc, url, body, request.headers.get("a2a-version"), head)
        return HeadedStreamingResponse(
            stream, head, media_type=_SSE, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    async def _stream(
        self,
        run: BridgeRun,
        rpc: dict[str, Any],
        url: str,
        body: bytes,
        a2a_version: str | None,
        head: ClientHead,
    ) -> AsyncIterator[bytes]:
        version = STREAM_METHODS[str(rpc.get("method"))]
        events = StreamEvents(run, version, rpc.get("id"))
        while True:
            leg = _Leg()
            headers = hop_headers(_SSE, a2a_version, run.extensions())
            async with contextlib.aclosing(self._leg(events, url, body, headers, leg, head)) as frames:
                async for chunk in frames:
                    yield chunk
            taken = leg.taken
            if leg.failed:
                return
            if taken is None:
                for chunk in events.flush():
                    yield chunk
                return
            interrupt = taken.interrupt
            try:  # a run-time demand granted now: the task resumed here (fast_resume.py)
                plain = interrupt.sign_in is None and not interrupt.credentials
                resume = await resume_demand(run, rpc, interrupt.demand) if plain else None
            except A2AError as exc:  # unaudited: nothing was released
                yield events.error(exc)
                return
            if resume is None:
                break
            run.observe(taken.event)
            self.resumed += 1
            body = orjson.dumps(resume)
        self.handed_over += 1
        async with contextlib.aclosing(self._resume(run, rpc, events, taken)) as resumed:
            async for chunk in resumed:
                yield chunk

    async def _leg(
        self,
        events: StreamEvents,
        url: str,
        body: bytes,
        headers: dict[str, str],
        leg: _Leg,
        head: ClientHead,
    ) -> AsyncGenerator[bytes, None]:
        """One upstream stream's frames; `leg` says how it ended (an answerable demand, a failure)."""
        try:
            async with self._hop.stream(url, body, headers, head) as answer:
                if answer.status != 200 or not answer.content_type.startswith(_SSE):
                    leg.failed = True
                    yield await self._refused(answer, events)
                    return
                reader = SseReader(MAX_EVENT_BYTES)
                pieces = answer.chunks()
                async for piece in pieces:
                    frames, failure = _take_piece(events, reader, piece, leg)
                    if failure is None and leg.taken is None and answer.at_eof:
                        frames += events.flush()  # the stream's end: held text, then the end, at once
                        head.last = bool(frames)
                    if frames:  # what one piece brought goes out in one write, before what ended it
                        yield frames[0] if len(frames) == 1 else b"".join(frames)
                    if failure is not None:
                        raise failure
                    if leg.taken is not None:
                        break
                    reader.check()  # an event grown too large: now, not when the agent next writes
                if leg.taken is not None:
                    await _drain(pieces)  # the rest of the same answer
        except HopFailedError as exc:
            leg.failed = True
            slug = self.link.slug
            log.warning("agent %r: %s", slug, exc.reason)
            reason = unreachable(slug) if not exc.sent else f"agent {slug!r} {_DROPPED}"
            yield events.error(AgentUnreachableError(reason))
        except StreamStop as stop:
            leg.failed = True
            yield stop.frame
        except EventTooLargeError:
            leg.failed = True
            slug = self.link.slug
            log.warning("agent %r: a stream event larger than %d bytes", slug, MAX_EVENT_BYTES)
            too_large = f"agent {slug!r} sent a stream event larger than {MAX_EVENT_BYTES} bytes"
            yield events.error(InvalidAgentResponseError(too_large))
        except (aiohttp.ClientError, OSError) as exc:
            leg.failed = True
            log.warning("agent %r: the stream failed (%s)", self.link.slug, type(exc).__name__)
            yield events.error(AgentUnreachableError(f"agent {self.link.slug!r} {_DROPPED}"))
        except Exception as exc:  # a bug of ours: the client gets a clean error, not a broken stream
            leg.failed = True
            yield events.error(exc)

    async def _refused(self, answer: HopStream, events: StreamEvents) -> bytes:
        """The error event for an answer that is no event stream: the agent's JSON-RPC error, cleaned,
        or what the blocking fast path says of the status."""
        slug = self.link.slug
        if answer.status != 200:
            hint = " (it wants credentials)" if answer.status in (401, 403) else ""
            return events.error(AgentUnreachableError(f"agent {slug!r} answered HTTP {answer.status}{hint}"))
        try:
            data = orjson.loads(await answer.read())
        except (orjson.JSONDecodeError, HopFailedError, aiohttp.ClientError, OSError):
            data = None
        if not isinstance(data, dict) or "error" not in data:
            return events.error(InvalidAgentResponseError(f"agent {slug!r} answered a stream with no events"))
        cleaned, _ = clean_json(data, events.run.cut())
        return frame(orjson.dumps(cleaned))

    async def _resume(
        self, run: BridgeRun, rpc: dict[str, Any], events: StreamEvents, taken: Taken
    ) -> AsyncGenerator[bytes, None]:
        """The full path's resume loop from the demand on, through the same guard."""
        try:
            params = _params(rpc, events.version)
            request = SendMessageRequest()
            request.CopyFrom(params)
            leg = replay_then(taken.event, taken.interrupt, stream_leg)
            sent = run.events(params, request, leg, interactive=True, prepared=True)
            async with contextlib.aclosing(sent) as stream:
                async for event in stream:
                    for chunk in events.feed(event, force=event is run.own_event):
                        yield chunk
            for chunk in events.flush():
                yield chunk
        except Exception as exc:
            yield events.error(exc)
