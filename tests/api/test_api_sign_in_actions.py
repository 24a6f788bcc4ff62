# SPDX-License-Identifier: Apache-2.0
"""`PUT /auth/{slug}/{scheme}/client`, `POST .../login`, `PUT .../certificate` against a real authorization
server (oidc-provider): the client credentials, browser ($BROWSER = tests/peers/browser.py's scripted
user) and device flows run by the instance itself, the errors the CLI exits with (declined 403/5, server
unreachable 502/6, unknown agent 404/3, a bad certificate 422/2), and never a secret in an answer."""

from __future__ import annotations

import base64
import sys
import webbrowser
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import trustme
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, load_pem_private_key, pkcs12
from cryptography.x509 import load_pem_x509_certificate

from keybroker.core.api.app import create_api
from keybroker.core.auth.signins import SignIns
from keybroker.core.auth.token_set import TokenSet
from keybroker.core.models import AuditDecision, SecretValue
from keybroker.wiring.services import Services
from tests.api.conftest import TOKEN, SpyBroker, make_client
from tests.bridge.support import record_from_card
from tests.interop.sign_in_support import ScriptedSignIn
from tests.peers import oauth_server
from tests.peers.oauth_server import NATIVE_REDIRECT_URI, OAuthServer
from tests.peers.process import skip_if_missing

BROWSER_SCRIPT = Path(oauth_server.__file__).with_name("browser.py")


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuthServer]:
    with skip_if_missing(), oauth_server.oauth_server(workdir=tmp_path_factory.mktemp("idp")) as server:
        yield server


def card(schemes: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "Signed-in agent",
        "description": "d",
        "url": "http://127.0.0.1:9/",
        "version": "1",
        "protocolVersion": "0.3.0",
        "capabilities": {},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [],
        "securitySchemes": schemes,
        "security": [{name: ["read"] if s["type"] != "mutualTLS" else []} for name, s in schemes.items()],
    }


def oauth_scheme(issuer: str) -> dict[str, Any]:
    return {
        "type": "oauth2",
        "oauth2MetadataUrl": f"{issuer}/.well-known/oauth-authorization-server",
        "flows": {
            "clientCredentials": {"tokenUrl": f"{issuer}/token", "scopes": {"read": "read"}},
            "authorizationCode": {
                "authorizationUrl": f"{issuer}/auth",
                "tokenUrl": f"{issuer}/token",
                "scopes": {"read": "read"},
            },
            "deviceCode": {
                "deviceAuthorizationUrl": f"{issuer}/device/auth",
                "tokenUrl": f"{issuer}/token",
                "scopes": {"read": "read"},
            },
        },
    }


def add_agent(services: Services, schemes: dict[str, Any], slug: str = "peer") -> None:
    services.catalog.upsert_agent(record_from_card(card(schemes), slug))


async def held(services: Services, slug: str, scheme: str) -> TokenSet:
    row = SignIns(services.catalog, services.vault, services.audit).find(slug, scheme)
    assert row is not None
    return TokenSet.from_value(await services.vault.aget(row.account), row.account)


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch, idp: OAuthServer) -> pytest.MonkeyPatch:
    """$BROWSER is the scripted user (webbrowser caches its list per process: read afresh)."""
    monkeypatch.setenv("BROWSER", f"{sys.executable} {BROWSER_SCRIPT} %s")
    for name, value in idp.browser_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})
    return monkeypatch


@pytest.mark.asyncio
async def test_set_client_then_client_credentials_login(
    client: httpx.AsyncClient, services: Services, idp: OAuthServer
) -> None:
    add_agent(services, {"sso": oauth_scheme(idp.issuer)})
    secret = idp.service_client_secret
    body = {"client_id": idp.service_client_id, "client_secret": secret}
    both = await client.put("/api/v1/auth/peer/sso/client", json={**body, "public": True})
    assert both.status_code == 422 and secret not in both.text
    ghost = await client.put("/api/v1/auth/ghost/sso/client", json=body)
    assert ghost.status_code == 404 and error(ghost)["exit_code"] == 3
    nope = await client.put("/api/v1/auth/peer/nope/client", json=body)
    assert nope.status_code == 422 and error(nope)["exit_code"] == 2
    set_ = await client.put("/api/v1/auth/peer/sso/client", json=body)
    assert set_.status_code == 200, set_.text
    assert set_.json()["client"] == "confidential" and set_.json()["signed_in"] is False
    values = await held(services, "peer", "sso")
    assert values.client_secret is not None and values.client_secret.reveal() == secret  # the vault only

    done = await client.post("/api/v1/auth/peer/sso/login", json={"flow": "client"})
    assert done.status_code == 200, done.text
    assert done.json()["flow"] == "client" and done.json()["signed_in"] and done.json()["scopes"] == ["read"]
    token = (await held(services, "peer", "sso")).access_token
    assert token is not None
    events = services.audit.events()
    assert [e.decision for e in events[-2:]] == [AuditDecision.UPDATED, AuditDecision.SIGNED_IN]
    assert all(e.caller and e.caller.startswith("api ") for e in events[-2:])
    everything = set_.text + done.text + (await client.get("/api/v1/auth")).text + str(events)
    assert secret not in everything and token.reveal() not in everything
    bad_flow = await client.post("/api/v1/auth/peer/sso/login", json={"flow": "implicit"})
    assert bad_flow.status_code == 422


