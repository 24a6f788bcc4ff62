# SPDX-License-Identifier: Apache-2.0
"""core/auth's SignIns against a real authorization server (oidc-provider, tests/peers/oauth_server.py),
the way `keybroker auth login/logout` use it: the device flow (RFC 8628) with the scripted user typing
the code, OpenID Connect discovery with a verified ID token, sign-out revoking at the server (RFC 7009),
and a refresh token revoked behind Keybroker's back.

The agent is only a card here (no request reaches it): test_bridge_sign_ins.py has the bridge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keybroker.core.auth.id_token import verify_id_token
from keybroker.core.auth.oauth_client import OAuthClient
from keybroker.core.auth.scheme_info import scheme_info
from keybroker.core.auth.server_info import discover, from_metadata, http_client
from keybroker.core.auth.signins import SignIns
from keybroker.core.auth.token_set import TokenSet
from keybroker.core.errors import SignInDenied
from keybroker.core.models import AgentRecord, AuditDecision, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.support import record_from_card
from tests.interop.sign_in_support import ScriptedSignIn, browser_opener
from tests.peers import oauth_server
from tests.peers.oauth_server import NATIVE_REDIRECT_URI, OAuthServer, jwt_claims
from tests.peers.process import skip_if_missing

AGENT_URL = "http://127.0.0.1:9/"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuthServer]:
    with skip_if_missing(), oauth_server.oauth_server(workdir=tmp_path_factory.mktemp("idp")) as server:
        yield server


def agent_with(services: Services, scheme: dict[str, Any], scopes: list[str]) -> AgentRecord:
    """An agent whose 0.3 card declares `scheme` as `sso`, required with `scopes`."""
    card = {
        "name": "Signed-in agent",
        "description": "needs a sign-in",
        "url": AGENT_URL,
        "version": "1.0.0",
        "protocolVersion": "0.3.0",
        "capabilities": {},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [],
        "securitySchemes": {"sso": scheme},
        "security": [{"sso": scopes}],
    }
    record = record_from_card(card, "peer")
    services.catalog.upsert_agent(record)
    return record


def sign_ins(services: Services, idp: OAuthServer, user: ScriptedSignIn, **options: Any) -> SignIns:
    return SignIns(
        services.catalog,
        services.vault,
        services.audit,
        prompter=user,
        open_browser=browser_opener(idp, **options),
        timeout=30.0,
    )


async def held(services: Services, signins: SignIns) -> TokenSet:
    row = signins.find("peer", "sso")
    assert row is not None
    return TokenSet.from_value(await services.vault.aget(row.account), row.account)


def decisions(services: Services) -> list[AuditDecision]:
    return [e.decision for e in services.audit.events() if e.key == "sso"]


@pytest.mark.asyncio
async def test_device_flow_shows_the_code_and_polls_until_the_user_approves(
    services: Services, idp: OAuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scheme = {
        "type": "oauth2",
        "oauth2MetadataUrl": f"{idp.issuer}/.well-known/oauth-authorization-server",
        "flows": {"deviceCode": {"deviceAuthorizationUrl": f"{idp.issuer}/device/auth", "tokenUrl": "x"}},
    }
    scheme["flows"]["deviceCode"]["tokenUrl"] = f"{idp.issuer}/token"
    record = agent_with(services, scheme, ["read"])
    user = ScriptedSignIn(idp)
    signins = sign_ins(services, idp, user)
    await signins.set_client(record, "sso", idp.public_client_id, None)
    row = await signins.login(record, "sso", "device")
    assert row.flow == "device" and row.refresh_held and row.signed_in_now and row.scopes == "read"
    (notice,) = user.devices
    assert notice.verification_uri.startswith(idp.issuer) and notice.user_code
    assert user.asks == []  # the user asked for this sign-in: no "sign in?" prompt first
    values = await held(services, signins)
    assert values.access_token is not None and jwt_claims(values.access_token.reveal())["aud"] == AGENT_URL
    assert values.access_token.reveal() not in caplog.text
    assert decisions(services).count(AuditDecision.SIGNED_IN) == 1


@pytest.mark.asyncio
async def test_oidc_discovery_and_a_verified_id_token_name_who_signed_in(
    services: Services, idp: OAuthServer
) -> None:
    scheme = {"type": "openIdConnect", "openIdConnectUrl": f"{idp.issuer}/.well-known/openid-configuration"}
    record = agent_with(services, scheme, ["read"])
    opened: list[str] = []
    signins = sign_ins(services, idp, ScriptedSignIn(idp), opened=opened)
    await signins.set_client(record, "sso", idp.public_client_id, None, redirect_uri=NATIVE_REDIRECT_URI)
    row = await signins.login(record, "sso")
    assert row.flow == "code" and row.subject == "alice" and row.issuer == idp.issuer
    assert "nonce=" in opened[0] and "scope=openid+read" in opened[0]
    values = await held(services, signins)
    assert values.id_token is not None
    id_token = values.id_token.reveal()
    nonce = jwt_claims(id_token)["nonce"]
    async with http_client() as http:
        server = await discover(scheme_info(record, "sso"), http)
        ok = await verify_id_token(id_token, server, client_id=idp.public_client_id, nonce=nonce, http=http)
        assert ok.subject == "alice"
        # The same real token fails each check it must: another nonce, another audience, another issuer.
        for changes in ({"nonce": "other"}, {"client_id": "someone-else"}):
            args = {"client_id": idp.public_client_id, "nonce": nonce, **changes}
            with pytest.raises(SignInDenied):
                await verify_id_token(id_token, server, http=http, **args)
        elsewhere = type(server)(**{**server.__dict__, "issuer": "http://127.0.0.1:1"})
        with pytest.raises(SignInDenied):
            await verify_id_token(id_token, elsewhere, client_id=idp.public_client_id, nonce=nonce, http=http)
        forged = id_token[:-8] + ("A" * 8 if not id_token.endswith("A" * 8) else "B" * 8)
        with pytest.raises(SignInDenied):
            await verify_id_token(forged, server, client_id=idp.public_client_id, nonce=nonce, http=http)


def refresh_directly(idp: OAuthServer, refresh_token: SecretValue) -> httpx.Response:
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token.reveal(),
        "client_id": idp.public_client_id,
    }
    return httpx.post(f"{idp.issuer}/token", data=data, trust_env=False)


def code_scheme(idp: OAuthServer) -> dict[str, Any]:
    return {
        "type": "oauth2",
        "oauth2MetadataUrl": f"{idp.issuer}/.well-known/oauth-authorization-server",
        "flows": {
            "authorizationCode": {"authorizationUrl": f"{idp.issuer}/auth", "tokenUrl": f"{idp.issuer}/token"}
        },
    }


@pytest.mark.asyncio
async def test_sign_out_revokes_the_refresh_token_at_the_server_then_forgets_it(
    services: Services, idp: OAuthServer
) -> None:
    record = agent_with(services, code_scheme(idp), ["read"])
    signins = sign_ins(services, idp, ScriptedSignIn(idp))
    await signins.set_client(record, "sso", idp.public_client_id, None, redirect_uri=NATIVE_REDIRECT_URI)
    await signins.login(record, "sso", "code")
    refresh = (await held(services, signins)).refresh_token
    assert refresh is not None
    assert await signins.logout(record, "sso") is None  # revoked, no problem to report
    assert refresh_directly(idp, refresh).json()["error"] == "invalid_grant"  # the server forgot it
    values = await held(services, signins)
    assert values.access_token is None and values.refresh_token is None
    row = signins.find("peer", "sso")
    assert row is not None and not row.signed_in_now and row.client_id == idp.public_client_id
    assert decisions(services)[-1] == AuditDecision.SIGNED_OUT


@pytest.mark.asyncio
async def test_a_refresh_token_revoked_elsewhere_signs_out_and_asks_again(
    services: Services, idp: OAuthServer
) -> None:
    record = agent_with(services, code_scheme(idp), ["read"])
    user = ScriptedSignIn(idp)
    signins = sign_ins(services, idp, user)
    await signins.set_client(record, "sso", idp.public_client_id, None, redirect_uri=NATIVE_REDIRECT_URI)
    await signins.login(record, "sso", "code")
    before = await held(services, signins)
    assert before.refresh_token is not None and before.access_token is not None
    revoke = {"token": before.refresh_token.reveal(), "client_id": idp.public_client_id}
    assert httpx.post(f"{idp.issuer}/token/revocation", data=revoke, trust_env=False).status_code == 200
    # The agent refused the access token: the refresh is refused too, so the user is asked again.
    token = await signins.token(record, "sso", refused=before.access_token)
    assert token is None  # not interactive: nobody asked, and the dead tokens are forgotten
    row = signins.find("peer", "sso")
    assert row is not None and not row.signed_in_now
    assert decisions(services)[-1] == AuditDecision.SIGNED_OUT
    again = await signins.token(record, "sso", interactive=True, reason="the agent refused its credentials")
    assert again is not None and again != before.access_token
    assert len(user.asks) == 1 and user.asks[0].reason == "the agent refused its credentials"


@pytest.mark.asyncio
async def test_device_polling_waits_the_interval_the_server_asks_for(idp: OAuthServer) -> None:
    # oidc-provider 9.13 never answers `slow_down` (its SlowDown error is defined, never thrown), so
    # the back-off (+5 s per slow_down, RFC 8628 §3.5) is not exercised against a real server here.
    async with http_client() as http:
        metadata = (await http.get(f"{idp.issuer}/.well-known/openid-configuration")).json()
        server = from_metadata(metadata, f"{idp.issuer}/.well-known/openid-configuration")
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)
            await asyncio.sleep(seconds)

        client = OAuthClient(server, idp.public_client_id, None, http, sleep=sleep)
        device = await client.device_authorization(["read"], AGENT_URL)
        poll = asyncio.ensure_future(client.poll_device(device, AGENT_URL))
        while not slept:
            await asyncio.sleep(0.05)
        with idp.browser() as browser:
            await asyncio.to_thread(browser.approve_device, device.verification_uri, device.user_code)
        tokens = await asyncio.wait_for(poll, 60)
    assert tokens.refresh_token is not None and device.interval >= 1
    assert slept and all(s == device.interval for s in slept)
