# SPDX-License-Identifier: Apache-2.0
"""One fast stream's events, from the agent's SSE data to what the client gets (fast_stream.py).

`StreamEvents.take` parses an event once (orjson) and, as the full path does to models: reports the
tasks it names (task_trail.py), masks every fulfilment and cuts every released value (json_cut.py).
Then the hold-back across events is chunks.py's `SplitGuard` itself, not a copy (PROTOCOL pitfall
26): while the guard holds nothing and the event's own text neither holds a value nor ends in what
could start one (`passes`), the guard would send it as it is, so the agent's bytes go on (or the
cleaned JSON, when the cut changed something). Any other event is read into an a2a-sdk model
(fast_events.py), fed to the guard, and what the guard lets out is written in the client's version.
An answerable `auth-required` (`BridgeRun.interrupt`) comes back as `Taken`, for the hand-over; an
event the bridge cannot read, or the agent's error, ends the stream (`StreamStop`) and drops what the
guard held.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from a2a.server.request_handlers.response_helpers import build_error_response
from a2a.utils.errors import A2AError, InvalidAgentResponseError

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
from keybroker.core.bridge.forms import Cut, fold, open_end
from keybroker.core.bridge.json_cut import clean_json, clean_json_proven, event_texts
from keybroker.core.bridge.rpc_errors import client_error
from keybroker.core.bridge.task_trail import observe_states

if TYPE_CHECKING:
    from a2a.server.events.event_queue import Event

    from keybroker.core.bridge.run import BridgeRun, Interrupt

__all__ = ["StreamEvents", "StreamStop", "Taken", "error_frame", "frame", "passes"]


def frame(data: bytes) -> bytes:
    return b"data: " + data + b"\r\n\r\n"


def error_frame(request_id: object, exc: BaseException) -> bytes:
    rid = request_id if isinstance(request_id, str | int) else None
    return frame(orjson.dumps(build_error_response(rid, client_error(exc))))


class StreamStop(Exception):
    """The stream ends with `frame` (an error event)."""

    def __init__(self, frame: bytes) -> None:
        super().__init__("stream stopped")
        self.frame = frame


class Taken:
    """An answerable `auth-required`: the agent's event (a model) and what the bridge answers."""

    __slots__ = ("event", "interrupt")

    def __init__(self, event: Event, interrupt: Interrupt) -> None:
        self.event = event
        self.interrupt = interrupt


def passes(kind: str, event: dict[str, Any], cut: Cut) -> bool:
    """Whether an idle `SplitGuard` would send this cleaned event as it is: its text (the guard's
    pieces, one lane) holds no value and does not end in the start of one."""
    if not cut:
        return True
    joined = "".join(event_texts(kind, event))
    return not joined or (open_end(joined, cut) == 0 and not cut.occurs_in(fold(joined)))


class StreamEvents:
    """One stream's events from the agent to the client: observed, cleaned, held back."""

    def __init__(self, run: BridgeRun, version: str, request_id: object) -> None:
        self.run = run
        self.version = version
        self.request_id = request_id
        self.guard = SplitGuard()

    def error(self, exc: BaseException) -> bytes:
        self.guard = SplitGuard()  # what was held goes nowhere
        return error_frame(self.request_id, exc)

    def _unreadable(self, what: str) -> StreamStop:
        return StreamStop(self.error(InvalidAgentResponseError(f"agent {self.run.link.slug!r} sent {what}")))

    def take(self, data: bytes) -> list[bytes] | Taken:
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
            cleaned, _ = clean_json(envelope, self.run.cut(), data)
            raise StreamStop(frame(orjson.dumps(cleaned)))
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
        cleaned, changed, clear = clean_json_proven(envelope, cut, data)
        if changed or cleaned is not envelope:  # masked or cut: the event is the cleaned one
            found = payload_of(cleaned.get("result"), self.version) if isinstance(cleaned, dict) else None
        # `clear`: the bytes proved what `passes` asks (json_cut.clean_json_proven), so it is not asked.
        if found is not None and self.guard.idle and (clear or passes(*found, cut)):
            # The agent's own bytes, unless cleaning changed them or they span lines (an event whose data
            # came in several `data:` lines: one line again, or the client would read only the first).
            own = not changed and b"\n" not in data and b"\r" not in data
            return [frame(data if own else orjson.dumps(cleaned))]
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
        return frame(orjson.dumps(to_result(event, self.version, self.request_id)))

    def _interrupt(self, envelope: dict[str, Any]) -> Taken | None:
        try:
            response = to_stream_response(envelope, self.version)
        except Exception:
            return None  # unreadable: read below, and refused there
        try:
            interrupt = self.run.interrupt(response)
        except A2AError as exc:  # a malformed demand
            raise StreamStop(self.error(exc)) from None
        return Taken(stream_payload(response), interrupt) if interrupt is not None else None

    def _observe(self, states: list[tuple[str, str, str]]) -> None:
        run, link = self.run, self.run.link
        if link.recall is not None:
            for task_id, context_id, _ in states:
                link.recall.know(run.recall_epoch, task_id, context_id)
        if link.tasks is not None:
            observe_states(link.tasks, link.slug, states, run.state)
