# SPDX-License-Identifier: Apache-2.0
"""A minimal a2a-sdk 1.x agent that needs secrets: the interop tests' A2A 1.0 (and 0.3) peer.

Runs with Keybroker's own venv (a2a-sdk 1.3). Usage: `python a2a1_agent.py [PORT]` (else
`$KEYBROKER_PEER_PORT`, else 10001). It serves, from one process (PROTOCOL.md §4):
- the card at `/.well-known/agent-card.json`, declaring JSON-RPC and HTTP+JSON in 1.0 and 0.3, so
  the SDK writes the merged 1.0 + 0.3 card; the secrets extension with demands `openai` and `github`;
  an apiKey scheme (`X-API-Key` header) and an HTTP bearer scheme, either one being enough;
- JSON-RPC for both versions at `/`, HTTP+JSON at `/message:send` (1.0) and `/v1/...` (0.3).

The schemes are only enforced when `KEYBROKER_PEER_API_KEY` and/or `KEYBROKER_PEER_BEARER` are set:
then every request but the card's needs `X-API-Key: <key>` or `Authorization: Bearer <token>`, and
gets a 401 with `WWW-Authenticate` otherwise.

`KEYBROKER_PEER_SCHEME=header|query|cookie|bearer` (with `KEYBROKER_PEER_SECRET`) makes a peer with
exactly one scheme, declared and enforced: an API key in the `X-API-Key` header, the `api_key` query
parameter or the `session_key` cookie, or a bearer token. Its card then names that scheme only, with
one requirement, so a client that picks the first requirement picks it.

Run behaviour mirrors the agentstack peer (agentstack_secret_agent.py): the keys it needs are every
declared demand, or those named as `keys=a,b` in the text; values pre-configured in the first
message's metadata count; missing ones are demanded through `auth-required` with
`metadata[SECRETS_URI] = {"secret_demands": {...}}` and an empty `parts` list; a resume carrying
`secret_fulfillments` completes the task with an artifact of proofs, one line per key:
`<key>: len=<n> sha256=<first 12 hex> via=<preconfigured|runtime>`. A resume that still lacks a
key fails the task.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sys
import uuid
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentExtension,
    AgentInterface,
    AgentSkill,
    APIKeySecurityScheme,
    HTTPAuthSecurityScheme,
    Message,
    Role,
    SecurityRequirement,
    SecurityScheme,
    StringList,
    TaskState,
)
from google.protobuf import json_format  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"
AGENT_NAME = "keybroker-a2a1-peer"
DEMANDS: dict[str, dict[str, str]] = {
    "openai": {"name": "OpenAI API key", "description": "sk- key for the completions API"},
    "github": {"name": "GitHub token", "description": "PAT with repo scope"},
}
API_KEY_HEADER = "X-API-Key"
QUERY_PARAM = "api_key"
COOKIE_NAME = "session_key"
#: KEYBROKER_PEER_SCHEME -> (scheme name, its SecurityScheme).
ONE_SCHEME = {
    "header": ("apiKey", APIKeySecurityScheme(location="header", name=API_KEY_HEADER)),
    "query": ("apiKey", APIKeySecurityScheme(location="query", name=QUERY_PARAM)),
    "cookie": ("apiKey", APIKeySecurityScheme(location="cookie", name=COOKIE_NAME)),
    "bearer": ("bearer", HTTPAuthSecurityScheme(scheme="Bearer")),
}
_KEYS = re.compile(r"keys=([A-Za-z0-9_.,-]+)")
_CARD_PATHS = ("/.well-known/agent-card.json",)


def proof(value: str) -> str:
    """Length and a sha256 prefix: enough for a test to compare, never the value."""
    return f"len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]}"


def wanted_keys(text: str) -> list[str]:
    """Keys named as `keys=a,b` in the text, else every declared demand."""
    match = _KEYS.search(text)
    return list(DEMANDS) if match is None else [k for k in match.group(1).split(",") if k]


def fulfilments(message: Message | None) -> dict[str, str]:
    """`metadata[SECRETS_URI].secret_fulfillments` of a message, as key -> value."""
    if message is None or not message.HasField("metadata"):
        return {}
    metadata = json_format.MessageToDict(message.metadata)
    payload = metadata.get(SECRETS_URI) or {}
    found = payload.get("secret_fulfillments") or {}
    return {
        k: v["secret"] for k, v in found.items() if isinstance(v, dict) and isinstance(v.get("secret"), str)
    }


class SecretExecutor(AgentExecutor):
    """Needs secrets; proves it got them (see the module docstring)."""

    def __init__(self) -> None:
        self._got: dict[str, dict[str, tuple[str, str]]] = {}
        self._keys: dict[str, list[str]] = {}

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        task = context.current_task
        resumed = task is not None
        if task is None:
            assert message is not None
            task = new_task_from_user_message(message)
            # Ids come from the request context (it may have generated them).
            task.id = context.task_id or task.id
            task.context_id = context.context_id or task.context_id
            await event_queue.enqueue_event(task)  # 1.x: a Task before any status update (PROTOCOL §4)
            self._keys[task.id] = wanted_keys(context.get_user_input())
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        got = self._got.setdefault(task.id, {})
        via = "runtime" if resumed else "preconfigured"
        for key, value in fulfilments(message).items():
            got.setdefault(key, (value, via))
        keys = self._keys.get(task.id, list(DEMANDS))
        missing = [k for k in keys if k not in got]
        if missing and resumed:
            await updater.failed(self._text(updater, f"missing: {','.join(missing)}"))
            return
        if missing:
            demands = {k: DEMANDS.get(k, {"name": f"{k} (run-time only)"}) for k in missing}
            metadata: dict[str, Any] = {SECRETS_URI: {"secret_demands": demands}}
            ask = Message(
                role=Role.ROLE_AGENT,
                message_id=str(uuid.uuid4()),
                task_id=task.id,
                context_id=task.context_id,
                parts=[],
            )
            ask.metadata.update(metadata)
            await updater.update_status(TaskState.TASK_STATE_AUTH_REQUIRED, message=ask)
            return
        text = "\n".join(f"{k}: {proof(got[k][0])} via={got[k][1]}" for k in keys)
        await updater.add_artifact([new_text_part(text)], name="proof")
        await updater.complete()
        self._got.pop(task.id, None)
        self._keys.pop(task.id, None)

    @staticmethod
    def _text(updater: TaskUpdater, text: str) -> Message:
        return updater.new_agent_message([new_text_part(text)])

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is not None:
            await TaskUpdater(event_queue, task.id, task.context_id).cancel()


def build_card(base_url: str, scheme: str | None = None) -> AgentCard:
    """The card: JSON-RPC and HTTP+JSON in 1.0 and 0.3, the secrets extension, apiKey or bearer
    (or, with `scheme`, the one scheme of `ONE_SCHEME[scheme]`)."""
    extension = AgentExtension(uri=SECRETS_URI, required=False)
    extension.params.update({"secret_demands": DEMANDS})
    card = AgentCard(
        name=AGENT_NAME,
        description="Test peer (a2a-sdk 1.x): needs an OpenAI key and a GitHub token; replies with proofs.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=base_url, protocol_binding="HTTP+JSON", protocol_version="1.0"),
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version="0.3"),
            AgentInterface(url=base_url, protocol_binding="HTTP+JSON", protocol_version="0.3"),
        ],
        capabilities=AgentCapabilities(streaming=True, extensions=[extension]),
        security_schemes={
            "apiKey": SecurityScheme(
                api_key_security_scheme=APIKeySecurityScheme(
                    location="header", name=API_KEY_HEADER, description="Peer API key"
                )
            ),
            "bearer": SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(scheme="Bearer", bearer_format="JWT")
            ),
        },
        security_requirements=[
            SecurityRequirement(schemes={"bearer": StringList()}),
            SecurityRequirement(schemes={"apiKey": StringList()}),
        ],
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(
                id="proof",
                name="Prove secrets",
                description="Replies with the length and a hash prefix of each secret it was given.",
                tags=["secrets", "test"],
            )
        ],
    )
    if scheme is not None:
        name, body = ONE_SCHEME[scheme]
        card.security_schemes.clear()
        del card.security_requirements[:]
        if isinstance(body, APIKeySecurityScheme):
            card.security_schemes[name].CopyFrom(SecurityScheme(api_key_security_scheme=body))
        else:
            card.security_schemes[name].CopyFrom(SecurityScheme(http_auth_security_scheme=body))
        card.security_requirements.append(SecurityRequirement(schemes={name: StringList()}))
    return card


class RequireOneScheme:
    """ASGI middleware: every request but the card's needs the secret, sent the way `kind` says."""

    def __init__(self, app: ASGIApp, kind: str, secret: str) -> None:
        self.app, self.kind, self.secret = app, kind, secret
        self.refused = 0

    def _given(self, scope: Scope) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.kind == "header":
            return headers.get(API_KEY_HEADER.lower())
        if self.kind == "query":
            values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(QUERY_PARAM)
            return values[0] if values and len(values) == 1 else None
        if self.kind == "cookie":
            jar = SimpleCookie()
            jar.load(headers.get("cookie", ""))
            morsel = jar.get(COOKIE_NAME)
            return morsel.value if morsel is not None else None
        auth = headers.get("authorization", "")
        return auth[7:].strip() if auth[:7].lower() == "bearer " else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _CARD_PATHS:
            await self.app(scope, receive, send)
            return
        given = self._given(scope)
        if given is not None and hmac.compare_digest(given.encode(), self.secret.encode()):
            await self.app(scope, receive, send)
            return
        self.refused += 1
        await _unauthorized(send)


