# SPDX-License-Identifier: Apache-2.0
"""An OAuth 2 access token refused the A2X way (PROTOCOL pitfall 28), through the bridge.

The agent (tests/interop/agents/a2x_auth_agent.py in its `oauth` mode, a2a-sdk 1.x) checks bearer
tokens from a real authorization server (oidc-provider: signature, iss, aud, exp, scope) and answers an
expired or revoked one not with HTTP 401 but with a task in `auth-required` (HTTP 200; a stream: one
status event, then close). The bridge must take that for a refused token: refresh it with the refresh
token (silently, no prompt), and re-send the client's original request once with the new one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keybroker.core.auth.signins import SignIns
from keybroker.core.models import AuditDecision
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.support import a2a_client_run, bridged, record_from_url
from tests.core.broker.test_broker import make_broker
from tests.fakes import ScriptedPrompter
from tests.interop.conftest import RunningPeer
from tests.interop.sign_in_support import ScriptedSignIn, browser_opener
from tests.interop.test_bridge_sign_ins import held, oauth_scheme
from tests.peers import oauth_server
from tests.peers.oauth_server import NATIVE_REDIRECT_URI
from tests.peers.process import skip_if_missing

StartPeer = Callable[..., RunningPeer]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


def calls(peer: RunningPeer) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = httpx.get(f"{peer.base_url}/debug/requests", trust_env=False).json()
    return [c for c in seen if c["method"] in ("send", "stream")]


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True], ids=["send", "stream"])
async def test_an_expired_token_refused_as_auth_required_is_refreshed_and_the_request_sent_again(
    start_peer: StartPeer, services: Services, tmp_path: Path, streaming: bool
) -> None:
    with skip_if_missing(), oauth_server.oauth_server(access_token_ttl=2, workdir=tmp_path / "idp") as idp:
        env = {
            "KEYBROKER_PEER_A2X_SCHEME": "oauth",
            "KEYBROKER_PEER_A2X_VERSION": "1.0",
            "KEYBROKER_PEER_SCHEMES": json.dumps(oauth_scheme(idp, "code")),
            "KEYBROKER_PEER_REQUIREMENTS": json.dumps([{"schemes": {"oauth": {"list": ["read"]}}}]),
            "KEYBROKER_PEER_ISSUER": idp.issuer,
            "KEYBROKER_PEER_SCOPE": "read",
        }
        peer = start_peer("a2x", env=env)
        services.catalog.upsert_agent(record_from_url(peer.base_url))
        record = services.catalog.get_agent("peer")
        user = ScriptedSignIn(idp)
        # No expiry skew: the bridge sends the token it holds until the agent refuses it.
        signins = SignIns(
            services.catalog,
            services.vault,
            services.audit,
            prompter=user,
            open_browser=browser_opener(idp),
            timeout=30.0,
            expiry_skew=-3600.0,
        )
        await signins.set_client(
            record, "oauth", idp.public_client_id, None, redirect_uri=NATIVE_REDIRECT_URI
        )
        await signins.login(record, "oauth", "code")
        before = await held(services, "peer", "oauth")
        await asyncio.sleep(3.5)  # the 2 s access token is past its end (the agent checks `exp`)
        prompter = ScriptedPrompter()
        async with bridged(record, make_broker(services, prompter), tokens=signins) as bridge:
            run = await a2a_client_run(bridge.url(), "hello a2x", streaming=streaming)
        assert run.state == "TASK_STATE_COMPLETED", run.events
        assert "echo: hello a2x" in run.text
        seen = calls(peer)
        # Refused (HTTP 200, auth-required), then the same request once more, accepted.
        assert [c["accepted"] for c in seen] == [False, True], seen
        assert seen[0]["message_id"] == seen[1]["message_id"] and seen[1]["text"] == "hello a2x"
        after = await held(services, "peer", "oauth")
        assert after.access_token != before.access_token and after.refresh_token != before.refresh_token
        assert user.asks == [] and prompter.requests == []  # silently: the refresh token did it
        audit = [e.decision for e in services.audit.events() if e.key == "oauth"]
        assert AuditDecision.REFRESHED in audit
        assert before.access_token is not None and after.access_token is not None
        for token in (before.access_token.reveal(), after.access_token.reveal()):
            assert token.encode() not in run.received
