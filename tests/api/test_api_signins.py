# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/auth`: sign-ins listed (never a token or a client secret) and signed out, against a real
authorization server (oidc-provider) for the revocation."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from keybroker.core.auth.signins import SignIns
from keybroker.core.auth.token_set import TokenSet
from keybroker.core.models import AuditDecision, SecretValue
from keybroker.wiring.services import Services
from tests.bridge.support import record_from_card
from tests.peers import oauth_server
from tests.peers.process import skip_if_missing

SECRET = "client-secret-CANARY-api-0123"


@pytest.mark.asyncio
async def test_list_then_logout_revokes_and_forgets(
    client: httpx.AsyncClient, services: Services, tmp_path: Path
) -> None:
    assert (await client.get("/api/v1/auth")).json() == []
    assert (await client.get("/api/v1/auth", params={"agent": "ghost"})).status_code == 404
    with skip_if_missing(), oauth_server.oauth_server(workdir=tmp_path / "idp") as idp:
        card = {
            "name": "Signed-in agent",
            "description": "d",
            "url": "http://127.0.0.1:9/",
            "version": "1",
            "protocolVersion": "0.3.0",
            "capabilities": {},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [],
            "securitySchemes": {
                "sso": {
                    "type": "oauth2",
                    "oauth2MetadataUrl": f"{idp.issuer}/.well-known/oauth-authorization-server",
                    "flows": {"clientCredentials": {"tokenUrl": f"{idp.issuer}/token", "scopes": {}}},
                }
            },
            "security": [{"sso": ["read"]}],
        }
        agent = record_from_card(card, "peer")
        services.catalog.upsert_agent(agent)
        signins = SignIns(services.catalog, services.vault, services.audit)
        await signins.set_client(agent, "sso", idp.service_client_id, SecretValue(idp.service_client_secret))
        await signins.login(agent, "sso", "client")
        row = signins.find("peer", "sso")
        assert row is not None
        values = TokenSet.from_value(await services.vault.aget(row.account), row.account)
        assert values.access_token is not None
        token = values.access_token.reveal()

        listed = await client.get("/api/v1/auth", params={"agent": "peer"})
        assert listed.status_code == 200
        (item,) = listed.json()
        assert item["flow"] == "client" and item["signed_in"] and item["scopes"] == ["read"]
        assert item["client"] == "confidential" and item["issuer"] == idp.issuer
        assert token not in listed.text and idp.service_client_secret not in listed.text

        assert (await client.delete("/api/v1/auth/peer/nope")).status_code == 404
        out = await client.delete("/api/v1/auth/peer/sso")
        assert out.status_code == 200, out.text
        assert out.json()["signed_in"] is False and out.json()["client_id"] == idp.service_client_id
        assert token not in out.text
        again = await client.delete("/api/v1/auth/peer/sso")
        assert again.status_code == 404 and again.json()["error"]["exit_code"] == 3
    assert services.audit.events()[-1].decision == AuditDecision.SIGNED_OUT
