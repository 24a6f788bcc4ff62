# SPDX-License-Identifier: Apache-2.0
"""`Admin` through a running instance's management API (core/admin/local.py has the local one).

While an instance runs, every change goes through it, so the tray and the CLI never disagree
(INTERFACES.md), and what the CLI reads is what the instance sees. Each answer is read back into the
core's typed records, so a command prints the same thing whichever `Admin` it was given. Values go
in (a `secrets set` forwarded), never out: `--reveal` reads the vault locally (`LocalAdmin.reveal`).
"""

from __future__ import annotations

from keybroker.cli.api_client import ApiClient
from keybroker.core.admin import AgentRefresh, AgentRemoval, SecretHistory, SecretRef
from keybroker.core.agents.status import AgentStatus
from keybroker.core.agents.url import normalise_agent_url
from keybroker.core.audit.log import AuditReport
from keybroker.core.models import AuditEvent, Grant, SecretRecord, SecretValue
from keybroker.core.secrets.store import UNSPECIFIED, Owner
from keybroker.core.secrets.teams import TeamSync
from keybroker.core.secrets.write import StoreResult

__all__ = ["RemoteAdmin"]


def _whose(owners: tuple[Owner, ...]) -> tuple[str | None, bool]:
    """The API's `owner` and `shared` for `owners` (`UNSPECIFIED` alone: neither)."""
    owner = next((o for o in owners if isinstance(o, str)), None)
    return owner, None in owners


class RemoteAdmin:
    """`Admin` over the management API of the instance `api` talks to."""

    def __init__(self, api: ApiClient) -> None:
        self._api = api

    def __repr__(self) -> str:
        return f"RemoteAdmin({self._api!r})"

    # agents ------------------------------------------------------------------------------------

    def agents(self) -> list[AgentStatus]:
        """`GET /agents`."""
        return [AgentStatus.from_json(d) for d in self._api.agents_list()]

    def agent(self, slug: str) -> AgentStatus:
        """`GET /agents/{slug}`."""
        return AgentStatus.from_json(self._api.agent_show(slug))

    def add_agent(
        self,
        url: str,
        *,
        slug: str | None = None,
        require_token: bool = False,
        bridge_port: int | None = None,
    ) -> AgentStatus:
        """`POST /agents`: the instance fetches the card. The URL is checked here first, as `LocalAdmin`
        checks it (the same words for a bad one), and sent without the spaces it forgives."""
        normalise_agent_url(url)
        text = url.strip()
        data = self._api.agent_add(text, slug=slug, require_token=require_token, bridge_port=bridge_port)
        return AgentStatus.from_json(data)

    def set_agent_port(self, slug: str, bridge_port: int | None) -> AgentStatus:
        """`PATCH /agents/{slug}`: the running bridge opens (or closes) the agent's own port."""
        return AgentStatus.from_json(self._api.agent_patch(slug, bridge_port=bridge_port))

    def refresh_agent(self, slug: str) -> AgentRefresh:
        """`POST /agents/{slug}/refresh`."""
        data = self._api.agent_refresh(slug)
        changed, previous = bool(data["changed"]), str(data["previous_fingerprint"])
        return AgentRefresh(AgentStatus.from_json(data), changed, previous)

    def remove_agent(self, slug: str, *, purge: bool = False) -> AgentRemoval:
        """`DELETE /agents/{slug}`."""
        data = self._api.agent_remove(slug, purge=purge)
        return AgentRemoval(str(data["slug"]), tuple(data["secrets_deleted"]), tuple(data["secrets_kept"]))

    # secrets -----------------------------------------------------------------------------------

    def secrets(self, owner: Owner = UNSPECIFIED) -> list[SecretRecord]:
        """`GET /secrets`."""
        slug, shared = _whose((owner,))
        return [SecretRecord.from_json(d) for d in self._api.secrets_list(owner=slug, shared=shared)]

    def secret(self, ref: SecretRef) -> SecretRecord:
        """`GET /secrets/{key_or_id}`."""
        slug, shared = _whose(ref.owners)
        return SecretRecord.from_json(
            self._api.secret_show(ref.key_or_id, owner=slug, shared=shared, scheme=ref.scheme, team=ref.team)
        )

    def set_secret(
        self,
        key: str,
        value: SecretValue,
        *,
        owner: str | None = None,
        scheme: str | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> StoreResult:
        """`PUT /secrets`."""
        data = self._api.secret_set(
            key, value, owner=owner, scheme=scheme, name=name, description=description
        )
        return StoreResult(SecretRecord.from_json(data["secret"]), bool(data["created"]))

    def update_secret(
        self,
        ref: SecretRef,
        *,
        name: str | None = None,
        description: str | None = None,
        value: SecretValue | None = None,
    ) -> SecretRecord:
        """`PATCH /secrets/{key_or_id}`."""
        slug, shared = _whose(ref.owners)
        data = self._api.secret_update(
            ref.key_or_id,
            owner=slug,
            shared=shared,
            scheme=ref.scheme,
            name=name,
            description=description,
            value=value,
        )
        return SecretRecord.from_json(data)

    def remove_secret(self, ref: SecretRef) -> SecretRecord:
        """`DELETE /secrets/{key_or_id}`."""
        slug, shared = _whose(ref.owners)
        return SecretRecord.from_json(
            self._api.secret_remove(ref.key_or_id, owner=slug, shared=shared, scheme=ref.scheme)
        )

    def secret_history(self, ref: SecretRef) -> SecretHistory:
        """`GET /versions/{key_or_id}`."""
        slug, shared = _whose(ref.owners)
        data = self._api.secret_history(
            ref.key_or_id, team=ref.team, owner=slug, shared=shared, scheme=ref.scheme
        )
        return SecretHistory.from_json(data)

    def restore_secret(self, ref: SecretRef, version: int) -> SecretRecord:
        """`POST /versions/{key_or_id}`."""
        slug, shared = _whose(ref.owners)
        data = self._api.secret_restore(
            ref.key_or_id, version, team=ref.team, owner=slug, shared=shared, scheme=ref.scheme
        )
        return SecretRecord.from_json(data)

    def sync_teams(self) -> TeamSync:
        """`POST /teams/sync`."""
        return TeamSync.from_json(self._api.teams_sync())

    # grants ------------------------------------------------------------------------------------

    def grants(self, agent: str | None = None) -> list[Grant]:
        """`GET /grants`."""
        return [Grant.from_json(d) for d in self._api.grants_list(agent=agent)]

    def revoke_grant(self, grant_id: str) -> Grant:
        """`DELETE /grants/{grant_id}`."""
        return Grant.from_json(self._api.grant_revoke(grant_id))

    def lock(self) -> list[str]:
        """`POST /lock`: the instance also drops the values it holds."""
        return [str(g) for g in self._api.lock()["grant_ids"]]

    # audit -------------------------------------------------------------------------------------

    def audit_events(
        self,
        *,
        agent: str | None = None,
        since: float | None = None,
        search: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """`GET /audit`."""
        data = self._api.audit_events(agent=agent, since=since, search=search, limit=limit)
        return [AuditEvent.from_json(d) for d in data]

    def verify_audit(self) -> AuditReport:
        """`GET /audit/verify`."""
        return AuditReport.from_json(self._api.audit_verify())
