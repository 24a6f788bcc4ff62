# SPDX-License-Identifier: Apache-2.0
"""Dynamic client registration (RFC 7591): Keybroker registers itself as a native public client.

Used when the server has a `registration_endpoint` and the user set no client. The client asks for
the authorization code (PKCE), refresh and device grants, a loopback redirect with an unguessable
path (any port matches, RFC 8252 §7.3), and no client secret (`token_endpoint_auth_method: none`).
A confidential answer (a `client_secret`) is kept too. Registration access tokens are not kept:
Keybroker never edits the registration.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from keybroker.core.auth.loopback import redirect_path
from keybroker.core.auth.oauth_client import DEVICE_GRANT
from keybroker.core.auth.server_info import AuthServer
from keybroker.core.errors import AuthServerError
from keybroker.core.models import SecretValue

__all__ = ["RegisteredClient", "register_client"]

CLIENT_NAME = "Keybroker"


@dataclass(frozen=True, repr=False)
class RegisteredClient:
    """What the server registered."""

    client_id: str
    client_secret: SecretValue | None
    redirect_uri: str

    def __repr__(self) -> str:
        return (
            f"RegisteredClient(client_id={self.client_id!r}, confidential={self.client_secret is not None})"
        )


async def register_client(server: AuthServer, http: httpx.AsyncClient) -> RegisteredClient:
    """Register a native public client (module docstring)."""
    if not server.registration_endpoint:
        raise AuthServerError("the authorization server offers no client registration")
    redirect_uri = f"http://127.0.0.1{redirect_path()}"
    grants = ["authorization_code", "refresh_token"]
    if server.device_authorization_endpoint:
        grants.append(DEVICE_GRANT)
    body = {
        "client_name": CLIENT_NAME,
        "application_type": "native",
        "redirect_uris": [redirect_uri],
        "grant_types": grants,
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    try:
        response = await http.post(
            server.registration_endpoint, json=body, headers={"Accept": "application/json"}
        )
    except httpx.HTTPError as exc:
        raise AuthServerError(f"cannot reach the registration endpoint: {type(exc).__name__}") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code not in (200, 201) or not isinstance(data, dict):
        error = data.get("error") if isinstance(data, dict) else None
        said = error if isinstance(error, str) else f"HTTP {response.status_code}"
        raise AuthServerError(
            f"the authorization server refused to register Keybroker: {said}",
            hint="set a client yourself: `keybroker auth client S --client-id ID`",
        )
    client_id, secret = data.get("client_id"), data.get("client_secret")
    if not isinstance(client_id, str) or not client_id:
        raise AuthServerError("the registration answer has no client_id")
    return RegisteredClient(
        client_id, SecretValue(secret) if isinstance(secret, str) and secret else None, redirect_uri
    )
