# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the bridge tests (unit and interop): agent records and a running bridge."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx

from keybroker.core.a2a.card import parse_card
from keybroker.core.a2a.card_fetch import fetch_card_sync
from keybroker.core.bridge import BridgeApp, running_bridge
from keybroker.core.bridge.ports import SecretSource
from keybroker.core.models import AgentRecord, SecretValue

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"


def record_from_card(card: Mapping[str, Any], slug: str = "peer", *, url: str | None = None) -> AgentRecord:
    """The AgentRecord the catalog would hold for an agent serving `card`."""
    parsed = parse_card(card)
    base = url or parsed.interfaces[0].url
    return AgentRecord(
        slug=slug,
        url=base,
        card_url=base.rstrip("/") + "/.well-known/agent-card.json",
        name=parsed.name,
        description=parsed.description,
        protocol_versions=parsed.protocol_versions,
        fingerprint=parsed.fingerprint,
        demands=parsed.demands,
        schemes=parsed.schemes,
        security=parsed.security,
        streaming=parsed.streaming,
        card_json=json.dumps(dict(card)),
        model_demands=parsed.model_demands,
    )


def record_from_url(url: str, slug: str = "peer", **changes: Any) -> AgentRecord:
    """Fetch a live agent's card and build its record (`changes`: e.g. require_token=True)."""
    fetched = fetch_card_sync(url)
    return replace(record_from_card(fetched.data, slug, url=fetched.base_url), **changes)


@dataclass
class Bridged:
    """A bridge running on a free port, fronting some agents."""

    app: BridgeApp
    port: int

    def url(self, slug: str = "peer") -> str:
        """The bridged URL of an agent."""
        return f"http://127.0.0.1:{self.port}/agents/{slug}"


@asynccontextmanager
async def bridged(
    records: AgentRecord | list[AgentRecord],
    secrets: SecretSource,
    *,
    api_token: str | None = None,
    **options: Any,
) -> AsyncIterator[Bridged]:
    """Serve a BridgeApp for `records` on 127.0.0.1:<free port> for the block."""
    listed = records if isinstance(records, list) else [records]
    by_slug = {r.slug: r for r in listed}
    token = SecretValue(api_token) if api_token is not None else None
    app = BridgeApp(by_slug.get, secrets, api_token=token, **options)
    try:
        async with running_bridge(app, 0) as port:
            yield Bridged(app, port)
    finally:
        await app.aclose()


def http_client(**kwargs: Any) -> httpx.AsyncClient:
    """A client like a real A2A client's, without proxies."""
    kwargs.setdefault("timeout", 30.0)
    return httpx.AsyncClient(trust_env=False, **kwargs)


def jsonrpc(method: str, params: Mapping[str, Any], request_id: int | str = 1) -> dict[str, Any]:
    """A JSON-RPC request body."""
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": dict(params)}


def message_v03(text: str, *, metadata: Mapping[str, Any] | None = None, **ids: str) -> dict[str, Any]:
    """A 0.3 user message (`taskId`/`contextId` via `ids`)."""
    message: dict[str, Any] = {
        "kind": "message",
        "role": "user",
        "messageId": str(uuid.uuid4()),
        "parts": [{"kind": "text", "text": text}],
    }
    if metadata is not None:
        message["metadata"] = dict(metadata)
    message.update(ids)
    return message


def message_v10(text: str, *, metadata: Mapping[str, Any] | None = None, **ids: str) -> dict[str, Any]:
    """A 1.0 user message (`taskId`/`contextId` via `ids`)."""
    message: dict[str, Any] = {"role": "ROLE_USER", "messageId": str(uuid.uuid4()), "parts": [{"text": text}]}
    if metadata is not None:
        message["metadata"] = dict(metadata)
    message.update(ids)
    return message


def sse_payloads(text: str) -> list[dict[str, Any]]:
    """The JSON `data:` payloads of an SSE body, in order (comments skipped)."""
    events: list[dict[str, Any]] = []
    data: list[str] = []
    for line in text.splitlines():
        if not line:
            if data:
                events.append(json.loads("\n".join(data)))
                data = []
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        if key == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        events.append(json.loads("\n".join(data)))
    return events


class RecordingTransport(httpx.AsyncBaseTransport):
    """An httpx transport keeping every byte the client receives (headers and bodies, streams too)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport(trust_env=False)
        self.received = bytearray()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        for key, value in response.headers.raw:
            self.received += key + b": " + value + b"\n"
        inner = response.stream
        received = self.received

        class _Tee(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in inner:  # type: ignore[union-attr]
                    received.extend(chunk)
                    yield chunk

            async def aclose(self) -> None:
                await inner.aclose()  # type: ignore[union-attr]

        response.stream = _Tee()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class ClientRun:
    """What a plain a2a-sdk 1.x client saw: every event (as JSON), the task it fetched afterwards."""

    events: list[dict[str, Any]]
    task: dict[str, Any] | None
    received: bytes

    @property
    def state(self) -> str | None:
        """The task's final state (from tasks/get), or None for a message reply."""
        return None if self.task is None else self.task["status"]["state"]

    @property
    def text(self) -> str:
        """All artifact and message text of the fetched task and the events."""
        parts: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("text"), str):
                    parts.append(node["text"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.events)
        walk(self.task)
        return "\n".join(parts)


async def a2a_client_run(
    url: str,
    text: str,
    *,
    streaming: bool = True,
    binding: str = "JSONRPC",
    metadata: Mapping[str, Any] | None = None,
    timeout: float = 60.0,
    extensions: Sequence[str] = (),
    fetch: bool = True,
) -> ClientRun:
    """Send `text` with a plain a2a-sdk 1.x client (card resolved from `url`), then get the task.

    `extensions`: URIs the client asks for itself (the `A2A-Extensions` header, and `X-A2A-Extensions`
    on 0.3), as a client that speaks them does. `fetch` False: no `tasks/get` afterwards."""
    from a2a.client import ClientCallContext, ClientConfig, ClientFactory
    from a2a.client.service_parameters import ServiceParametersFactory, with_a2a_extensions
    from a2a.types import GetTaskRequest, Message, Part, Role, SendMessageRequest
    from google.protobuf.json_format import MessageToDict

    transport = RecordingTransport()
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as http:
        config = ClientConfig(httpx_client=http, streaming=streaming, supported_protocol_bindings=[binding])
        client = await ClientFactory(config).create_from_url(url)
        message = Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=[Part(text=text)])
        if metadata:
            message.metadata.update(dict(metadata))
        context = None
        if extensions:
            params = ServiceParametersFactory.create([with_a2a_extensions(list(extensions))])
            context = ClientCallContext(service_parameters=params)
        request = SendMessageRequest(message=message)
        events = [MessageToDict(e) async for e in client.send_message(request, context=context)]
        task_id = None
        for event in events:
            found = event.get("task", {}).get("id") or event.get("statusUpdate", {}).get("taskId")
            task_id = task_id or found
        task = None
        if task_id and fetch:
            task = MessageToDict(await client.get_task(GetTaskRequest(id=task_id)))
        await client.close()
    return ClientRun(events=events, task=task, received=bytes(transport.received))
