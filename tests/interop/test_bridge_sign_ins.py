# SPDX-License-Identifier: Apache-2.0
"""Card schemes the bridge signs in for (issue 13), end to end: a real a2a-sdk 1.x agent that checks
its callers itself (tests/interop/agents/oauth_agent.py: HTTP basic, or JWT access tokens checked
against the issuer's JWKS, `aud` = its own URL and the scopes it needs), a real authorization server
(oidc-provider, tests/peers/oauth_server.py), the real bridge and broker, and a plain a2a-sdk client
that holds no credential at all.

Every agent quotes the credential it was let in with (`KEYBROKER_PEER_ECHO_TOKEN=1`), so the tests
also prove the bridge cuts it from what the client receives. Tokens are read back from the vault to
check that very value was cut (the canary of a sign-in is the token itself).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import trustme

from keybroker.core.auth.client_cert import CertificateMaterial, read_certificate
from keybroker.core.auth.signins import SignIns
from keybroker.core.auth.token_set import TokenSet
from keybroker.core.models import AgentRecord, AuditDecision, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.support import a2a_client_run, bridged, record_from_card, record_from_url
from tests.core.broker.test_broker import make_broker
from tests.fakes import ScriptedPrompter
from tests.interop.conftest import AGENTS_DIR, RunningPeer, free_port
from tests.interop.sign_in_support import ScriptedSignIn, browser_opener
from tests.peers import oauth_server
from tests.peers.oauth_server import NATIVE_REDIRECT_URI, OAuthServer, jwt_claims
from tests.peers.process import skip_if_missing

PASSWORD = "CANARY-basic-pw-0123456789"
StartPeer = Callable[..., RunningPeer]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


def peer_with(
    start_peer: StartPeer, schemes: dict[str, Any], requirements: list[Any], **env: str
) -> RunningPeer:
    """The oauth peer with a 1.0 card declaring `schemes` and `requirements`, echoing what let it in."""
    extra = {
        "KEYBROKER_PEER_SCHEMES": json.dumps(schemes),
        "KEYBROKER_PEER_REQUIREMENTS": json.dumps(requirements),
        "KEYBROKER_PEER_ECHO_TOKEN": "1",
        **env,
    }
    return start_peer("oauth", env=extra)


def decisions(services: Services, key: str) -> list[AuditDecision]:
    return [e.decision for e in services.audit.events() if e.key == key]


async def held(services: Services, slug: str, scheme: str) -> TokenSet:
    record = SignIns(services.catalog, services.vault, services.audit).find(slug, scheme)
    assert record is not None
    return TokenSet.from_value(await services.vault.aget(record.account), record.account)


# HTTP basic -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_basic_credentials_from_the_vault_reach_the_agent_and_are_cut(
    start_peer: StartPeer, services: Services
) -> None:
    peer = peer_with(
        start_peer,
        {"basic": {"httpAuthSecurityScheme": {"scheme": "basic"}}},
        [{"schemes": {"basic": {}}}],
        KEYBROKER_PEER_BASIC=f"alice:{PASSWORD}",
    )
    services.catalog.upsert_agent(record_from_url(peer.base_url))
    services.secrets.set("basic", SecretValue(f"alice:{PASSWORD}"), owner="peer", scheme="basic")
    prompter = ScriptedPrompter()
    async with bridged(services.catalog.get_agent("peer"), make_broker(services, prompter)) as bridge:
        card = await a2a_client_run(bridge.url(), "who")
    assert card.state == "TASK_STATE_COMPLETED", card.events
    assert "user=alice" in card.text
    assert PASSWORD.encode() not in card.received  # the agent echoed it: cut
    assert prompter.requests == []
    assert AuditDecision.RELEASED in decisions(services, "basic")


@pytest.mark.asyncio
async def test_after_a_restart_a_basic_password_echoed_alone_about_an_earlier_task_is_cut(
    start_peer: StartPeer, services: Services
) -> None:
    """After a restart the password alone is still cut from an answer about an earlier task: the
    `GetTask` carries the agent's credentials again, and those name the password as a released value."""
    peer = peer_with(
        start_peer,
        {"basic": {"httpAuthSecurityScheme": {"scheme": "basic"}}},
        [{"schemes": {"basic": {}}}],
        KEYBROKER_PEER_BASIC=f"alice:{PASSWORD}",
    )
    services.catalog.upsert_agent(record_from_url(peer.base_url))
    services.secrets.set("basic", SecretValue(f"alice:{PASSWORD}"), owner="peer", scheme="basic")
    record = services.catalog.get_agent("peer")
    async with bridged(record, make_broker(services, ScriptedPrompter())) as bridge:
        first = await a2a_client_run(bridge.url(), "who")
    assert first.task is not None and first.state == "TASK_STATE_COMPLETED", first.events
    task_id = first.task["id"]
    # A new broker and bridge over the same data home: what a restarted Keybroker has.
    body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": task_id}}
    async with (
        bridged(record, make_broker(services, ScriptedPrompter())) as bridge,
        httpx.AsyncClient(timeout=30) as http,
    ):
        response = await http.post(bridge.url(), json=body, headers={"A2A-Version": "1.0"})
    assert response.status_code == 200, response.text
    assert "result" in response.json(), response.text
    assert PASSWORD not in response.text


