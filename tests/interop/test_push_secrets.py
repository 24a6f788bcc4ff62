# SPDX-License-Identifier: Apache-2.0
"""`agents push-secrets`: the client side of the Agent Protocol secrets API, against a live peer
(tests/interop/agents/ap_peer.py) that serves `/ap/v1/agent/secrets` itself."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from keybroker.core.a2a.ap_push import push_secrets
from keybroker.core.broker.grant_rules import make_grant
from keybroker.core.errors import BridgeError, CatalogError, PolicyDenied
from keybroker.core.models import AuditDecision, GrantScope, SecretValue
from keybroker.core.secrets.records import new_grant_id
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.conftest import RunCli
from tests.core.conftest import fill_the_disk, free_the_disk
from tests.interop.conftest import RunningPeer

StartPeer = Callable[..., RunningPeer]
CALLER = "test pid 1 (pytest)"
PEER_KEY = "ap-peer-CANARY-key-0123"


def proof(value: str) -> str:
    return f"len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]}"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


def remote(
    peer: RunningPeer, path: str = "/debug/proofs", *, method: str = "GET", json: object = None
) -> dict[str, str]:
    """The peer's test view (proofs, never values), or a key preset there by another client."""
    headers = {"X-API-Key": PEER_KEY}
    with httpx.Client(trust_env=False, timeout=10) as client:
        response = client.request(method, peer.base_url + path, headers=headers, json=json)
    response.raise_for_status()
    result: dict[str, str] = response.json()
    return result


def grant_always(services: Services, slug: str, secret_id: str) -> None:
    agent = services.catalog.get_agent(slug)
    record = services.catalog.get_secret(secret_id)
    now = services.catalog.clock.now()
    services.catalog.add_grant(
        make_grant(agent=agent, secret=record, scope=GrantScope.ALWAYS, now=now, grant_id=new_grant_id())
    )


def test_push_sends_what_the_agent_may_have_then_deletes_only_what_was_revoked(
    start_peer: StartPeer, services: Services
) -> None:
    peer = start_peer("ap")
    services.agents.add(peer.base_url, slug="ap")
    own = services.secrets.set("OPENAI_API_KEY", SecretValue("sk-own-CANARY"), owner="ap").record
    shared = services.secrets.set("github", SecretValue("ghp-shared-CANARY")).record
    grant_always(services, "ap", shared.secret_id)
    services.secrets.set("slack", SecretValue("xoxb-not-granted"))  # shared, never granted: not sent
    services.secrets.set("apiKey", SecretValue("card-credential"), owner="ap", scheme="apiKey")  # not sent
    remote(peer, "/debug/preset", method="POST", json={"secret_key": "THEIRS", "secret_value": "x"})

    report = push_secrets(services, "ap", caller=CALLER)
    assert report.pushed == ("OPENAI_API_KEY", "github")
    assert report.remote == ("OPENAI_API_KEY", "THEIRS", "github") and report.deleted == ()
    assert report.url == peer.base_url + "/ap/v1/agent/secrets"
    assert remote(peer) == {
        "THEIRS": proof("x"),
        "OPENAI_API_KEY": proof("sk-own-CANARY"),
        "github": proof("ghp-shared-CANARY"),
    }
    pushes = [e for e in services.audit.events() if e.decision == AuditDecision.RELEASED]
    assert [(e.agent, e.key, e.caller) for e in pushes] == [
        ("ap", "OPENAI_API_KEY", CALLER),
        ("ap", "github", CALLER),
    ]
    assert all("pushed" in (e.detail or "") for e in pushes)
    assert [p.key for p in services.catalog.list_pushes("ap")] == ["OPENAI_API_KEY", "github"]

    # Pushing again replaces (the peer keeps its ids); nothing is deleted.
    services.secrets.set("OPENAI_API_KEY", SecretValue("sk-rotated-CANARY"), owner="ap")
    report = push_secrets(services, "ap", caller=CALLER)
    assert report.deleted == () and remote(peer)["OPENAI_API_KEY"] == proof("sk-rotated-CANARY")

    # Revoked here: one deleted, one grant revoked. Only those go at the agent; THEIRS stays.
    services.secrets.remove(own, caller=CALLER)
    services.grants.revoke(services.catalog.list_grants(agent="ap", secret_id=shared.secret_id)[0].grant_id)
    report = push_secrets(services, "ap", caller=CALLER)
    assert report.pushed == () and set(report.deleted) == {"OPENAI_API_KEY", "github"}
    assert report.remote == ("THEIRS",) and remote(peer) == {"THEIRS": proof("x")}
    revoked = [e for e in services.audit.events() if e.decision == AuditDecision.REVOKED and e.agent == "ap"]
    assert {e.key for e in revoked} >= {"OPENAI_API_KEY", "github"}
    assert services.catalog.list_pushes("ap") == []
    assert push_secrets(services, "ap", caller=CALLER).deleted == ()  # nothing left to delete


