# SPDX-License-Identifier: Apache-2.0
"""The A2A 0.3 REST streams (`POST /v1/message:stream`, `/v1/tasks/{id}:subscribe`), answered cleanly.

a2a-sdk's 0.3 REST adapter starts the SSE response before it reads the request: the body is parsed,
and the run started, inside the event generator. A malformed body, an agent that is down or any other
error then comes after `200 OK` went out, and the connection is dropped mid-stream (and uvicorn logs
a traceback). Its 1.0 REST routes wait for the first event instead, which cannot be done here: the
first event may be minutes away behind a prompt, and a stream must start at once so keep-alive pings
reach the client (keepalive.py).

So these routes check first what can be known without waiting for anyone: the body parses as a 0.3
`SendMessageRequest` holding what A2A requires of a message (else 400, as the SDK's own REST errors
look; params.py), and the agent answers (else 502,
agent_errors.py). Only then does the SDK's route start the stream, and an error after that arrives as
an SSE `error` event carrying the REST error payload (as the 1.0 REST stream sends it), never as a
dropped connection.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from a2a.compat.v0_3 import a2a_v0_3_pb2 as pb2_v03
from a2a.compat.v0_3 import proto_utils
from a2a.utils.error_handlers import build_rest_error_payload
from a2a.utils.errors import A2AError, InternalError, InvalidParamsError
from google.protobuf.json_format import Parse, ParseError  # type: ignore[import-untyped]
from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from keybroker.core.bridge.agent_errors import AgentUnreachableError, unreachable
from keybroker.core.bridge.params import v03_message_problem
from keybroker.core.bridge.upstream import Upstream

__all__ = ["V03_STREAM_PATHS", "checked_v03_streams"]

log = logging.getLogger("keybroker.bridge")

SEND_STREAM = "/v1/message:stream"
V03_STREAM_PATHS = frozenset({SEND_STREAM, "/v1/tasks/{id}:subscribe"})
#: The longest parser message passed back to the client.
_MAX_PROBLEM = 300

Endpoint = Callable[[Request], Awaitable[Response]]


def _error_response(error: Exception) -> JSONResponse:
    payload = build_rest_error_payload(error)
    return JSONResponse(payload, status_code=int(payload["error"]["code"]))


def body_problem(body: bytes, *, legacy_agent: bool = False) -> Exception | None:
    """Why `body` is not a 0.3 REST `SendMessageRequest` the SDK can serve, or None (`legacy_agent`:
    the agent speaks only A2A 0.3, so a resume may have no parts: params.py)."""
    try:
        parsed = pb2_v03.SendMessageRequest()
        Parse(body, parsed, ignore_unknown_fields=True)
        params = proto_utils.FromProto.message_send_params(parsed)
        if not parsed.request.message_id:  # e.g. `{"message": "text"}`, which protobuf reads as empty
            return InvalidParamsError("the body holds no message with a messageId")
        missing = v03_message_problem(params.message, legacy_agent=legacy_agent)
        if missing is not None:
            return missing
    except ParseError as exc:
        problem: Exception = ParseError(str(exc)[:_MAX_PROBLEM])
        return problem
    except Exception as exc:
        log.info("bridge: a 0.3 REST stream body did not convert: %s", type(exc).__name__)
        return InvalidParamsError("the body is not a valid A2A 0.3 SendMessageRequest")
    return None


async def _guarded(events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The SDK's events; an error after the stream started becomes a last `error` event."""
    try:
        async for event in events:
            yield event
    except Exception as exc:
        error = exc if isinstance(exc, A2AError) else InternalError("the bridge failed on this stream")
        if not isinstance(exc, A2AError):
            log.error("bridge: a 0.3 REST stream failed: %s", type(exc).__name__)
        yield ServerSentEvent(data=json.dumps(build_rest_error_payload(error)), event="error")


def _checked(endpoint: Endpoint, upstream: Upstream, *, has_body: bool) -> Endpoint:
    async def checked(request: Request) -> Response:
        if has_body:
            # The body is cached: the SDK's route reads it again.
            problem = body_problem(await request.body(), legacy_agent=upstream.legacy)
            if problem is not None:
                return _error_response(problem)
        if not await upstream.answers():
            return _error_response(AgentUnreachableError(unreachable(upstream.slug)))
        response = await endpoint(request)
        events = getattr(response, "body_iterator", None)
        if events is not None:
            response.body_iterator = _guarded(events)  # type: ignore[attr-defined]
        return response

    return checked


def checked_v03_streams(routes: Sequence[BaseRoute], upstream: Upstream) -> list[BaseRoute]:
    """`routes` (from `create_rest_routes`) with the 0.3 stream routes checked as described above."""
    out: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Route) and route.path in V03_STREAM_PATHS:
            endpoint = _checked(route.endpoint, upstream, has_body=route.path == SEND_STREAM)
            route = Route(route.path, endpoint=endpoint, methods=sorted(route.methods or ()))
        out.append(route)
    return out
