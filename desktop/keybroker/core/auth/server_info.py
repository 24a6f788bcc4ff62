# SPDX-License-Identifier: Apache-2.0
"""Where an authorization server takes each request: from its metadata, else from the card's flows.

- OpenID Connect: the discovery document at the scheme's `openIdConnectUrl` (OIDC Discovery 1.0);
  its `issuer` must be the URL the document was fetched under, less `/.well-known/openid-configuration`
  (§4.3), so a document cannot name another server as its issuer;
- OAuth 2 with `oauth2MetadataUrl`: the RFC 8414 document there (its `issuer` checked the same way
  when the URL is a well-known one);
- OAuth 2 without: the card's flow URLs; revocation and registration are then unknown (sign-out only
  forgets the tokens, and the user sets the client).
Metadata URLs and every endpoint must be https, or http on a loopback host (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from keybroker.core.auth.scheme_info import SchemeInfo
from keybroker.core.broker.transport import insecure_transport_reason
from keybroker.core.errors import AuthServerError

__all__ = ["AuthServer", "discover", "http_client"]

OIDC_WELL_KNOWN = "/.well-known/openid-configuration"
OAUTH_WELL_KNOWN = "/.well-known/oauth-authorization-server"
#: Seconds for any request to an authorization server.
TIMEOUT = 15.0
MAX_DOCUMENT_BYTES = 256 * 1024


def http_client() -> httpx.AsyncClient:
    """The client for authorization servers: no proxy from the environment, no redirects followed."""
    return httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=TIMEOUT)


@dataclass(frozen=True)
class AuthServer:
    """The endpoints a sign-in uses (None: the server does not offer it, or we could not tell)."""

    issuer: str | None
    token_endpoint: str | None
    authorization_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    registration_endpoint: str | None = None
    jwks_uri: str | None = None
    grant_types: tuple[str, ...] = ()
    code_challenge_methods: tuple[str, ...] = ()
    #: RFC 9207: the server says it sends `iss` with the authorization response.
    iss_in_response: bool = False


def _checked_url(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise AuthServerError(f"the authorization server's {what} is not a URL")
    reason = insecure_transport_reason(value)
    if reason is not None:
        raise AuthServerError(f"the authorization server's {what} is refused: {reason}")
    return value


async def fetch_json(http: httpx.AsyncClient, url: str, what: str) -> Mapping[str, Any]:
    """GET a JSON object; `AuthServerError` saying what failed (never quoting a body)."""
    _checked_url(url, what)
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise AuthServerError(
            f"cannot reach the authorization server for its {what} at {url}: {type(exc).__name__}",
            hint="check that it runs and the card's URL is right",
        ) from None
    if response.status_code != 200:
        raise AuthServerError(f"the authorization server answered HTTP {response.status_code} for its {what}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise AuthServerError(f"the authorization server's {what} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        body = response.json()
    except ValueError:
        raise AuthServerError(f"the authorization server's {what} is not JSON") from None
    if not isinstance(body, Mapping):
        raise AuthServerError(f"the authorization server's {what} is not a JSON object")
    return body


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def from_metadata(doc: Mapping[str, Any], url: str) -> AuthServer:
    """An `AuthServer` from a discovery (or RFC 8414) document fetched at `url`."""
    issuer = doc.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise AuthServerError("the authorization server's metadata has no issuer")
    for suffix in (OIDC_WELL_KNOWN, OAUTH_WELL_KNOWN):
        if url.endswith(suffix) and url[: -len(suffix)].rstrip("/") != issuer.rstrip("/"):
            raise AuthServerError(
                f"the metadata at {url} names another issuer ({issuer}); refused (OIDC Discovery §4.3)"
            )
    return AuthServer(
        issuer=issuer,
        token_endpoint=_checked_url(doc.get("token_endpoint"), "token endpoint"),
        authorization_endpoint=_checked_url(doc.get("authorization_endpoint"), "authorization endpoint"),
        device_authorization_endpoint=_checked_url(
            doc.get("device_authorization_endpoint"), "device authorization endpoint"
        ),
        revocation_endpoint=_checked_url(doc.get("revocation_endpoint"), "revocation endpoint"),
        registration_endpoint=_checked_url(doc.get("registration_endpoint"), "registration endpoint"),
        jwks_uri=_checked_url(doc.get("jwks_uri"), "JWKS URL"),
        grant_types=_strings(doc.get("grant_types_supported")),
        code_challenge_methods=_strings(doc.get("code_challenge_methods_supported")),
        iss_in_response=doc.get("authorization_response_iss_parameter_supported") is True,
    )


async def discover(info: SchemeInfo, http: httpx.AsyncClient) -> AuthServer:
    """The server behind `info` (module docstring)."""
    if info.metadata_url:
        what = "discovery document" if info.oidc else "metadata"
        server = from_metadata(await fetch_json(http, info.metadata_url, what), info.metadata_url)
        # The card's own flow URLs fill in what the metadata leaves out.
        card = _from_card(info)
        return AuthServer(
            issuer=server.issuer,
            token_endpoint=server.token_endpoint or card.token_endpoint,
            authorization_endpoint=server.authorization_endpoint or card.authorization_endpoint,
            device_authorization_endpoint=server.device_authorization_endpoint
            or card.device_authorization_endpoint,
            revocation_endpoint=server.revocation_endpoint,
            registration_endpoint=server.registration_endpoint,
            jwks_uri=server.jwks_uri,
            grant_types=server.grant_types,
            code_challenge_methods=server.code_challenge_methods,
            iss_in_response=server.iss_in_response,
        )
    return _from_card(info)


def _from_card(info: SchemeInfo) -> AuthServer:
    token = authorization = device = None
    for flow in info.flows:
        token = token or _checked_url(flow.token_url, "token URL")
        authorization = authorization or _checked_url(flow.authorization_url, "authorization URL")
        device = device or _checked_url(flow.device_authorization_url, "device authorization URL")
    return AuthServer(
        issuer=None,
        token_endpoint=token,
        authorization_endpoint=authorization,
        device_authorization_endpoint=device,
    )
