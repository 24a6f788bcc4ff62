# SPDX-License-Identifier: Apache-2.0
"""The device flow's ID token is verified like the code flow's (signature from the JWKS, iss, aud, exp),
without a nonce (the device flow sends none): against a real authorization server (oidc-provider), with
its real token, and with that token tampered with on its way back (the sign-in is refused, nothing kept).
"""

# ruff: noqa: F811 - fixtures imported by name from test_sign_in_flows

from __future__ import annotations

import json
import time
import types
from collections.abc import Callable
from urllib.parse import parse_qsl

import httpx
import pytest

from keybroker.core.auth import id_token as id_token_module
from keybroker.core.auth.id_token import verify_id_token
from keybroker.core.auth.scheme_info import scheme_info
from keybroker.core.auth.server_info import discover, http_client
from keybroker.core.auth.signins import SignIns
from keybroker.core.errors import SignInDenied
from keybroker.core.models import AuditDecision
from keybroker.wiring.services import Services
from tests.interop.sign_in_support import ScriptedSignIn
from tests.interop.test_sign_in_flows import agent_with, held, idp, services  # noqa: F401 - fixtures
from tests.peers.oauth_server import OAuthServer, jwt_claims

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class TamperIdToken(httpx.AsyncBaseTransport):
    """Passes every request to the real server; changes the ID token of the device grant's answer."""

    def __init__(self, change: Callable[[str], str]) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._change = change

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        form = dict(parse_qsl(request.content.decode()))
        if request.url.path != "/token" or form.get("grant_type") != DEVICE_GRANT:
            return response
        await response.aread()
        body = json.loads(response.content)
        if response.status_code == 200 and "id_token" in body:
            body["id_token"] = self._change(body["id_token"])
        return httpx.Response(response.status_code, json=body, request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def other_subject(token: str) -> str:
    """The same header and signature over a payload naming someone else (a forged identity)."""
    import base64

    header, payload, signature = token.split(".")
    claims = jwt_claims(token)
    claims["sub"] = "mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert forged != payload
    return f"{header}.{forged}.{signature}"


def oidc_device(
    services: Services, idp: OAuthServer, http: Callable[[], httpx.AsyncClient] = http_client
) -> tuple[SignIns, ScriptedSignIn]:
    user = ScriptedSignIn(idp)
    signins = SignIns(
        services.catalog, services.vault, services.audit, prompter=user, timeout=60.0, http=http
    )
    return signins, user


@pytest.mark.asyncio
async def test_the_device_flows_real_id_token_is_verified_and_names_who_signed_in(
    services: Services, idp: OAuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheme = {"type": "openIdConnect", "openIdConnectUrl": f"{idp.issuer}/.well-known/openid-configuration"}
    record = agent_with(services, scheme, ["read"])
    signins, user = oidc_device(services, idp)
    await signins.set_client(record, "sso", idp.public_client_id, None)
    row = await signins.login(record, "sso", "device")
    assert len(user.devices) == 1
    assert row.flow == "device" and row.subject == "alice"  # from the verified ID token
    values = await held(services, signins)
    assert values.id_token is not None
    token = values.id_token.reveal()
    assert "nonce" not in jwt_claims(token)
    async with http_client() as http:
        server = await discover(scheme_info(record, "sso"), http)
        ok = await verify_id_token(token, server, client_id=idp.public_client_id, nonce=None, http=http)
        assert ok.subject == "alice"
        # The same real token fails each check it must: audience, issuer, signature, expiry.
        with pytest.raises(SignInDenied):
            await verify_id_token(token, server, client_id="someone-else", nonce=None, http=http)
        elsewhere = type(server)(**{**server.__dict__, "issuer": "http://127.0.0.1:1"})
        with pytest.raises(SignInDenied):
            await verify_id_token(token, elsewhere, client_id=idp.public_client_id, nonce=None, http=http)
        with pytest.raises(SignInDenied):
            await verify_id_token(
                other_subject(token), server, client_id=idp.public_client_id, nonce=None, http=http
            )
        later = float(jwt_claims(token)["exp"]) + id_token_module.LEEWAY_SECONDS + 1
        monkeypatch.setattr(id_token_module, "time", types.SimpleNamespace(time=lambda: later))
        with pytest.raises(SignInDenied, match="does not verify"):
            await verify_id_token(token, server, client_id=idp.public_client_id, nonce=None, http=http)
    assert time.time() < later


@pytest.mark.asyncio
async def test_a_tampered_device_flow_id_token_refuses_the_sign_in_and_keeps_nothing(
    services: Services, idp: OAuthServer
) -> None:
    scheme = {"type": "openIdConnect", "openIdConnectUrl": f"{idp.issuer}/.well-known/openid-configuration"}
    record = agent_with(services, scheme, ["read"])

    def tampering() -> httpx.AsyncClient:
        return httpx.AsyncClient(trust_env=False, timeout=15.0, transport=TamperIdToken(other_subject))

    signins, user = oidc_device(services, idp, http=tampering)
    await signins.set_client(record, "sso", idp.public_client_id, None)
    with pytest.raises(SignInDenied, match="ID token does not verify"):
        await signins.login(record, "sso", "device")
    assert len(user.devices) == 1  # the user approved; the answer was forged on its way back
    row = signins.find("peer", "sso")
    assert row is not None and not row.signed_in_now and row.subject is None
    values = await held(services, signins)
    assert values.access_token is None and values.id_token is None
    decisions = [e.decision for e in services.audit.events() if e.key == "sso"]
    assert AuditDecision.SIGNED_IN not in decisions
