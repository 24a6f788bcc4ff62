# SPDX-License-Identifier: Apache-2.0
"""One bridged agent: its rewritten card, its upstream and its a2a-sdk routes, as a Starlette app.

Mounted by app.py at `/agents/<slug>`, it serves (paths relative to that prefix):
- `GET /.well-known/agent-card.json`: the bridged card (`create_agent_card_routes`);
- `POST /`: JSON-RPC, 0.3 and 1.0 method families (`jsonrpc_route.py`);
- HTTP+JSON: `/message:send`, `/message:stream`, `/tasks/...` (1.0) and `/v1/...` (0.3)
  (`create_rest_routes(..., enable_v0_3_compat=True)`; the 0.3 streams check their body and the
  agent before they start: rest_v03.py).
Unknown paths and methods answer JSON, a body that is not UTF-8 a JSON 400 (`Utf8Body`), and an
unexpected exception a JSON 500 without a traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx
from a2a.server.routes import create_agent_card_routes, create_rest_routes
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from keybroker.core.bridge.bridged_card import bridged_base_url, bridged_card, upstream_card
from keybroker.core.bridge.fast_path import FastPath, fast_path_chosen
from keybroker.core.bridge.guard import replay_body, send_json_error
from keybroker.core.bridge.handler import BridgeHandler
from keybroker.core.bridge.jsonrpc_route import BridgeContextBuilder, jsonrpc_route
from keybroker.core.bridge.ports import CallerLookup, ModelSource, SecretSource
from keybroker.core.bridge.released import Recall, ValueForms
from keybroker.core.bridge.rest_v03 import checked_v03_streams
from keybroker.core.bridge.upstream import Upstream, UpstreamLimits
from keybroker.core.models import AgentRecord

__all__ = ["AgentChannel", "build_channel"]

log = logging.getLogger("keybroker.bridge")


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    reason = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
    message = {
        404: f"no such bridge endpoint: {request.method} {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(status, f"HTTP {status}")
    # Starlette names the route's methods in `Allow` on a 405 (the guard passes it on for OPTIONS).
    allow = (exc.headers or {}).get("Allow") if isinstance(exc, HTTPException) and status == 405 else None
    headers = {"Allow": allow} if allow else None
    return JSONResponse({"error": reason, "message": message}, status_code=status, headers=headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("bridge: unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return JSONResponse(
        {"error": "internal_error", "message": "the bridge failed on this request (see its log)"},
        status_code=500,
    )


class Utf8Body:
    """ASGI middleware: a request body that is not UTF-8 gets a 400, never the SDK's 500.

    a2a-sdk's HTTP+JSON dispatcher decodes the body as UTF-8 without catching the error (a
    `UnicodeDecodeError` becomes `500 unknown exception`); A2A bodies are JSON, hence UTF-8. The
    body is at most 1 MiB (the guard read it already), so reading it here costs a copy at most.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            problem = "the request body is not UTF-8 (A2A bodies are JSON)"
            await send_json_error(send, 400, "bad_request", problem)
            return
        await self.app(scope, replay_body(body, receive), send)


@dataclass(eq=False)
class AgentChannel:
    """The live pieces for one agent record on one port."""

    record: AgentRecord
    port: int
    app: ASGIApp
    upstream: Upstream
    active: int = field(default=0)
    retired: bool = field(default=False)

    fast: FastPath | None = field(default=None)

    async def aclose(self) -> None:
        """Close the agent's connection pools."""
        if self.fast is not None:
            await self.fast.aclose()
        await self.upstream.aclose()


def build_channel(
    record: AgentRecord,
    port: int,
    secrets: SecretSource,
    *,
    limits: UpstreamLimits | None = None,
    caller: CallerLookup | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    follow_streams: bool = False,
    released: ValueForms | None = None,
    recall: Recall | None = None,
    base_url: str | None = None,
    models: ModelSource | None = None,
) -> AgentChannel:
    """Everything needed to bridge `record` on `port`. Raises `InvalidCardError` for a bad card.

    `base_url`: where clients reach it (default `http://127.0.0.1:<port>/agents/<slug>`; an agent's
    own port serves it at `http://127.0.0.1:<port>`).

    `released`: the values released to the agent so far, shared with its other channels (app.py);
    `recall`: those released before this process or the last lock, rebuilt (shared too).
    """
    agent_card = upstream_card(record.card_json)
    base_url = base_url or bridged_base_url(port, record.slug)
    card = bridged_card(agent_card, base_url, require_token=record.require_token)
    upstream = Upstream(
        agent_card,
        slug=record.slug,
        limits=limits,
        transport=transport,
        follow_streams=follow_streams,
        probe_url=record.card_url,
    )

    handler = BridgeHandler(
        record,
        upstream,
        secrets,
        bridged_card=lambda extended: bridged_card(extended, base_url, require_token=record.require_token),
        caller=caller,
        released=released,
        recall=recall,
        models=models,
        gateway_port=port,
    )
    # The fast path needs the network: a test `transport` keeps every request on the full path.
    fast = FastPath(handler.link, agent_card, enabled=fast_path_chosen() and transport is None)
    routes = [
        *create_agent_card_routes(card),
        jsonrpc_route(handler, "/", fast),
        *checked_v03_streams(
            create_rest_routes(handler, BridgeContextBuilder(), enable_v0_3_compat=True), upstream
        ),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: _http_error, 405: _http_error, 500: _internal_error},
    )
    return AgentChannel(record=record, port=port, app=Utf8Body(app), upstream=upstream, fast=fast)
