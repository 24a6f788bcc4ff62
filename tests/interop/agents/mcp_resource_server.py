# SPDX-License-Identifier: Apache-2.0
# mypy: disable-error-code="import-not-found,untyped-decorator"
"""A real OAuth-protected resource for the Agent Stack OAuth extension tests: an MCP server.

Runs in the peer venv (mcp 1.30's own server side), never in Keybroker's. Usage:
`python mcp_resource_server.py PORT` with `KEYBROKER_PEER_ISSUER` set to the authorization server
(oidc-provider, tests/peers/oauth_server.py).

It is FastMCP's streamable HTTP app at `http://127.0.0.1:PORT/mcp`, as a resource server only
(`mcp.server.auth`): RFC 9728 protected resource metadata naming the issuer, `401` with
`WWW-Authenticate: Bearer resource_metadata=...` without a token, and a `TokenVerifier` that checks
each bearer JWT against the issuer's JWKS (signature, `iss`, `aud` = this server's URL as RFC 8707
binds it, expiry) and needs the `read` scope. One tool, `whoami`, answers
`resource says: sub=<sub> client=<client_id> scope=<scope>`; `GET /hits` counts the tool calls (tests
check a declined sign-in never reached the resource). `KEYBROKER_PEER_TOKEN_LOG=<file>`: every token
let in is appended there (tests check it reached no one else).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import httpx
import jwt
import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.fastmcp import Context, FastMCP
from starlette.requests import Request
from starlette.responses import JSONResponse

SCOPE = "read"


class JwksVerifier:
    """Checks a JWT access token against the issuer's JWKS (mcp's `TokenVerifier` protocol)."""

    def __init__(self, issuer: str, audience: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self._jwks: jwt.PyJWKClient | None = None

    def _client(self) -> jwt.PyJWKClient:
        if self._jwks is None:
            meta = httpx.get(f"{self.issuer}/.well-known/openid-configuration", trust_env=False).json()
            self._jwks = jwt.PyJWKClient(meta["jwks_uri"])
        return self._jwks

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            key = self._client().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=["RS256"], audience=self.audience, issuer=self.issuer
            )
        except jwt.PyJWTError as exc:
            print(f"token refused: {type(exc).__name__}", flush=True)
            return None
        record = os.environ.get("KEYBROKER_PEER_TOKEN_LOG")
        if record:  # the test checks the very token went nowhere else
            with open(record, "a", encoding="utf-8") as out:
                out.write(token + "\n")
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id", "")),
            scopes=str(claims.get("scope", "")).split(),
            expires_at=int(claims["exp"]) if "exp" in claims else None,
            resource=self.audience,
            subject=str(claims.get("sub", "")) or None,
            claims=claims,
        )


def build(port: int, issuer: str) -> Any:
    url = f"http://127.0.0.1:{port}/mcp"
    mcp = FastMCP(
        "keybroker-protected-resource",
        token_verifier=JwksVerifier(issuer, url),
        auth=AuthSettings(
            issuer_url=issuer,  # type: ignore[arg-type]
            resource_server_url=url,  # type: ignore[arg-type]
            required_scopes=[SCOPE],
            validate_token_resource=True,
        ),
    )
    hits = {"whoami": 0}

    @mcp.tool()
    async def whoami(ctx: Context) -> str:  # type: ignore[type-arg]
        """Who the bearer token says the caller is."""
        from mcp.server.auth.middleware.auth_context import get_access_token

        hits["whoami"] += 1
        token = get_access_token()
        claims = (token.claims if token else None) or {}
        return (
            f"resource says: sub={claims.get('sub')} client={token.client_id if token else None} "
            f"scope={claims.get('scope')}"
        )

    @mcp.custom_route("/hits", methods=["GET"])
    async def count(_request: Request) -> JSONResponse:
        return JSONResponse(hits)

    return mcp.streamable_http_app()


def main() -> None:
    port = int(sys.argv[1])
    issuer = os.environ["KEYBROKER_PEER_ISSUER"]
    uvicorn.run(build(port, issuer), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
