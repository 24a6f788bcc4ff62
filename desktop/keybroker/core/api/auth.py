# SPDX-License-Identifier: Apache-2.0
"""The per-install bearer token on every `/api/...` path (INTERFACES "Token", DESIGN §4).

`TokenGate` checks it before anything else runs, so an unauthenticated request never reaches body
parsing or validation: whatever it sends, it gets 401. `require_token` checks it again as a route
dependency; it is also what makes `/openapi.json` declare the bearer scheme on every operation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keybroker.core.api.error_codes import UNAUTHORIZED_CODE
from keybroker.core.api.errors import error_json
from keybroker.core.models import SecretValue
from keybroker.system.api_token import matches

__all__ = ["UNAUTHORIZED_HEADERS", "TokenGate", "TokenHolder", "bearer_scheme", "require_token"]

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="keybroker"'}
_HINT = "send 'Authorization: Bearer <api-token>'; `keybroker token` prints it"

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="The per-install API token (`keybroker token`).",
)


@dataclass
class TokenHolder:
    """The token in use; replaced in place when the user rotates it."""

    token: SecretValue


def presented_token(authorization: list[bytes]) -> str | None:
    """The token of exactly one `Authorization: Bearer <token>` header, else None."""
    if len(authorization) != 1:
        return None
    scheme, _, given = authorization[0].decode("latin-1").strip().partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        return None
    return given


def token_ok(holder: TokenHolder, authorization: list[bytes]) -> bool:
    """Constant-time check of the presented token against the one in use."""
    given = presented_token(authorization)
    return given is not None and matches(holder.token, given)


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class TokenGate:
    """ASGI middleware: paths under `prefix` (or matching one of `patterns`) need the token; their
    answers are never cached."""

    def __init__(
        self,
        app: ASGIApp,
        holder: TokenHolder,
        *,
        prefix: str = "/api/",
        patterns: Sequence[re.Pattern[str]] = (),
    ) -> None:
        self.app = app
        self.holder = holder
        self.prefix = prefix
        self.patterns = tuple(patterns)

    def _gated(self, path: str) -> bool:
        return path.startswith(self.prefix) or any(p.match(path) for p in self.patterns)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._gated(_route_path(scope)):
            await self.app(scope, receive, send)
            return
        authorization = [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]
        if not token_ok(self.holder, authorization):
            message = "wrong API token" if authorization else "missing API token"
            response = error_json(
                401, UNAUTHORIZED_CODE, message, exit_code=5, hint=_HINT, headers=UNAUTHORIZED_HEADERS
            )
            await response(scope, receive, send)
            return

        async def no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"cache-control", b"no-store")]
            await send(message)

        await self.app(scope, receive, no_store)


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> None:
    """Route dependency: the same check as `TokenGate` (which normally answered already)."""
    holder: TokenHolder = request.app.state.token_holder
    if credentials is None or not matches(holder.token, credentials.credentials):
        raise StarletteHTTPException(401, detail="missing or wrong API token", headers=UNAUTHORIZED_HEADERS)
