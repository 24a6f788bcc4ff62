# SPDX-License-Identifier: Apache-2.0
"""One `Admin`, two implementations: `LocalAdmin` (core/admin/local.py) and `RemoteAdmin` (through a real
management API served by uvicorn) answer the same scenario with the same typed records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keybroker.cli.api_client import ApiClient
from keybroker.cli.remote_admin import RemoteAdmin
from keybroker.core.admin import Admin, AgentRefresh, AgentRemoval, LocalAdmin, SecretRef
from keybroker.core.agents.status import AgentStatus
from keybroker.core.audit.log import AuditReport
from keybroker.core.errors import (
    AmbiguousSecretError,
    NoVersionsError,
    UnknownAgentError,
    UnknownSecretError,
)
from keybroker.core.models import AuditEvent, Grant, GrantScope, SecretRecord, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.api.conftest import DEMO_URL, OTHER_URL, AgentCards
from tests.api.test_api_client import client, live  # noqa: F401  (fixtures: a real uvicorn server)
from tests.fakes import FakeClock


def scenario(admin: Admin) -> list[object]:
    """Every kind of call, each answer reduced to what does not depend on random ids."""
    seen: list[object] = []
    added = admin.add_agent(DEMO_URL, slug="demo")
    assert isinstance(added, AgentStatus)
    bridged = added.bridged_url.endswith("/demo/")
    seen.append((added.slug, added.name, [d.key for d in added.demands], bridged))
    other = admin.add_agent(OTHER_URL)
    seen.append(other.slug)
    seen.append([a.slug for a in admin.agents()])
    refreshed = admin.refresh_agent("demo")
    assert isinstance(refreshed, AgentRefresh) and isinstance(refreshed.agent, AgentStatus)
    seen.append((refreshed.changed, refreshed.previous_fingerprint == added.fingerprint))

    stored = admin.set_secret("github", SecretValue("v-1"), owner="demo", name="GitHub")
    assert isinstance(stored.record, SecretRecord)
    seen.append((stored.created, stored.record.key, stored.record.owner, stored.record.name))
    again = admin.set_secret("github", SecretValue("v-2"), owner="demo")
    seen.append((again.created, again.record.secret_id == stored.record.secret_id))
    admin.set_secret("github", SecretValue("v-3"))  # a shared one under the same key
    seen.append(sorted((r.key, r.owner or "") for r in admin.secrets()))
    seen.append([r.owner for r in admin.secrets(None)])
    with pytest.raises(AmbiguousSecretError):
        admin.secret(SecretRef.of("github"))
    found = admin.secret(SecretRef.of("github", "demo"))
    seen.append((found.secret_id == stored.record.secret_id, found.owner))
    by_id = admin.secret(SecretRef.of(stored.record.secret_id))
    seen.append(by_id.key)
    updated = admin.update_secret(SecretRef.of("github", "demo"), description="PAT")
    assert isinstance(updated, SecretRecord)
    seen.append(updated.description)
    # Versions need a team vault (tests/vault/openbao); the memory vault says so the same way through both.
    with pytest.raises(NoVersionsError):
        admin.secret_history(SecretRef.of("github", "demo"))
    with pytest.raises(NoVersionsError):
        admin.restore_secret(SecretRef.of("github", "demo"), 1)
    seen.append(admin.sync_teams())

    grants = admin.grants("demo")
    assert all(isinstance(g, Grant) for g in grants)
    seen.append([(g.agent, g.scope) for g in grants])
    revoked = admin.revoke_grant(grants[0].grant_id)
    assert isinstance(revoked, Grant)
    seen.append((revoked.agent, revoked.scope is GrantScope.ALWAYS))
    seen.append(admin.grants())
    seen.append(admin.lock())

    removed = admin.remove_secret(SecretRef.of("github", None))
    seen.append((removed.key, removed.owner))
    with pytest.raises(UnknownSecretError):
        admin.secret(SecretRef.of("github", None))
    removal = admin.remove_agent("demo", purge=True)
    assert isinstance(removal, AgentRemoval)
    seen.append((removal.slug, len(removal.deleted), removal.kept))
    with pytest.raises(UnknownAgentError):
        admin.agent("demo")

    events = admin.audit_events(agent="demo")
    assert all(isinstance(e, AuditEvent) for e in events)
    seen.append([e.decision for e in events])
    report = admin.verify_audit()
    assert isinstance(report, AuditReport)
    seen.append((report.ok, report.count))
    return seen


@pytest.fixture
def local(tmp_path: Path, cards: AgentCards) -> Iterator[LocalAdmin]:
    svc: Services = open_services(
        environ={"KEYBROKER_HOME": str(tmp_path / "local-home")},
        vault=open_vault("memory"),
        clock=FakeClock(),
        fetch=cards,
    )
    try:
        yield LocalAdmin(svc, caller="test", port=lambda: 7411)
    finally:
        svc.close()


def test_the_local_and_the_remote_admin_answer_alike(
    local: LocalAdmin,
    client: ApiClient,  # noqa: F811  (the fixture imported above)
) -> None:
    remote = RemoteAdmin(client)
    assert scenario(local) == scenario(remote)