async def _unauthorized(send: Send) -> None:
    body = b'{"error":"unauthorized"}'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="a2a1-peer"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequireCredential:
    """ASGI middleware: every request but the card's needs the API key or the bearer token."""

    def __init__(self, app: ASGIApp, api_key: str | None, bearer: str | None) -> None:
        self.app, self.api_key, self.bearer = app, api_key, bearer

    def _allowed(self, headers: dict[str, str]) -> bool:
        given_key = headers.get(API_KEY_HEADER.lower())
        if self.api_key and given_key is not None and hmac.compare_digest(given_key, self.api_key):
            return True
        auth = headers.get("authorization", "")
        if self.bearer and auth[:7].lower() == "bearer ":
            return hmac.compare_digest(auth[7:].strip(), self.bearer)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _CARD_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self._allowed(headers):
            await self.app(scope, receive, send)
            return
        await _unauthorized(send)


def build_app(port: int, scheme: str | None = None, secret: str | None = None) -> ASGIApp:
    """The peer's ASGI app for `http://127.0.0.1:<port>` (`scheme`, `secret`: see the docstring)."""
    scheme = scheme or os.environ.get("KEYBROKER_PEER_SCHEME") or None
    secret = secret or os.environ.get("KEYBROKER_PEER_SECRET") or None
    card = build_card(f"http://127.0.0.1:{port}", scheme)
    handler = DefaultRequestHandler(
        agent_executor=SecretExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    app = Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True),
            *create_rest_routes(handler, enable_v0_3_compat=True),
        ]
    )
    if scheme is not None:
        if not secret:
            raise SystemExit("KEYBROKER_PEER_SCHEME needs KEYBROKER_PEER_SECRET")
        return RequireOneScheme(app, scheme, secret)
    api_key = os.environ.get("KEYBROKER_PEER_API_KEY") or None
    bearer = os.environ.get("KEYBROKER_PEER_BEARER") or None
    if api_key or bearer:
        return RequireCredential(app, api_key, bearer)
    return app


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("KEYBROKER_PEER_PORT", "10001"))
    uvicorn.run(build_app(port), host="127.0.0.1", port=port, log_level="warning", date_header=False)


if __name__ == "__main__":
    main()