# OAuth 2 client credentials ---------------------------------------------------------------------


def oauth_scheme(idp: OAuthServer, *flows: str) -> dict[str, Any]:
    """A 1.0 `oauth2SecurityScheme` with `flows` at `idp`, and its RFC 8414 metadata URL."""
    by_name = {
        "client": ("clientCredentials", {"tokenUrl": f"{idp.issuer}/token"}),
        "code": (
            "authorizationCode",
            {
                "authorizationUrl": f"{idp.issuer}/auth",
                "tokenUrl": f"{idp.issuer}/token",
                "pkceRequired": True,
            },
        ),
        "device": (
            "deviceCode",
            {"deviceAuthorizationUrl": f"{idp.issuer}/device/auth", "tokenUrl": f"{idp.issuer}/token"},
        ),
    }
    body = {
        "oauth2MetadataUrl": f"{idp.issuer}/.well-known/oauth-authorization-server",
        "flows": dict(by_name[f] for f in flows),
    }
    return {"oauth": {"oauth2SecurityScheme": body}}


def oauth_peer(start_peer: StartPeer, idp: OAuthServer, *flows: str, scope: str = "read") -> RunningPeer:
    return peer_with(
        start_peer,
        oauth_scheme(idp, *flows),
        [{"schemes": {"oauth": {"list": scope.split()}}}],
        KEYBROKER_PEER_ISSUER=idp.issuer,
        KEYBROKER_PEER_SCOPE=scope,
    )


def sign_ins(services: Services, **options: Any) -> SignIns:
    return SignIns(services.catalog, services.vault, services.audit, **options)


async def run_through(
    services: Services, signins: SignIns, record: AgentRecord, text: str = "who", times: int = 1
) -> list[Any]:
    prompter = ScriptedPrompter()
    runs = []
    async with bridged(record, make_broker(services, prompter), tokens=signins) as bridge:
        for _ in range(times):
            runs.append(await a2a_client_run(bridge.url(), text))
    assert prompter.requests == []  # tokens never go through the secret prompt
    return runs


