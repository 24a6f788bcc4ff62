# SPDX-License-Identifier: Apache-2.0
"""What a user reads and changes: agents, secrets (never their values but by `reveal`), grants, audit.

`Admin` is the one interface of the CLI's commands and the settings window; every method answers the
core's typed records. Two implementations:
- `LocalAdmin` (local.py): over the data home's objects (`Stores` plus the registry and the secret
  store), in this process. The app's settings window, the management API and the CLI without a
  running instance use it;
- `RemoteAdmin` (cli/remote_admin.py): through a running instance's management API, so the tray
  and the CLI never disagree (INTERFACES.md). Its answers are read back into the same records.
After a change, a running broker forgets the values it may hold in memory for the secret
(`BrokerHooks`), so a revoked or replaced value is never released from a cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from keybroker.core.agents.registry import AgentRegistry
from keybroker.core.audit.log import AuditLog, AuditReport
from keybroker.core.broker.grant_book import GrantBook
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.models import AuditEvent, Grant, SecretRecord, SecretValue
from keybroker.core.secrets.store import UNSPECIFIED, Owner, SecretStore
from keybroker.core.secrets.teams import TeamSync
from keybroker.core.secrets.write import StoreResult
from keybroker.core.vault.backend import ValueVersion

if TYPE_CHECKING:  # loaded when an agent is described: `secrets show` stays light (CLI start-up)
    from keybroker.core.agents.status import AgentStatus


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Which secret a user means: a key (of an owner, bound to a scheme) or a secret_id.

    `owners` in order of precedence: a slug, None for the shared ones, `UNSPECIFIED` for any (a key
    held by several owners is then ambiguous).
    """

    key_or_id: str
    owners: tuple[Owner, ...] = (UNSPECIFIED,)
    scheme: str | None = None
    team: str | None = None
    """A team's secret of that team (the CLI's `--team NAME`); `owners` do not count then."""

    @classmethod
    def of(
        cls, key_or_id: str, owner: Owner = UNSPECIFIED, scheme: str | None = None, team: str | None = None
    ) -> SecretRef:
        """One owner (the CLI's `--agent S` / `--shared` / `--team T` / neither)."""
        return cls(key_or_id, (owner,), scheme, team)

    @classmethod
    def to(cls, record: SecretRecord) -> SecretRef:
        """The secret `record` describes, by its id."""
        return cls(record.secret_id, (record.owner,))


@dataclass(frozen=True, slots=True)
class SecretHistory:
    """A secret and the versions the vault keeps of its value, oldest first (never a value)."""

    secret: SecretRecord
    versions: tuple[ValueVersion, ...]

    def to_json(self) -> dict[str, Any]:
        """The `secrets history --json` shape."""
        return {"secret": self.secret.to_json(), "versions": [v.to_json() for v in self.versions]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SecretHistory:
        """The history `to_json` described (the management API's answer)."""
        versions = tuple(ValueVersion(**{k: v[k] for k in ValueVersion.__slots__}) for v in data["versions"])
        return cls(SecretRecord.from_json(data["secret"]), versions)


@dataclass(frozen=True, slots=True)
class AgentRefresh:
    """An agent after its card was read again."""

    agent: AgentStatus
    changed: bool
    previous_fingerprint: str


@dataclass(frozen=True, slots=True)
class AgentRemoval:
    """What removing an agent did to the secrets it owned (secret_ids)."""

    slug: str
    deleted: tuple[str, ...]
    kept: tuple[str, ...]


class Admin(Protocol):
    """Every change a user makes, and what the CLI and the settings window read (module docstring)."""

    # agents
    def agents(self) -> list[AgentStatus]: ...
    def agent(self, slug: str) -> AgentStatus: ...
    def add_agent(
        self,
        url: str,
        *,
        slug: str | None = None,
        require_token: bool = False,
        bridge_port: int | None = None,
    ) -> AgentStatus: ...
    def set_agent_port(self, slug: str, bridge_port: int | None) -> AgentStatus: ...
    def refresh_agent(self, slug: str) -> AgentRefresh: ...
    def remove_agent(self, slug: str, *, purge: bool = False) -> AgentRemoval: ...

    # secrets
    def secrets(self, owner: Owner = UNSPECIFIED) -> list[SecretRecord]: ...
    def secret(self, ref: SecretRef) -> SecretRecord: ...
    def set_secret(
        self,
        key: str,
        value: SecretValue,
        *,
        owner: str | None = None,
        scheme: str | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> StoreResult: ...
    def update_secret(
        self,
        ref: SecretRef,
        *,
        name: str | None = None,
        description: str | None = None,
        value: SecretValue | None = None,
    ) -> SecretRecord: ...
    def remove_secret(self, ref: SecretRef) -> SecretRecord: ...
    def secret_history(self, ref: SecretRef) -> SecretHistory: ...
    def restore_secret(self, ref: SecretRef, version: int) -> SecretRecord: ...
    def sync_teams(self) -> TeamSync: ...

    # grants
    def grants(self, agent: str | None = None) -> list[Grant]: ...
    def revoke_grant(self, grant_id: str) -> Grant: ...
    def lock(self) -> list[str]: ...

    # audit
    def audit_events(
        self,
        *,
        agent: str | None = None,
        since: float | None = None,
        search: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]: ...
    def verify_audit(self) -> AuditReport: ...


class BrokerHooks(Protocol):
    """What a running broker is told about changes (core/broker/broker.py's `Broker` fits)."""

    def forget(self, secret_id: str) -> None:
        """Drop a value held in memory (after an update, a removal or a revoked grant)."""
        ...

    def lock(self, *, caller: str | None = None) -> list[Grant]:
        """End every grant short of *always* and drop every value held in memory."""
        ...


class AdminStores(Protocol):
    """The data home's objects `LocalAdmin` works on (wiring/services.py's `Services` fits)."""

    @property
    def catalog(self) -> Catalog: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def secrets(self) -> SecretStore: ...
    @property
    def agents(self) -> AgentRegistry: ...
    @property
    def grants(self) -> GrantBook: ...


def owners_of(owner: str | None, shared: bool) -> tuple[Owner, ...]:
    """Whose secrets a query means, in order of precedence (the management API's `owner`/`shared`).

    `owner=SLUG`: that agent's; `shared`: the shared ones; both: the agent's own, then the shared ones
    (the broker's rule: an agent's own value wins); neither: any owner.
    """
    owners: list[Owner] = []
    if owner is not None:
        owners.append(owner)
    if shared:
        owners.append(None)
    return tuple(owners) or (UNSPECIFIED,)