def test_push_to_a_protected_agent_sends_its_stored_credential(
    start_peer: StartPeer, services: Services
) -> None:
    peer = start_peer("ap", env={"KEYBROKER_PEER_API_KEY": PEER_KEY})
    agent = services.agents.add(peer.base_url, slug="ap")
    assert [s.name for s in agent.schemes] == ["apiKey"]
    services.secrets.set("OPENAI_API_KEY", SecretValue("sk-own-CANARY"), owner="ap")
    with pytest.raises(BridgeError, match="HTTP 401") as refused:
        push_secrets(services, "ap", caller=CALLER)
    assert "--scheme" in (refused.value.hint or "")
    services.secrets.set("apiKey", SecretValue(PEER_KEY), owner="ap", scheme="apiKey")
    report = push_secrets(services, "ap", caller=CALLER)
    assert report.pushed == ("OPENAI_API_KEY",)
    assert remote(peer) == {"OPENAI_API_KEY": proof("sk-own-CANARY")}
    released = [e.key for e in services.audit.events() if e.decision == AuditDecision.RELEASED]
    assert released.count("apiKey") == 1 and released.count("OPENAI_API_KEY") == 1


def test_push_refuses_plain_http_to_a_remote_host_and_an_unreachable_agent(
    start_peer: StartPeer, services: Services
) -> None:
    peer = start_peer("ap")
    agent = services.agents.add(peer.base_url, slug="ap")
    services.secrets.set("OPENAI_API_KEY", SecretValue("sk-own-CANARY"), owner="ap")
    services.catalog.upsert_agent(replace(agent, url="http://agent.example:8000"))
    with pytest.raises(PolicyDenied, match=r"agent\.example"):
        push_secrets(services, "ap", caller=CALLER)
    peer.stop()
    services.catalog.upsert_agent(agent)
    with pytest.raises(BridgeError, match="cannot reach"):
        push_secrets(services, "ap", caller=CALLER)
    assert not [e for e in services.audit.events() if e.decision == AuditDecision.RELEASED]


def test_push_on_a_full_disk_sends_nothing_unaudited(start_peer: StartPeer, services: Services) -> None:
    peer = start_peer("ap")
    services.agents.add(peer.base_url, slug="ap")
    services.secrets.set("OPENAI_API_KEY", SecretValue("sk-own-CANARY"), owner="ap")
    fill_the_disk(services)
    with pytest.raises(CatalogError, match="cannot be written"):
        push_secrets(services, "ap", caller=CALLER)
    free_the_disk(services)
    assert remote(peer) == {}  # its `released` event could not be written, so it was never sent
    assert not [e for e in services.audit.events() if e.decision == AuditDecision.RELEASED]


@pytest.mark.secret_service
def test_the_cli_pushes_from_the_os_vault(
    start_peer: StartPeer, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYBROKER_VAULT", "system")
    peer = start_peer("ap")
    assert run_cli("agents", "add", peer.base_url, "--slug", "ap").returncode == 0
    assert run_cli("secrets", "set", "OPENAI_API_KEY", "--agent", "ap", stdin="sk-cli-CANARY").returncode == 0
    out = run_cli("agents", "push-secrets", "ap", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["pushed"] == ["OPENAI_API_KEY"]
    assert remote(peer) == {"OPENAI_API_KEY": proof("sk-cli-CANARY")}
    assert "sk-cli-CANARY" not in out.stdout + out.stderr
    assert run_cli("secrets", "rm", "OPENAI_API_KEY", "--agent", "ap").returncode == 0
    out = run_cli("agents", "push-secrets", "ap")
    assert out.returncode == 0 and "deleted there" in out.stderr
    assert remote(peer) == {}
    assert run_cli("agents", "push-secrets", "ghost").returncode == 3
