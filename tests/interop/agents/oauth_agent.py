# SPDX-License-Identifier: Apache-2.0
"""An a2a-sdk 1.x agent protected the way its card says: OAuth 2 / OIDC access tokens it validates
itself (PyJWT: signature from the issuer's JWKS, `iss`, `aud` = its own URL, `exp`, scope), HTTP
basic, or mutual TLS (served by uvicorn with `ssl_cert_reqs=CERT_REQUIRED`).

Usage: `python oauth_agent.py PORT`. Environment:
- `KEYBROKER_PEER_SCHEMES`: the card's `securitySchemes`, 1.0 JSON (`{"name": {"oauth2SecurityScheme":
  {...}}}`); `KEYBROKER_PEER_REQUIREMENTS`: its `securityRequirements`, 1.0 JSON;
- `KEYBROKER_PEER_ISSUER`: tokens must come from this issuer (its JWKS at `<issuer>/jwks`, found by
  discovery) with `aud` = `http://127.0.0.1:<PORT>` (RFC 8707) and every scope of
  `KEYBROKER_PEER_SCOPE` (space-separated);
- `KEYBROKER_PEER_BASIC`: `user:password` accepted as HTTP basic instead;
- `KEYBROKER_PEER_TLS_DIR`: serve https with `server.pem`, `server.key`, requiring a client
  certificate signed by `ca.pem` (then every request, the card's too, needs one);
- `KEYBROKER_PEER_ECHO_TOKEN=1`: the reply quotes the credential it got (the bridge must cut it).
Every request but the card's without an acceptable credential gets a 401 with `WWW-Authenticate`.
A message is answered with a completed task whose artifact says who was let in: `sub=... scope=...`
(or `user=...`, or `cert=<subject CN>`), never the credential unless asked to echo it.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import ssl
import sys
from pathlib import Path
from typing import Any

import httpx
import jwt
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
    AgentInterface,
    AgentSkill,
    SecurityRequirement,
    SecurityScheme,
)
from google.protobuf import json_format  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

CARD_PATH = "/.well-known/agent-card.json"
#: Who the middleware let in, by ASGI scope (read by the executor through a contextvar-free header).
WHO_HEADER = "x-peer-authorized"


class Validator:
    """Checks one request's credential (module docstring); returns who it is, or None."""

    def __init__(self, audience: str) -> None:
        self.audience = audience
        self.issuer = os.environ.get("KEYBROKER_PEER_ISSUER") or None
        self.scopes = set((os.environ.get("KEYBROKER_PEER_SCOPE") or "").split())
        self.basic = os.environ.get("KEYBROKER_PEER_BASIC") or None
        self.echo = os.environ.get("KEYBROKER_PEER_ECHO_TOKEN") == "1"
        self._jwks: jwt.PyJWKClient | None = None

    def _jwks_client(self) -> jwt.PyJWKClient:
        if self._jwks is None:
            assert self.issuer is not None
            meta = httpx.get(f"{self.issuer}/.well-known/openid-configuration", trust_env=False).json()
            self._jwks = jwt.PyJWKClient(meta["jwks_uri"])
        return self._jwks

    def bearer(self, token: str) -> str | None:
        if self.issuer is None:
            return None
        try:
            key = self._jwks_client().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "PS256", "ES256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            print(f"token refused: {type(exc).__name__}", file=sys.stderr)
            return None
        granted = set(str(claims.get("scope", "")).split())
        if not self.scopes <= granted:
            print(
                f"token refused: scope {sorted(granted)} lacks {sorted(self.scopes - granted)}",
                file=sys.stderr,
            )
            return None
        who = f"sub={claims.get('sub')} client={claims.get('client_id')} scope={' '.join(sorted(granted))}"
        return who + (f" token={token}" if self.echo else "")

    def basic_auth(self, encoded: str) -> str | None:
        if self.basic is None:
            return None
        try:
            given = base64.b64decode(encoded, validate=True).decode()
        except ValueError:
            return None
        if not hmac.compare_digest(given.encode(), self.basic.encode()):
            return None
        return f"user={given.split(':', 1)[0]}" + (f" password={given.split(':', 1)[1]}" if self.echo else "")


class RequireCredential:
    """ASGI middleware: the card is public; everything else needs a credential (or a client cert)."""

    def __init__(self, app: ASGIApp, validator: Validator, *, tls: bool) -> None:
        self.app, self.validator, self.tls = app, validator, tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == CARD_PATH:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        who = None
        if auth[:7].lower() == "bearer ":
            who = self.validator.bearer(auth[7:].strip())
        elif auth[:6].lower() == "basic ":
            who = self.validator.basic_auth(auth[6:].strip())
        elif self.tls:
            who = "cert=verified by the TLS handshake"
        if who is None:
            await _unauthorized(send)
            return
        scope = dict(scope)
        scope["headers"] = [*scope["headers"], (WHO_HEADER.encode(), who.encode())]
        await self.app(scope, receive, send)


async def _unauthorized(send: Send) -> None:
    body = b'{"error":"unauthorized"}'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="oauth-peer", error="invalid_token"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class WhoExecutor(AgentExecutor):
    """Completes every task with an artifact saying who was let in."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        task = context.current_task or new_task_from_user_message(context.message)
        task.id = context.task_id or task.id
        task.context_id = context.context_id or task.context_id
        if context.current_task is None:
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        call = context.call_context
        headers = call.state.get("headers", {}) if call is not None else {}
        who = headers.get(WHO_HEADER, "unknown")
        await updater.add_artifact([new_text_part(f"authorized: {who}")], name="who")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is not None:
            await TaskUpdater(event_queue, task.id, task.context_id).cancel()


def build_card(base_url: str) -> AgentCard:
    """The card, with the schemes and requirements of the environment."""
    card = AgentCard(
        name="keybroker-oauth-peer",
        description="Test peer (a2a-sdk 1.x) that validates its callers' credentials itself.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=base_url, protocol_binding="HTTP+JSON", protocol_version="1.0"),
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="who", name="Who am I", description="Says who was let in.", tags=["test"])],
    )
    for name, body in json.loads(os.environ.get("KEYBROKER_PEER_SCHEMES", "{}")).items():
        card.security_schemes[name].CopyFrom(json_format.ParseDict(body, SecurityScheme()))
    for requirement in json.loads(os.environ.get("KEYBROKER_PEER_REQUIREMENTS", "[]")):
        card.security_requirements.append(json_format.ParseDict(requirement, SecurityRequirement()))
    return card


def build_app(port: int, *, tls: bool) -> ASGIApp:
    base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    card = build_card(base_url)
    handler = DefaultRequestHandler(
        agent_executor=WhoExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    app = Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/"),
            *create_rest_routes(handler),
        ]
    )
    return RequireCredential(app, Validator(base_url), tls=tls)


def main() -> None:
    port = int(sys.argv[1])
    tls_dir = os.environ.get("KEYBROKER_PEER_TLS_DIR")
    options: dict[str, Any] = {}
    if tls_dir:
        where = Path(tls_dir)
        options = {
            "ssl_certfile": str(where / "server.pem"),
            "ssl_keyfile": str(where / "server.key"),
            "ssl_ca_certs": str(where / "ca.pem"),
            "ssl_cert_reqs": ssl.CERT_REQUIRED,
        }
    app = build_app(port, tls=bool(tls_dir))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", date_header=False, **options)


if __name__ == "__main__":
    main()