@pytest.mark.asyncio
async def test_code_flow_login_opens_the_browser_and_declined_is_a_403(
    client: httpx.AsyncClient, services: Services, idp: OAuthServer, browser: pytest.MonkeyPatch
) -> None:
    add_agent(services, {"sso": oauth_scheme(idp.issuer)})
    body = {"client_id": idp.public_client_id, "public": True, "redirect_uri": NATIVE_REDIRECT_URI}
    assert (await client.put("/api/v1/auth/peer/sso/client", json=body)).status_code == 200
    done = await client.post("/api/v1/auth/peer/sso/login", json={"flow": "code"}, timeout=90)
    assert done.status_code == 200, done.text
    assert done.json()["flow"] == "code" and done.json()["refresh_token"] is True
    values = await held(services, "peer", "sso")
    assert values.access_token is not None and values.refresh_token is not None
    assert values.access_token.reveal() not in done.text and values.refresh_token.reveal() not in done.text

    browser.setenv("KEYBROKER_TEST_BROWSER_DENY", "1")
    denied = await client.post("/api/v1/auth/peer/sso/login", json={"flow": "code"}, timeout=90)
    assert denied.status_code == 403, denied.text
    assert error(denied)["exit_code"] == 5 and "did not sign you in" in error(denied)["message"]


@pytest.mark.asyncio
async def test_device_flow_login_shows_the_code_through_the_instances_prompter(
    services: Services, broker: SpyBroker, idp: OAuthServer
) -> None:
    add_agent(services, {"sso": oauth_scheme(idp.issuer)})
    user = ScriptedSignIn(idp)  # the tray's dialog: the scripted user types the code at the server
    sign_ins = SignIns(services.catalog, services.vault, services.audit, prompter=user)
    app = create_api(services, broker, SecretValue(TOKEN), sign_ins=sign_ins)
    async with make_client(app) as client:
        body = {"client_id": idp.public_client_id, "public": True}
        assert (await client.put("/api/v1/auth/peer/sso/client", json=body)).status_code == 200
        done = await client.post("/api/v1/auth/peer/sso/login", json={"flow": "device"}, timeout=90)
    assert done.status_code == 200, done.text
    assert done.json()["flow"] == "device" and done.json()["signed_in"]
    assert len(user.devices) == 1 and user.devices[0].user_code not in done.text
    values = await held(services, "peer", "sso")
    assert values.access_token is not None and values.access_token.reveal() not in done.text


@pytest.mark.asyncio
async def test_login_with_the_server_unreachable_is_a_502(
    client: httpx.AsyncClient, services: Services
) -> None:
    add_agent(services, {"sso": oauth_scheme("http://127.0.0.1:9")})
    body = {"client_id": "kb-service", "client_secret": "client-secret-CANARY-unreachable"}
    assert (await client.put("/api/v1/auth/peer/sso/client", json=body)).status_code == 200
    down = await client.post("/api/v1/auth/peer/sso/login", json={"flow": "client"})
    assert down.status_code == 502, down.text
    assert error(down)["exit_code"] == 6 and "CANARY" not in down.text
    ghost = await client.post("/api/v1/auth/ghost/sso/login", json={})
    assert ghost.status_code == 404 and error(ghost)["exit_code"] == 3


@pytest.fixture
def pki() -> tuple[trustme.CA, trustme.LeafCert, trustme.LeafCert]:
    ca = trustme.CA()
    return ca, ca.issue_cert("client.example.test"), ca.issue_cert("other.example.test")


@pytest_asyncio.fixture
async def mtls_client(client: httpx.AsyncClient, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    add_agent(services, {"mtls": {"type": "mutualTLS"}})
    yield client


@pytest.mark.asyncio
async def test_certificate_import_pem_and_pkcs12_and_a_bad_one_is_a_422(
    mtls_client: httpx.AsyncClient,
    services: Services,
    pki: tuple[trustme.CA, trustme.LeafCert, trustme.LeafCert],
) -> None:
    ca, leaf, other = pki
    cert = leaf.cert_chain_pems[0].bytes().decode()
    key = leaf.private_key_pem.bytes().decode()
    key_line = key.splitlines()[1]
    url = "/api/v1/auth/peer/mtls/certificate"
    wrong = await mtls_client.put(
        url, json={"cert_pem": cert, "key_pem": other.private_key_pem.bytes().decode()}
    )
    assert wrong.status_code == 422 and error(wrong)["exit_code"] == 2
    assert "does not belong" in error(wrong)["message"]
    assert (await mtls_client.get("/api/v1/auth")).json() == []  # bad input: nothing stored
    not_b64 = await mtls_client.put(url, json={"p12_base64": "%%%"})
    assert not_b64.status_code == 422 and "base64" in error(not_b64)["message"]

    done = await mtls_client.put(
        url, json={"cert_pem": cert, "key_pem": key, "ca_pem": ca.cert_pem.bytes().decode()}
    )
    assert done.status_code == 200, done.text
    assert "trustme" in done.json()["certificate"] and key_line not in done.text
    values = await held(services, "peer", "mtls")
    assert values.ca_pem is not None and values.key_pem is not None

    password = "p12-password-CANARY-9f2"
    bundle = pkcs12.serialize_key_and_certificates(
        b"client",
        load_pem_private_key(key.encode(), None),  # type: ignore[arg-type]
        load_pem_x509_certificate(cert.encode()),
        None,
        BestAvailableEncryption(password.encode()),
    )
    p12 = base64.b64encode(bundle).decode()
    bad_password = await mtls_client.put(url, json={"p12_base64": p12, "password": "wrong"})
    assert bad_password.status_code == 422 and "password" in error(bad_password)["message"]
    imported = await mtls_client.put(url, json={"p12_base64": p12, "password": password})
    assert imported.status_code == 200, imported.text
    events = str(services.audit.events())
    for text in (imported.text, bad_password.text, events):
        assert password not in text and p12[:40] not in text and key_line not in text
