# SPDX-License-Identifier: Apache-2.0
"""A real OAuth 2 / OpenID Connect authorization server for tests: oidc-provider via scripts/peers/oidc/.

`oauth_server()` runs `node scripts/peers/oidc/server.mjs` (oidc-provider from the cache that
scripts/peers/oidc.sh fills) on a free loopback port and yields an `OAuthServer`: its issuer
(`http://127.0.0.1:<port>`), one test user, a public native client (auth code + PKCE, refresh, device
flow) and a confidential service client (client credentials). `ScriptedBrowser` (tests/peers/browser.py)
signs that user in; `pkce_pair()` and `jwt_claims()` help the client side.

The cache is `.cache/peers/oidc-provider` in the repo root, or `$KEYBROKER_PEER_OIDC_DIR`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.peers.browser import ScriptedBrowser
from tests.peers.process import (
    REPO_ROOT,
    PeerError,
    ServerProcess,
    cache_path,
    free_port,
    peer_env,
    require_cache,
    start_process,
    wait_until,
    work_dir,
)

DIR_ENV = "KEYBROKER_PEER_OIDC_DIR"
INSTALL = "bash scripts/peers/oidc.sh"
SERVER_JS = REPO_ROOT / "scripts" / "peers" / "oidc" / "server.mjs"
#: It usually answers within ~1 s; once, under a full suite's load, it had not listened after 20 s (its import
#: done, no error): slow is not broken, and a server that never comes still fails, only later.
START_TIMEOUT = 60.0
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: The public client's registered redirect; as a native client any loopback port matches (RFC 8252 §7.3).
NATIVE_REDIRECT_URI = "http://127.0.0.1/callback"


def cache_dir() -> Path:
    """The oidc-provider cache (`$KEYBROKER_PEER_OIDC_DIR` or .cache/peers/oidc-provider)."""
    return cache_path(DIR_ENV, ".cache/peers/oidc-provider")


@dataclass(frozen=True)
class OAuthServer:
    """A running oidc-provider with its test user and pre-registered clients."""

    issuer: str
    login: str
    password: str
    public_client_id: str
    service_client_id: str
    service_client_secret: str
    server: ServerProcess
    start_seconds: float

    def metadata(self) -> dict[str, Any]:
        """The discovery document (/.well-known/openid-configuration)."""
        response = httpx.get(f"{self.issuer}/.well-known/openid-configuration", trust_env=False)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def browser(self, *, deny: bool = False) -> ScriptedBrowser:
        """A scripted browser that signs in as the test user (close it, or use it in `with`)."""
        return ScriptedBrowser(self.login, self.password, deny=deny)

    def browser_env(self) -> dict[str, str]:
        """Environment for `BROWSER="<python> tests/peers/browser.py %s &"` in a child process."""
        return {"KEYBROKER_TEST_BROWSER_LOGIN": self.login, "KEYBROKER_TEST_BROWSER_PASSWORD": self.password}


@contextlib.contextmanager
def oauth_server(
    *,
    access_token_ttl: int = 600,
    refresh_token_ttl: int = 86400,
    scopes: str = "read write",
    default_resource: str | None = None,
    extra_clients: list[Mapping[str, Any]] | None = None,
    workdir: Path | None = None,
) -> Iterator[OAuthServer]:
    """Start oidc-provider on a free loopback port; yield once its discovery document answers.

    `access_token_ttl` is in seconds (short ones test refreshing); `scopes` are what any resource accepts;
    `default_resource` is used when a request names no `resource` (else such tokens are opaque and only
    good at the userinfo endpoint); `extra_clients` are registered as given (oidc-provider client metadata).
    """
    modules = require_cache(cache_dir() / "node_modules" / "oidc-provider", "oidc-provider", INSTALL).parent
    node = shutil.which("node")
    if node is None:
        raise PeerError("node is not on PATH (Node 20 comes with the machine image)")
    login, password = "alice", f"pw-{secrets.token_hex(8)}"
    public_id, service_id, service_secret = "kb-native", "kb-service", secrets.token_urlsafe(24)
    clients: list[Mapping[str, Any]] = [
        {
            "client_id": public_id,
            "client_name": "Keybroker test (native)",
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token", DEVICE_GRANT],
            "response_types": ["code"],
            "redirect_uris": [NATIVE_REDIRECT_URI],
        },
        {
            "client_id": service_id,
            "client_secret": service_secret,
            "client_name": "Keybroker test (service)",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
        },
        *(extra_clients or []),
    ]
    port = free_port()
    env = {
        "OIDC_MODULES": str(modules),
        "OIDC_PORT": str(port),
        "OIDC_USERS": json.dumps({login: password}),
        "OIDC_CLIENTS": json.dumps(clients),
        "OIDC_SCOPES": scopes,
        "OIDC_ACCESS_TOKEN_TTL": str(access_token_ttl),
        "OIDC_REFRESH_TOKEN_TTL": str(refresh_token_ttl),
    }
    if default_resource:
        env["OIDC_DEFAULT_RESOURCE"] = default_resource
    issuer = f"http://127.0.0.1:{port}"
    with work_dir(workdir, "keybroker-oidc-") as wd:
        server = start_process("oidc-provider", [node, str(SERVER_JS)], wd, env=peer_env(env), cwd=wd)
        try:
            took = wait_until(
                server,
                lambda c: c.get(f"{issuer}/.well-known/openid-configuration").status_code == 200,
                timeout=START_TIMEOUT,
                what="discovery document",
            )
            yield OAuthServer(
                issuer=issuer,
                login=login,
                password=password,
                public_client_id=public_id,
                service_client_id=service_id,
                service_client_secret=service_secret,
                server=server,
                start_seconds=took,
            )
        finally:
            server.stop()


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, NOT verified (see test_oauth_server for checking it against the JWKS)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims
