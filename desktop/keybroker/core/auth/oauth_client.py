# SPDX-License-Identifier: Apache-2.0
"""The OAuth 2 client side of each request to an authorization server, built with authlib.

authlib does the protocol encoding: authorization URLs (`prepare_grant_uri`), token request bodies
(`prepare_token_request`), PKCE S256 challenges (RFC 7636), random `state`/`nonce`/verifiers. Ours
is the HTTP (httpx without proxies or redirects), the client authentication (RFC 6749 §2.3.1:
`client_secret_basic`, or `client_id` in the body for a public client), reading the answers into
`SecretValue`s at once, and the device flow's polling (RFC 8628 §3.4-3.5: `interval`, default 5 s,
`slow_down` adds 5 s). Errors name the OAuth `error` code, never a token or a response body.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from keybroker.core.auth.server_info import AuthServer
from keybroker.core.errors import AuthServerError, SignInDenied
from keybroker.core.models import SecretValue

__all__ = [
    "DEVICE_GRANT",
    "DeviceCode",
    "OAuthClient",
    "TokenRequestError",
    "TokenResponse",
    "new_verifier",
]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = 5.0
SLOW_DOWN_STEP = 5.0
_DENIED = frozenset({"access_denied"})


class TokenRequestError(AuthServerError):
    """The token (or another) endpoint answered an OAuth error; `error` is its code."""

    def __init__(self, message: str, *, error: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.error = error


def new_verifier() -> str:
    """A PKCE code verifier (RFC 7636 §4.1: 43-128 unreserved characters)."""
    verifier: str = generate_token(64)
    return verifier


@dataclass(frozen=True, repr=False)
class TokenResponse:
    """A successful token answer; values wrapped, `repr` shows none."""

    access_token: SecretValue
    expires_at: float | None
    refresh_token: SecretValue | None
    id_token: SecretValue | None
    scope: str | None
    token_type: str

    def __repr__(self) -> str:
        return f"TokenResponse(expires_at={self.expires_at}, refresh={self.refresh_token is not None})"


@dataclass(frozen=True, repr=False)
class DeviceCode:
    """RFC 8628 §3.2's answer: what the user types where, and how to poll."""

    device_code: SecretValue
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_at: float
    interval: float

    def __repr__(self) -> str:
        return f"DeviceCode(verification_uri={self.verification_uri!r})"


def _form_encode(text: str) -> str:
    return quote(text, safe="")


