# SPDX-License-Identifier: Apache-2.0
"""The model gateway (issue 14): `/models/<slug>/v1/{chat/completions,completions,embeddings,models}`.
Longer than 300 lines because checking, forwarding, streaming and error answers share one request.

An agent whose model demand was answered through the gateway calls this OpenAI-compatible base URL
with the token it was given (`Authorization: Bearer <token>`). The gateway checks the token (minted
for that agent and grant: `ModelSource.route`), the agent's daily budget and the model asked for,
then forwards the request to the chosen provider with the provider's real key, which never leaves
Keybroker. Server-sent events pass through chunk by chunk as they arrive, never buffered; the
upstream response is closed in a `finally`.

- Usage: requests and tokens are counted per agent and model, from `usage` in an answer, or from a
  stream's chunk that carries it (`stream_options.include_usage`).
- Errors: a provider that answers an error is passed on with its status and an OpenAI-style body
  (its own when it sent one; the key cut out of it); one that is down gets 502, one too slow 504;
  nothing is retried. A refused key (401, 403) is reported (the tray says so).
- `GET /models` answers the provider's list narrowed to the granted model.

The upstream hop is one pooled httpx client per provider (`trust_env=False`, no redirects,
TCP_NODELAY, keep-alive below uvicorn's 5 s). bench/gateway.py measures it against the provider.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import httpx
from starlette.types import Message, Receive, Scope, Send

from keybroker.core.bridge.ports import GATEWAY_PREFIX, ModelRoute, ModelSource
from keybroker.core.models import MASK, SecretValue

__all__ = ["ENDPOINTS", "ModelGateway", "openai_error"]

log = logging.getLogger("keybroker.gateway")

#: Endpoint (below /v1) -> the method it takes.
ENDPOINTS = {"chat/completions": "POST", "completions": "POST", "embeddings": "POST", "models": "GET"}
#: Response headers passed on from the provider.
_PASSED = frozenset({b"content-type", b"retry-after", b"x-request-id", b"openai-processing-ms"})
_ERROR_LIMIT = 256 * 1024
KEEPALIVE_EXPIRY = 4.0
CONNECTIONS = 16


def openai_error(message: str, kind: str, code: str | None = None) -> bytes:
    """An OpenAI-style error body."""
    return json.dumps(
        {"error": {"message": message, "type": kind, "param": None, "code": code or kind}}
    ).encode()


async def _answer(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *(headers or [(b"content-type", b"application/json")]),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class _UsageScan:
    """Finds `usage` in a stream's `data:` lines as they pass (lines may be split across chunks)."""

    def __init__(self) -> None:
        self.usage: Any = None
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        if b'"usage"' not in chunk and not self._partial:
            return
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > _ERROR_LIMIT:  # a line that never ends is not an event we read
            self._partial = b""
        for line in lines:
            if line.startswith(b"data:") and b'"usage"' in line:
                try:
                    event = json.loads(line[5:])
                except ValueError:
                    continue
                if isinstance(event, dict) and isinstance(event.get("usage"), dict):
                    self.usage = event["usage"]