@pytest.mark.asyncio
async def test_client_credentials_tokens_are_fetched_sent_refreshed_and_cut(
    start_peer: StartPeer, services: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with skip_if_missing(), oauth_server.oauth_server(access_token_ttl=30, workdir=tmp_path / "idp") as idp:
        peer = oauth_peer(start_peer, idp, "client", scope="read")
        services.catalog.upsert_agent(record_from_url(peer.base_url))
        record = services.catalog.get_agent("peer")
        # An expiry skew as long as the token's life: each run finds the last token at its end.
        signins = sign_ins(services, expiry_skew=60.0)
        await signins.set_client(
            record, "oauth", idp.service_client_id, SecretValue(idp.service_client_secret)
        )
        first, second = await run_through(services, signins, record, times=2)
        for run in (first, second):
            assert run.state == "TASK_STATE_COMPLETED", run.events
            assert f"client={idp.service_client_id} scope=read" in run.text
        values = await held(services, "peer", "oauth")
        assert values.access_token is not None and values.refresh_token is None
        token = values.access_token.reveal()
        claims = jwt_claims(token)
        assert claims["aud"] == record.url and claims["scope"] == "read"  # RFC 8707 resource, card scope
        assert token.encode() not in second.received  # the agent echoed it: cut
        assert idp.service_client_secret.encode() not in first.received + second.received
        row = signins.find("peer", "oauth")
        assert row is not None and row.flow == "client" and row.scopes == "read"
        audit = decisions(services, "oauth")
        assert audit.count(AuditDecision.SIGNED_IN) == 1 and AuditDecision.REFRESHED in audit
        assert token not in repr(services.audit.events())
        assert token not in caplog.text and idp.service_client_secret not in caplog.text


# OAuth 2 authorization code + PKCE through the system browser ---------------------------------


def browser_sign_ins(
    services: Services,
    idp: OAuthServer,
    opened: list[str],
    user: ScriptedSignIn | None = None,
    **options: Any,
) -> SignIns:
    return sign_ins(
        services,
        prompter=user or ScriptedSignIn(idp),
        open_browser=browser_opener(idp, opened=opened, **options),
        timeout=30.0,
        expiry_skew=60.0,  # as long as the tokens live: each run finds the last one at its end
    )


@pytest.mark.asyncio
async def test_code_flow_signs_in_after_the_401_registers_itself_and_rotates_refresh_tokens(
    start_peer: StartPeer, services: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with skip_if_missing(), oauth_server.oauth_server(access_token_ttl=30, workdir=tmp_path / "idp") as idp:
        peer = oauth_peer(start_peer, idp, "code", scope="read")
        services.catalog.upsert_agent(record_from_url(peer.base_url))
        record = services.catalog.get_agent("peer")
        opened: list[str] = []
        user = ScriptedSignIn(idp)
        signins = browser_sign_ins(services, idp, opened, user)
        (first,) = await run_through(services, signins, record)
        assert first.state == "TASK_STATE_COMPLETED", first.events
        assert "sub=alice" in first.text and "scope=read" in first.text
        # The user was asked first, naming the agent and the server's host; then the browser opened once.
        assert [(a.agent_slug, a.scheme, a.flow) for a in user.asks] == [("peer", "oauth", "code")]
        assert user.asks[0].host == "127.0.0.1" and len(opened) == 1
        query = dict(parse_qsl(urlsplit(opened[0]).query))
        assert query["code_challenge_method"] == "S256" and query["resource"] == record.url
        assert query["scope"] == "read" and len(query["state"]) >= 32
        redirect = urlsplit(query["redirect_uri"])
        assert redirect.hostname == "127.0.0.1" and redirect.port and len(redirect.path) > 20
        row = signins.find("peer", "oauth")
        assert row is not None and row.registered and row.public and row.refresh_held  # RFC 7591
        before = await held(services, "peer", "oauth")
        assert before.refresh_token is not None and before.access_token is not None
        assert before.access_token.reveal().encode() not in first.received

        (second,) = await run_through(services, signins, record)  # the token is at its end: refreshed
        assert second.state == "TASK_STATE_COMPLETED", second.events
        after = await held(services, "peer", "oauth")
        assert after.refresh_token is not None and after.refresh_token != before.refresh_token  # rotated
        assert after.access_token is not None and after.access_token != before.access_token
        assert after.access_token.reveal().encode() not in second.received
        assert len(user.asks) == 1 and len(opened) == 1  # silently
        audit = decisions(services, "oauth")
        assert audit.count(AuditDecision.SIGNED_IN) == 1 and AuditDecision.REFRESHED in audit
        for token in (before.access_token, before.refresh_token, after.access_token, after.refresh_token):
            assert token.reveal() not in caplog.text and token.reveal() not in repr(services.audit.events())


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["deny in the prompt", "deny at the server", "forged state"])
async def test_a_sign_in_declined_or_forged_stores_nothing_and_the_agent_is_not_reached(
    start_peer: StartPeer, services: Services, tmp_path: Path, how: str
) -> None:
    with skip_if_missing(), oauth_server.oauth_server(workdir=tmp_path / "idp") as idp:
        peer = oauth_peer(start_peer, idp, "code", scope="read")
        services.catalog.upsert_agent(record_from_url(peer.base_url))
        record = services.catalog.get_agent("peer")
        opened: list[str] = []
        user = ScriptedSignIn(idp, allow=how != "deny in the prompt")
        options = {"deny": how == "deny at the server", "tamper_state": how == "forged state"}
        signins = browser_sign_ins(services, idp, opened, user, **options)
        run = await a2a_run_expecting_failure(services, signins, record)
        assert "authorized:" not in run
        assert len(user.asks) == 1 and len(opened) == (0 if how == "deny in the prompt" else 1)
        row = signins.find("peer", "oauth")
        assert row is None or not row.signed_in_now
        assert AuditDecision.SIGNED_IN not in decisions(services, "oauth")


async def a2a_run_expecting_failure(services: Services, signins: SignIns, record: AgentRecord) -> str:
    """What a plain client got when the agent could not be signed in to (an error or a task)."""
    async with bridged(record, make_broker(services, ScriptedPrompter()), tokens=signins) as bridge:
        try:
            run = await a2a_client_run(bridge.url(), "who")
        except Exception as exc:  # the client's error for the agent's 401, passed on
            return f"{type(exc).__name__}: {exc}"
    return run.text + repr(run.events)


# Mutual TLS -------------------------------------------------------------------------------------


def start_tls_peer(
    tmp_path: Path, ca: trustme.CA, client: trustme.LeafCert
) -> tuple[subprocess.Popen[bytes], str]:
    """The oauth peer on https, requiring a client certificate from `ca` (uvicorn CERT_REQUIRED)."""
    tls = tmp_path / "tls"
    tls.mkdir()
    server = ca.issue_cert("127.0.0.1")
    server.cert_chain_pems[0].write_to_path(str(tls / "server.pem"))
    server.private_key_pem.write_to_path(str(tls / "server.key"))
    ca.cert_pem.write_to_path(str(tls / "ca.pem"))
    port = free_port()
    env = {
        **os.environ,
        "KEYBROKER_PEER_TLS_DIR": str(tls),
        "KEYBROKER_PEER_SCHEMES": json.dumps({"mtls": {"mtlsSecurityScheme": {}}}),
        "KEYBROKER_PEER_REQUIREMENTS": json.dumps([{"schemes": {"mtls": {}}}]),
    }
    with (tmp_path / "tls-peer.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(AGENTS_DIR / "oauth_agent.py"), str(port)], env=env, stdout=log, stderr=log
        )
    base_url = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
    client.configure_cert(context)
    with httpx.Client(verify=context, trust_env=False) as http:
        for _ in range(200):
            try:
                card = http.get(base_url + "/.well-known/agent-card.json").json()
                return process, json.dumps(card)
            except httpx.TransportError:
                assert process.poll() is None, (tmp_path / "tls-peer.log").read_text()
                time.sleep(0.1)
    process.kill()
    raise AssertionError("the TLS peer did not answer")


@pytest.mark.asyncio
async def test_a_client_certificate_from_the_vault_is_presented_to_an_mtls_agent(
    services: Services, tmp_path: Path
) -> None:
    ca, stranger = trustme.CA(), trustme.CA()
    client = ca.issue_cert("keybroker-client@example.test")
    process, card_json = start_tls_peer(tmp_path, ca, client)
    try:
        port = card_json.split("https://127.0.0.1:")[1].split("/")[0].split('"')[0]
        record = record_from_card(json.loads(card_json), "peer", url=f"https://127.0.0.1:{port}")
        services.catalog.upsert_agent(record)
        signins = sign_ins(services)
        # No certificate yet: the TLS handshake fails and the client hears the agent cannot be reached.
        refused = await a2a_run_expecting_failure(services, signins, record)
        assert "authorized:" not in refused
        # A certificate from another CA is refused by the agent too.
        other = stranger.issue_cert("keybroker-client@example.test")
        await signins.import_certificate(record, None, material(other, ca))
        assert "authorized:" not in await a2a_run_expecting_failure(services, signins, record)

        row = await signins.import_certificate(record, None, material(client, ca))
        assert row.cert_subject is not None and "trustme" in row.cert_subject
        (run,) = await run_through(services, signins, record)
        assert run.state == "TASK_STATE_COMPLETED", run.events
        assert "cert=verified" in run.text
        key_pem = client.private_key_pem.bytes().decode()
        values = await held(services, "peer", "mtls")
        assert values.key_pem is not None and values.key_pem.reveal().startswith("-----BEGIN PRIVATE KEY")
        assert key_pem.splitlines()[1] not in repr(services.audit.events())
    finally:
        process.kill()
        process.wait()


def material(cert: trustme.LeafCert, ca: trustme.CA) -> CertificateMaterial:
    return read_certificate(
        cert.cert_chain_pems[0].bytes(), key=cert.private_key_pem.bytes(), ca=ca.cert_pem.bytes()
    )


@pytest.mark.asyncio
async def test_an_expired_token_refused_with_a_401_is_refreshed_and_the_request_sent_again(
    start_peer: StartPeer, services: Services, tmp_path: Path
) -> None:
    with skip_if_missing(), oauth_server.oauth_server(access_token_ttl=2, workdir=tmp_path / "idp") as idp:
        peer = oauth_peer(start_peer, idp, "code", scope="read")
        services.catalog.upsert_agent(record_from_url(peer.base_url))
        record = services.catalog.get_agent("peer")
        user = ScriptedSignIn(idp)
        # No expiry skew: the bridge sends the token it holds until the agent refuses it.
        signins = sign_ins(
            services, prompter=user, open_browser=browser_opener(idp), timeout=30.0, expiry_skew=-3600.0
        )
        await signins.set_client(
            record, "oauth", idp.public_client_id, None, redirect_uri=NATIVE_REDIRECT_URI
        )
        await signins.login(record, "oauth", "code")
        before = await held(services, "peer", "oauth")
        await asyncio.sleep(3.5)  # the 2 s access token is past its end (the agent checks `exp`)
        (run,) = await run_through(services, signins, record)
        assert run.state == "TASK_STATE_COMPLETED", run.events
        after = await held(services, "peer", "oauth")
        assert after.access_token != before.access_token and after.refresh_token != before.refresh_token
        assert user.asks == []  # silently: the refresh token did it
        audit = decisions(services, "oauth")
        assert AuditDecision.REFRESHED in audit