class OAuthClient:
    """Requests to one authorization server on behalf of one client."""

    def __init__(
        self,
        server: AuthServer,
        client_id: str,
        client_secret: SecretValue | None,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.server = server
        self.client_id = client_id
        self._secret = client_secret
        self._http = http
        self._clock = clock
        self._sleep = sleep

    # Requests -----------------------------------------------------------------------------------

    def authorization_url(
        self,
        *,
        redirect_uri: str,
        state: str,
        verifier: str,
        scopes: Sequence[str],
        resource: str | None,
        nonce: str | None,
    ) -> str:
        """The URL that starts an authorization code flow with PKCE S256 (always)."""
        if not self.server.authorization_endpoint:
            raise AuthServerError("the authorization server has no authorization endpoint")
        extra: dict[str, str] = {
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        if scopes:
            extra["scope"] = " ".join(scopes)
        if resource:
            extra["resource"] = resource
        if nonce:
            extra["nonce"] = nonce
        url: str = prepare_grant_uri(
            self.server.authorization_endpoint,
            self.client_id,
            "code",
            redirect_uri=redirect_uri,
            state=state,
            **extra,
        )
        return url

    async def exchange_code(
        self, code: str, *, redirect_uri: str, verifier: str, resource: str | None
    ) -> TokenResponse:
        """Redeem an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.5)."""
        params = {"code": code, "code_verifier": verifier, "resource": resource}
        return await self._token("authorization_code", params, redirect_uri=redirect_uri)

    async def client_credentials(self, scopes: Sequence[str], resource: str | None) -> TokenResponse:
        """A token for the client itself (RFC 6749 §4.4)."""
        if self._secret is None:
            raise AuthServerError(
                "the client-credentials flow needs a confidential client",
                hint="set one with `keybroker auth client S --client-id ID` (secret on stdin)",
            )
        return await self._token("client_credentials", {"scope": " ".join(scopes), "resource": resource})

    async def refresh(self, refresh_token: SecretValue, resource: str | None) -> TokenResponse:
        """A new access token (and, where the server rotates them, a new refresh token)."""
        return await self._token(
            "refresh_token", {"refresh_token": refresh_token.reveal(), "resource": resource}
        )

    async def device_authorization(self, scopes: Sequence[str], resource: str | None) -> DeviceCode:
        """Start RFC 8628's flow: the codes to show the user."""
        url = self.server.device_authorization_endpoint
        if not url:
            raise AuthServerError("the authorization server offers no device authorization")
        body = self._with_client({"scope": " ".join(scopes), "resource": resource})
        data = await self._post(url, body, "device authorization")
        try:
            device_code, user_code, uri = data["device_code"], data["user_code"], data["verification_uri"]
            expires_in = float(data["expires_in"])
        except (KeyError, TypeError, ValueError):
            raise AuthServerError("the device authorization answer lacks a required member") from None
        if not all(isinstance(v, str) and v for v in (device_code, user_code, uri)):
            raise AuthServerError("the device authorization answer has an empty code or URL")
        complete = data.get("verification_uri_complete")
        interval = data.get("interval")
        return DeviceCode(
            device_code=SecretValue(device_code),
            user_code=user_code,
            verification_uri=uri,
            verification_uri_complete=complete if isinstance(complete, str) else None,
            expires_at=self._clock() + expires_in,
            interval=float(interval)
            if isinstance(interval, int | float) and interval > 0
            else DEFAULT_INTERVAL,
        )

    async def poll_device(self, device: DeviceCode, resource: str | None) -> TokenResponse:
        """Poll the token endpoint until the user approves, denies, or the code expires."""
        interval = device.interval
        while True:
            await self._sleep(interval)
            if self._clock() > device.expires_at:
                raise SignInDenied("the device code expired before the sign-in was approved")
            try:
                return await self._token(
                    DEVICE_GRANT, {"device_code": device.device_code.reveal(), "resource": resource}
                )
            except TokenRequestError as exc:
                if exc.error == "authorization_pending":
                    continue
                if exc.error == "slow_down":
                    interval += SLOW_DOWN_STEP
                    continue
                if exc.error == "expired_token":
                    raise SignInDenied("the device code expired before the sign-in was approved") from None
                raise

    async def revoke(self, token: SecretValue, hint: str) -> None:
        """RFC 7009: revoke `token` (`hint`: refresh_token or access_token)."""
        url = self.server.revocation_endpoint
        if not url:
            raise AuthServerError("the authorization server offers no revocation")
        await self._post(
            url, self._with_client({"token": token.reveal(), "token_type_hint": hint}), "revocation"
        )

    # Plumbing -----------------------------------------------------------------------------------

    def _with_client(self, params: Mapping[str, str | None]) -> dict[str, str]:
        body = {k: v for k, v in params.items() if v}
        if self._secret is None:
            body["client_id"] = self.client_id  # a public client names itself (RFC 6749 §3.2.1)
        return body

    def _auth_header(self) -> dict[str, str]:
        if self._secret is None:
            return {}
        # RFC 6749 §2.3.1: id and secret are form-encoded before the Basic encoding.
        pair = f"{_form_encode(self.client_id)}:{_form_encode(self._secret.reveal())}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    async def _token(
        self, grant_type: str, params: Mapping[str, str | None], *, redirect_uri: str | None = None
    ) -> TokenResponse:
        if not self.server.token_endpoint:
            raise AuthServerError("the authorization server has no token endpoint")
        encoded = prepare_token_request(grant_type, redirect_uri=redirect_uri, **self._with_client(params))
        data = await self._post(self.server.token_endpoint, encoded, "token")
        return self._token_response(data)

    async def _post(self, url: str, body: Mapping[str, str] | str, what: str) -> Mapping[str, Any]:
        headers = {"Accept": "application/json", **self._auth_header()}
        try:
            if isinstance(body, str):
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                response = await self._http.post(url, content=body.encode(), headers=headers)
            else:
                response = await self._http.post(url, data=dict(body), headers=headers)
        except httpx.HTTPError as exc:
            raise AuthServerError(
                f"cannot reach the authorization server's {what} endpoint: {type(exc).__name__}",
                hint="check that it runs and is reachable",
            ) from None
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = None
        if response.status_code >= 400 or not isinstance(data, Mapping):
            error = data.get("error") if isinstance(data, Mapping) else None
            if not isinstance(error, str):
                raise AuthServerError(f"the {what} endpoint answered HTTP {response.status_code}")
            description = data.get("error_description") if isinstance(data, Mapping) else None
            said = f": {description[:200]}" if isinstance(description, str) and description else ""
            message = f"the {what} endpoint refused: {error}{said}"
            if error in _DENIED:
                raise SignInDenied(message)
            raise TokenRequestError(message, error=error)
        return data

    def _token_response(self, data: Mapping[str, Any]) -> TokenResponse:
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise AuthServerError("the token endpoint answered without an access token")
        token_type = data.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise AuthServerError("the token endpoint answered a token type Keybroker cannot send")
        expires_in = data.get("expires_in")
        refresh, id_token, scope = data.get("refresh_token"), data.get("id_token"), data.get("scope")
        return TokenResponse(
            access_token=SecretValue(access),
            expires_at=self._clock() + float(expires_in) if isinstance(expires_in, int | float) else None,
            refresh_token=SecretValue(refresh) if isinstance(refresh, str) and refresh else None,
            id_token=SecretValue(id_token) if isinstance(id_token, str) and id_token else None,
            scope=scope if isinstance(scope, str) else None,
            token_type=token_type,
        )
