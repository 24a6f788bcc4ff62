# SPDX-License-Identifier: Apache-2.0
"""oidc-provider smoke tests: every flow the rig offers, end to end with plain httpx."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.peers import oauth_server
from tests.peers.oauth_server import OAuthServer, jwt_claims, pkce_pair
from tests.peers.process import skip_if_missing

RESOURCE = "https://api.example.test/"
BROWSER_SCRIPT = Path(oauth_server.__file__).with_name("browser.py")


@pytest.fixture(scope="module")
def idp() -> Iterator[OAuthServer]:
    """One server for the tests that need no settings of their own (start-up is ~0.5 s, but still)."""
    with skip_if_missing(), oauth_server.oauth_server(access_token_ttl=30) as server:
        yield server


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def verify_jwt(token: str, issuer: str) -> dict[str, Any]:
    """Check an RS256 JWT's signature against the issuer's JWKS; return its claims."""
    header_b64, payload_b64, signature_b64 = token.split(".")
    kid = jwt_claims(f"x.{header_b64}.x")["kid"]  # the header, decoded the same way
    keys = httpx.get(f"{issuer}/jwks", trust_env=False).json()["keys"]
    jwk = next(k for k in keys if k["kid"] == kid)
    public_key = rsa.RSAPublicNumbers(
        int.from_bytes(_b64(jwk["e"]), "big"), int.from_bytes(_b64(jwk["n"]), "big")
    ).public_key()
    public_key.verify(
        _b64(signature_b64), f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    return jwt_claims(token)


def _authorization_url(idp: OAuthServer, redirect_uri: str, challenge: str, **extra: str) -> str:
    params = {
        "client_id": idp.public_client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": "openid read",
        "state": "state-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": RESOURCE,
        **extra,
    }
    return f"{idp.issuer}/auth?{urlencode(params)}"


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_discovery_and_jwks(idp: OAuthServer) -> None:
    meta = idp.metadata()
    assert meta["issuer"] == idp.issuer
    assert meta["code_challenge_methods_supported"] == ["S256"]
    for name in ("device_authorization_endpoint", "registration_endpoint", "revocation_endpoint"):
        assert meta[name].startswith(idp.issuer)
    assert {"client_credentials", oauth_server.DEVICE_GRANT} <= set(meta["grant_types_supported"])
    rfc8414 = httpx.get(f"{idp.issuer}/.well-known/oauth-authorization-server", trust_env=False).json()
    assert rfc8414 == meta
    keys = httpx.get(meta["jwks_uri"], trust_env=False).json()["keys"]
    assert [k["alg"] for k in keys] == ["RS256"]
    assert "d" not in keys[0]


def test_authorization_code_pkce_refresh_rotation_and_revocation() -> None:
    with (
        skip_if_missing(),
        oauth_server.oauth_server(access_token_ttl=2) as idp,
        httpx.Client(base_url=idp.issuer, trust_env=False) as http,
    ):
        verifier, challenge = pkce_pair()
        redirect_uri = "http://127.0.0.1:45678/callback"  # any loopback port: the client is native
        with idp.browser() as browser:
            redirect = browser.authorize(_authorization_url(idp, redirect_uri, challenge))
        params = _query(redirect)
        assert redirect.startswith(redirect_uri)
        assert params["state"] == "state-1"
        assert params["iss"] == idp.issuer  # RFC 9207

        token_request = {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": redirect_uri,
            "client_id": idp.public_client_id,
        }
        for verifier_or_none in ({}, {"code_verifier": pkce_pair()[0]}):  # none, then a wrong one
            refused = http.post("/token", data={**token_request, **verifier_or_none})
            assert refused.status_code == 400
            assert refused.json()["error"] == "invalid_grant"
        # A failed PKCE check does not use the code up: the right verifier still gets the tokens.
        tokens = http.post("/token", data={**token_request, "code_verifier": verifier})
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        access = verify_jwt(body["access_token"], idp.issuer)
        assert access["aud"] == RESOURCE
        assert access["sub"] == idp.login
        assert access["scope"] == "read"
        assert access["exp"] - access["iat"] == 2
        assert verify_jwt(body["id_token"], idp.issuer)["aud"] == idp.public_client_id

        time.sleep(2.5)  # let the access token expire, then refresh
        refresh = {"grant_type": "refresh_token", "client_id": idp.public_client_id}
        refreshed = http.post("/token", data={**refresh, "refresh_token": body["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        new = refreshed.json()
        assert new["refresh_token"] != body["refresh_token"]  # rotated
        assert jwt_claims(new["access_token"])["aud"] == RESOURCE  # the granted resource, not named again
        reused = http.post("/token", data={**refresh, "refresh_token": body["refresh_token"]})
        assert reused.json()["error"] == "invalid_grant"

        # Reusing a rotated token revoked the grant, so the newest refresh token is dead too (OAuth 2.1 §6.1).
        also_dead = http.post("/token", data={**refresh, "refresh_token": new["refresh_token"]})
        assert also_dead.json()["error"] == "invalid_grant"


def test_revocation_and_introspection_of_a_refresh_token(idp: OAuthServer) -> None:
    # Only opaque tokens: for a JWT access token both endpoints answer 400 unsupported_token_type
    # ("Structured JWT Tokens cannot be revoked via the revocation_endpoint").
    with httpx.Client(base_url=idp.issuer, trust_env=False) as http:
        refresh_token = _device_tokens(idp, http)["refresh_token"]
        client = {"client_id": idp.public_client_id}
        introspect = {**client, "token": refresh_token}
        assert http.post("/token/introspection", data=introspect).json()["active"] is True
        revoked = http.post("/token/revocation", data={**introspect, "token_type_hint": "refresh_token"})
        assert revoked.status_code == 200
        assert http.post("/token/introspection", data=introspect).json()["active"] is False
        refresh = {**client, "grant_type": "refresh_token", "refresh_token": refresh_token}
        assert http.post("/token", data=refresh).json()["error"] == "invalid_grant"


def test_pkce_is_required_and_only_s256(idp: OAuthServer) -> None:
    redirect_uri = "http://127.0.0.1:45678/callback"
    with idp.browser() as browser:
        missing = _query(
            browser.authorize(_authorization_url(idp, redirect_uri, "", code_challenge_method=""))
        )
    assert missing["error"] == "invalid_request"
    assert "PKCE" in missing["error_description"]
    _, challenge = pkce_pair()
    with idp.browser() as browser:
        plain = _query(
            browser.authorize(_authorization_url(idp, redirect_uri, challenge, code_challenge_method="plain"))
        )
    assert plain["error"] == "invalid_request"


def test_denied_consent_redirects_with_access_denied(idp: OAuthServer) -> None:
    _, challenge = pkce_pair()
    with idp.browser(deny=True) as browser:
        params = _query(browser.authorize(_authorization_url(idp, "http://127.0.0.1:1/callback", challenge)))
    assert params["error"] == "access_denied"


def test_client_credentials_jwt_for_the_resource(idp: OAuthServer) -> None:
    response = httpx.post(
        f"{idp.issuer}/token",
        data={"grant_type": "client_credentials", "resource": RESOURCE, "scope": "read write"},
        auth=(idp.service_client_id, idp.service_client_secret),
        trust_env=False,
    )
    assert response.status_code == 200, response.text
    claims = verify_jwt(response.json()["access_token"], idp.issuer)
    assert claims["aud"] == RESOURCE
    assert claims["client_id"] == idp.service_client_id
    assert claims["scope"] == "read write"
    assert "refresh_token" not in response.json()


def _device_tokens(idp: OAuthServer, http: httpx.Client) -> dict[str, Any]:
    """Run the device flow (RFC 8628) for the public client; return the token response."""
    started = http.post(
        "/device/auth", data={"client_id": idp.public_client_id, "scope": "read", "resource": RESOURCE}
    )
    assert started.status_code == 200, started.text
    device = started.json()
    # No `interval` in the answer: RFC 8628 §3.2 says a client then polls every 5 s.
    assert {"device_code", "user_code", "verification_uri", "verification_uri_complete"} <= set(device)
    poll = {"grant_type": oauth_server.DEVICE_GRANT, "device_code": device["device_code"]}
    pending = http.post("/token", data={**poll, "client_id": idp.public_client_id})
    assert pending.json()["error"] == "authorization_pending"
    with idp.browser() as browser:
        browser.approve_device(device["verification_uri"], device["user_code"])
    tokens = http.post("/token", data={**poll, "client_id": idp.public_client_id})
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


def test_device_authorization_flow(idp: OAuthServer) -> None:
    with httpx.Client(base_url=idp.issuer, trust_env=False) as http:
        tokens = _device_tokens(idp, http)
    assert jwt_claims(tokens["access_token"])["aud"] == RESOURCE
    assert tokens["refresh_token"]


def test_dynamic_client_registration(idp: OAuthServer) -> None:
    registration = httpx.post(
        idp.metadata()["registration_endpoint"],
        json={
            "client_name": "registered in a test",
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": "client_secret_post",
        },
        trust_env=False,
    )
    assert registration.status_code == 201, registration.text
    client = registration.json()
    assert client["registration_access_token"]
    token = httpx.post(
        f"{idp.issuer}/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "resource": RESOURCE,
        },
        trust_env=False,
    )
    assert token.status_code == 200, token.text
    # RFC 7592: the client reads its own registration with its registration access token.
    read = httpx.get(
        client["registration_client_uri"],
        headers={"Authorization": f"Bearer {client['registration_access_token']}"},
        trust_env=False,
    )
    assert read.json()["client_id"] == client["client_id"]


class _Callback(BaseHTTPRequestHandler):
    received: list[str] = []

    def do_GET(self) -> None:
        _Callback.received.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"signed in")

    def log_message(self, *args: object) -> None:
        pass


def test_browser_script_delivers_the_code_to_a_loopback_listener(idp: OAuthServer) -> None:
    """browser.py as $BROWSER would run it: sign in, then GET the redirect on the app's listener."""
    _Callback.received = []
    listener = HTTPServer(("127.0.0.1", 0), _Callback)
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        redirect_uri = f"http://127.0.0.1:{listener.server_address[1]}/callback"
        _, challenge = pkce_pair()
        result = subprocess.run(
            [sys.executable, str(BROWSER_SCRIPT), _authorization_url(idp, redirect_uri, challenge)],
            env={**os.environ, **idp.browser_env()},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert len(_Callback.received) == 1
        assert "code" in _query(_Callback.received[0])
    finally:
        listener.shutdown()
        listener.server_close()
        thread.join(5)
