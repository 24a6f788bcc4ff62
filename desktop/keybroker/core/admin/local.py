# SPDX-License-Identifier: Apache-2.0
"""`LocalAdmin`: the `Admin` interface (port.py) over the data home's objects, in this process.

The app's settings window, the management API and the CLI without a running instance use it. After a
change it tells a running broker to forget the values it may hold for the secret (`BrokerHooks`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from keybroker.core.admin.port import (
    AdminStores,
    AgentRefresh,
    AgentRemoval,
    BrokerHooks,
    SecretHistory,
    SecretRef,
)
from keybroker.core.audit.log import AuditReport
from keybroker.core.errors import UnknownSecretError
from keybroker.core.models import AgentRecord, AuditEvent, Grant, SecretRecord, SecretValue
from keybroker.core.secrets.store import UNSPECIFIED, Owner
from keybroker.core.secrets.teams import TeamSync
from keybroker.core.secrets.write import StoreResult
from keybroker.core.vault.extras import vault_details

if TYPE_CHECKING:  # loaded when an agent is described: `secrets show` stays light (CLI start-up)
    from keybroker.core.agents.status import AgentStatus


class LocalAdmin:
    """`Admin` in this process (see the module docstring); blocking calls, like the stores'."""

    def __init__(
        self,
        stores: AdminStores,
        *,
        caller: str | None,
        port: Callable[[], int],
        broker: BrokerHooks | None = None,
    ) -> None:
        """`caller`: how the audit names whoever acts (`cli pid 1234 (alice)`, `settings window`);
        `port()`: the bridge's port, for the bridged URLs; `broker`: the running one, if any."""
        self._stores = stores
        self._caller = caller
        self._port = port
        self._broker = broker

    def __repr__(self) -> str:
        return f"LocalAdmin(caller={self._caller!r})"

    def with_caller(self, caller: str | None) -> LocalAdmin:
        """The same admin acting for someone else (the management API names each request's caller)."""
        return LocalAdmin(self._stores, caller=caller, port=self._port, broker=self._broker)

    @property
    def now(self) -> float:
        """The catalog's clock (a fake one in tests)."""
        return self._stores.catalog.clock.now()

    # agents ------------------------------------------------------------------------------------

    def _status(self, agent: AgentRecord) -> AgentStatus:
        from keybroker.core.agents.status import agent_status

        return agent_status(agent, self._stores.catalog, port=self._port(), now=self.now)

    def agents(self) -> list[AgentStatus]:
        """Every agent, by slug, each demand with its status."""
        return [self._status(a) for a in self._stores.catalog.list_agents()]

    def agent(self, slug: str) -> AgentStatus:
        """One agent; `UnknownAgentError` (exit 3) for an unknown slug."""
        return self._status(self._stores.catalog.get_agent(slug))

    def add_agent(
        self,
        url: str,
        *,
        slug: str | None = None,
        require_token: bool = False,
        bridge_port: int | None = None,
    ) -> AgentStatus:
        """Fetch the card at `url` and add the agent (audited); `bridge_port`: a loopback port of its own."""
        agent = self._stores.agents.add(
            url,
            slug=slug,
            require_token=require_token,
            bridge_port=bridge_port,
            reserved=(self._port(),),
            caller=self._caller,
        )
        return self._status(agent)

    def set_agent_port(self, slug: str, bridge_port: int | None) -> AgentStatus:
        """Serve the agent on a loopback port of its own as well (None: only under /agents/<slug>/)."""
        agent = self._stores.agents.set_port(slug, bridge_port, reserved=(self._port(),), caller=self._caller)
        return self._status(agent)

    def refresh_agent(self, slug: str) -> AgentRefresh:
        """Read the card again; a changed card makes the agent's grants ask again (audited)."""
        result = self._stores.agents.refresh(slug, caller=self._caller)
        return AgentRefresh(self._status(result.agent), result.changed, result.previous_fingerprint)

    def remove_agent(self, slug: str, *, purge: bool = False) -> AgentRemoval:
        """Remove the agent and its grants; its own secrets too with `purge` (audited)."""
        stores = self._stores
        agent = stores.catalog.get_agent(slug)
        owned = stores.catalog.list_secrets(owner=agent.slug)
        deleted: list[str] = []
        try:
            if purge:
                detail = f"agent {agent.slug} removed with its secrets"
                for record in owned:
                    stores.secrets.remove(record, caller=self._caller, detail=detail)
                    deleted.append(record.secret_id)
            stores.agents.remove(agent.slug, caller=self._caller)
        finally:
            self._forget(*deleted)
        kept = () if purge else tuple(r.secret_id for r in owned)
        return AgentRemoval(agent.slug, tuple(deleted), kept)

    # secrets -----------------------------------------------------------------------------------

    def secrets(self, owner: Owner = UNSPECIFIED) -> list[SecretRecord]:
        """Every secret's record (never a value), or one owner's; an unknown slug is `UnknownAgentError`."""
        if isinstance(owner, str):
            self._stores.catalog.get_agent(owner)
        return self._stores.secrets.list(owner=owner)

    def secret(self, ref: SecretRef) -> SecretRecord:
        """The secret `ref` means (a key of the first owner that has it, or a secret_id of one of them;
        with a team, that team's)."""
        if ref.team is not None:
            return self._stores.secrets.resolve(ref.key_or_id, scheme=ref.scheme, team=ref.team)
        first: UnknownSecretError | None = None
        for owner in ref.owners:
            try:
                return self._resolve_one(ref.key_or_id, owner, ref.scheme)
            except UnknownSecretError as exc:
                first = first or exc
        assert first is not None
        raise first

    def _resolve_one(self, key_or_id: str, owner: Owner, scheme: str | None) -> SecretRecord:
        try:
            return self._stores.secrets.resolve(key_or_id, owner, scheme)
        except UnknownSecretError:
            by_id = self._stores.catalog.find_secret_by_id(key_or_id)
            if by_id is not None and by_id.owner == owner and scheme in (None, by_id.scheme):
                return by_id
            raise

    def find_secret_by_id(self, secret_id: str) -> SecretRecord | None:
        """The (ready) secret with this id, or None."""
        return self._stores.catalog.find_secret_by_id(secret_id)

    def find_secret(self, key: str, owner: str | None, scheme: str | None = None) -> SecretRecord | None:
        """The secret with exactly this key, owner and scheme, or None."""
        return self._stores.catalog.find_secret(key, owner, scheme)

    def reveal(self, ref: SecretRef) -> SecretValue:
        """The value itself, read from the vault (audited `revealed`)."""
        return self._stores.secrets.reveal(self.secret(ref), caller=self._caller)

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
        """Create or replace (keeping the secret_id); an owner's value is released to it without asking."""
        if owner is not None:
            self._stores.catalog.get_agent(owner)
        result = self._stores.secrets.set(
            key, value, owner=owner, scheme=scheme, name=name, description=description, caller=self._caller
        )
        self._forget(result.record.secret_id)
        return result

    def update_secret(
        self,
        ref: SecretRef,
        *,
        name: str | None = None,
        description: str | None = None,
        value: SecretValue | None = None,
    ) -> SecretRecord:
        """Change a secret's name, description and/or value (audited)."""
        record = self.secret(ref)
        try:
            return self._stores.secrets.update(
                record, name=name, description=description, value=value, caller=self._caller
            )
        finally:
            if value is not None:  # a new name or description leaves a held value as good as it was
                self._forget(record.secret_id)

    def remove_secret(self, ref: SecretRef) -> SecretRecord:
        """Delete the value, the record and its grants; answers the record deleted (audited)."""
        record = self.secret(ref)
        try:
            self._stores.secrets.remove(record, caller=self._caller)
        finally:
            self._forget(record.secret_id)
        return record

    def secret_history(self, ref: SecretRef) -> SecretHistory:
        """The versions the vault keeps of the secret's value (a team vault; never a value)."""
        record = self.secret(ref)
        return SecretHistory(record, tuple(self._stores.secrets.history(record)))

    def restore_secret(self, ref: SecretRef, version: int) -> SecretRecord:
        """Make an earlier version the current value (a new version; audited)."""
        record = self.secret(ref)
        try:
            return self._stores.secrets.restore(record, version, caller=self._caller)
        finally:
            self._forget(record.secret_id)

    def vault_details(self) -> dict[str, str]:
        """Where the values are and who Keybroker is there (identity, token expiry), never a token; for a
        team vault this asks the server (blocking). Local only: `keybroker vault show` reads it too."""
        return vault_details(self._stores.secrets.vault)

    def sync_teams(self) -> TeamSync:
        """List the team vault's team secrets again; records follow (audited)."""
        result = self._stores.secrets.sync_teams(caller=self._caller)
        self._forget(*result.removed_ids)
        return result

    # grants ------------------------------------------------------------------------------------

    def grants(self, agent: str | None = None) -> list[Grant]:
        """Live grants (expired ones are pruned), optionally of one agent."""
        if agent is not None:
            self._stores.catalog.get_agent(agent)
        return self._stores.grants.live(agent=agent)

    def stored_grants(self, *, agent: str | None = None, secret_id: str | None = None) -> list[Grant]:
        """Grants as stored, the expired ones not yet pruned: a read only (`grants` prunes)."""
        return self._stores.catalog.list_grants(agent=agent, secret_id=secret_id)

    def revoke_grant(self, grant_id: str) -> Grant:
        """End one grant (audited)."""
        grant = self._stores.grants.revoke(grant_id, caller=self._caller)
        self._forget(grant.secret_id)
        return grant

    def lock(self) -> list[str]:
        """End every grant short of *always* (and drop the broker's values); the grant_ids ended."""
        if self._broker is not None:
            ended = self._broker.lock(caller=self._caller)
        else:
            ended = self._stores.grants.lock(caller=self._caller)
        return [g.grant_id for g in ended]

    # audit -------------------------------------------------------------------------------------

    def audit_events(
        self,
        *,
        agent: str | None = None,
        since: float | None = None,
        search: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Events, oldest first."""
        return self._stores.audit.events(agent=agent, since=since, search=search, limit=limit)

    def verify_audit(self) -> AuditReport:
        """Check the chain and its head."""
        return self._stores.audit.verify()

    def audit_count(self) -> int:
        """How many events the log holds."""
        return self._stores.audit.count()

    def audit_agents(self) -> set[str]:
        """Every agent the log mentions, removed ones included."""
        return self._stores.audit.agents()

    def _forget(self, *secret_ids: str) -> None:
        if self._broker is not None:
            for secret_id in secret_ids:
                self._broker.forget(secret_id)