class ModelGateway:
    """The gateway's ASGI app (module docstring); app.py mounts it at `/models/`."""

    def __init__(self, models: ModelSource, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._models = models
        self._transport = transport
        self._clients: dict[str, httpx.AsyncClient] = {}

    def __repr__(self) -> str:
        return f"ModelGateway({len(self._clients)} providers)"

    async def aclose(self) -> None:
        """Close every provider's connection pool."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _client(self, base_url: str) -> httpx.AsyncClient:
        client = self._clients.get(base_url)
        if client is None:
            pool = httpx.Limits(
                max_connections=CONNECTIONS,
                max_keepalive_connections=CONNECTIONS,
                keepalive_expiry=KEEPALIVE_EXPIRY,
            )
            wire = self._transport or httpx.AsyncHTTPTransport(
                limits=pool, trust_env=False, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
            )
            client = self._clients[base_url] = httpx.AsyncClient(
                transport=wire,
                limits=pool,
                trust_env=False,
                follow_redirects=False,
                timeout=httpx.Timeout(connect=10.0, read=300.0, write=30.0, pool=None),
            )
        return client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slug, _, tail = scope["path"][len(GATEWAY_PREFIX) :].partition("/")
        endpoint = tail.removeprefix("v1/") if tail.startswith("v1/") else None
        method = ENDPOINTS.get(endpoint or "")
        if not slug or endpoint is None or method is None:
            message = (
                f"no such model endpoint; use {GATEWAY_PREFIX}<agent>/v1/" + "{" + ",".join(ENDPOINTS) + "}"
            )
            await _answer(send, 404, openai_error(message, "not_found"))
            return
        if scope["method"] != method:
            await _answer(send, 405, openai_error(f"{endpoint} takes {method}", "method_not_allowed"))
            return
        token = _bearer(scope)
        route = self._models.route(token, slug) if token else None
        if route is None:
            message = "Keybroker: no valid gateway token for this agent (revoked, locked, or its task ended)"
            await _answer(send, 401, openai_error(message, "invalid_request_error", "invalid_api_key"))
            return
        refusal = self._models.budget_refusal(slug)
        if refusal is not None:
            await _answer(send, 429, openai_error(refusal, "budget_exceeded"))
            return
        body = await _body(receive)
        if method == "POST":
            body, problem = self._checked(body, route)
            if problem is not None:
                await _answer(send, 400, openai_error(problem, "invalid_request_error", "model_not_granted"))
                return
        await self._forward(route, endpoint, method, body, send)

    def _checked(self, body: bytes, route: ModelRoute) -> tuple[bytes, str | None]:
        """The body to send (the model name as the provider knows it), or why it is refused."""
        try:
            request = json.loads(body)
        except ValueError:
            return body, "the request body is not JSON"
        if not isinstance(request, dict):
            return body, "the request body must be a JSON object"
        model = request.get("model")
        if model == route.model:
            return body, None
        if isinstance(model, str) and model.endswith("/" + route.model):  # the LiteLLM identifier
            request["model"] = route.model
            return json.dumps(request).encode(), None
        return body, f"this token is for model {route.model!r}, not {model!r}"

    async def _forward(self, route: ModelRoute, endpoint: str, method: str, body: bytes, send: Send) -> None:
        key = await self._models.key_for(route)
        headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if key is not None:
            headers["authorization"] = f"Bearer {key.reveal()}"
        client = self._client(route.base_url)
        request = client.build_request(
            method,
            f"{route.base_url}/{endpoint}",
            headers=headers,
            content=body if method == "POST" else None,
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException:
            await self._failed(
                route, send, 504, f"provider {route.provider!r} did not answer in time", "provider_timeout"
            )
            return
        except httpx.HTTPError as exc:
            problem = f"provider {route.provider!r} is unreachable ({type(exc).__name__})"
            await self._failed(route, send, 502, problem, "provider_unreachable")
            return
        try:
            passed = [(k, v) for k, v in response.headers.raw if k.lower() in _PASSED]
            streaming = response.headers.get("content-type", "").startswith("text/event-stream")
            if response.status_code >= 400:
                await self._error(route, response, passed, send, key)
            elif streaming:
                await self._stream(route, response, passed, send)
            else:
                await self._whole(route, endpoint, response, passed, send)
        finally:
            await response.aclose()

    async def _stream(
        self, route: ModelRoute, response: httpx.Response, headers: list[tuple[bytes, bytes]], send: Send
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [*headers, (b"cache-control", b"no-store")],
            }
        )
        scan = _UsageScan()
        try:
            async for chunk in response.aiter_raw():
                scan.feed(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError as exc:  # the provider broke off: the agent sees the stream end early
            log.warning("provider %s broke off a stream (%s)", route.provider, type(exc).__name__)
        finally:
            self._models.record(route, response.status_code, scan.usage)

    async def _whole(
        self,
        route: ModelRoute,
        endpoint: str,
        response: httpx.Response,
        headers: list[tuple[bytes, bytes]],
        send: Send,
    ) -> None:
        data = await response.aread()
        usage = None
        if endpoint == "models" or b'"usage"' in data:
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                usage = parsed.get("usage")
                if endpoint == "models" and isinstance(parsed.get("data"), list):
                    parsed["data"] = [
                        m for m in parsed["data"] if isinstance(m, dict) and m.get("id") == route.model
                    ]
                    data = json.dumps(parsed).encode()
        if endpoint != "models":
            self._models.record(route, response.status_code, usage)
        await _answer(send, response.status_code, data, [h for h in headers] or None)

    async def _error(
        self,
        route: ModelRoute,
        response: httpx.Response,
        headers: list[tuple[bytes, bytes]],
        send: Send,
        key: SecretValue | None,
    ) -> None:
        """The provider's error, passed on: its status, an OpenAI-style body, never the key."""
        data = b""
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > _ERROR_LIMIT:
                data = data[:_ERROR_LIMIT]
                break
        text = data.decode("utf-8", "replace")
        if key is not None and key.reveal() in text:
            text = text.replace(key.reveal(), MASK)
        try:
            shaped = isinstance(json.loads(text).get("error"), dict)
        except (ValueError, AttributeError):
            shaped = False
        if not shaped:
            message = f"provider {route.provider!r} answered HTTP {response.status_code}: {text[:500]}"
            text = openai_error(message, "provider_error", str(response.status_code)).decode()
        kept = [(k, v) for k, v in headers if k.lower() != b"content-type"]
        log.info("provider %s answered %s to %s", route.provider, response.status_code, route.agent)
        self._models.record(route, response.status_code, None)
        await _answer(
            send, response.status_code, text.encode(), [(b"content-type", b"application/json"), *kept]
        )

    async def _failed(self, route: ModelRoute, send: Send, status: int, message: str, kind: str) -> None:
        log.warning("%s (agent %s)", message, route.agent)
        self._models.record(route, status, None)
        await _answer(send, status, openai_error(message, kind))
