"""What an agent demands and whether each demand is satisfied (for `agents show` and the UI).

`AgentStatus` is typed for the code that reads it (the settings window, the tray, the CLI) and turns
into the `agents show --json` / `GET /api/v1/agents/{slug}` shape and back (`to_json`, `from_json`:
the CLI reads a running instance's answers into the same records).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keybroker.core.agents.own_port import own_url
from keybroker.core.agents.schemes import SUPPORTED_SCHEME_KINDS, credential_kind, scheme_supported
from keybroker.core.agents.sign_in_status import sign_in_status
from keybroker.core.broker.grant_rules import grant_is_live
from keybroker.core.broker.policy import candidate_secret, scheme_key
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.catalog.signins import SignInBook
from keybroker.core.models import AgentRecord, Grant, GrantScope, SecretRecord, SecurityScheme

__all__ = [
    "SUPPORTED_SCHEME_KINDS",
    "AgentStatus",
    "DemandStatus",
    "SchemeStatus",
    "agent_bridged_url",
    "agent_status",
    "bridged_url",
    "scheme_summary",
]

_MISSING_DEMAND = "missing: will ask on first use"
_MISSING_SCHEME = "missing: will ask when the agent refuses a request (HTTP 401)"


@dataclass(frozen=True, slots=True)
class DemandStatus:
    """A secret the agent's card demands, and whether it is satisfied."""

    key: str
    name: str
    description: str | None
    status: str
    secret_id: str | None


@dataclass(frozen=True, slots=True)
class SchemeStatus:
    """A security scheme of the agent's card, and whether its credential is at hand."""

    name: str
    kind: str
    location: str | None
    param_name: str | None
    http_scheme: str | None
    summary: str
    status: str
    supported: bool
    satisfied: bool
    secret_id: str | None


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """An agent as `keybroker agents show` describes it: its card, and each demand with its status."""

    slug: str
    name: str
    description: str
    url: str
    card_url: str
    bridged_url: str
    protocol_versions: tuple[str, ...]
    streaming: bool
    require_token: bool
    fingerprint: str
    added: float
    last_seen: float
    demands: tuple[DemandStatus, ...]
    schemes: tuple[SchemeStatus, ...]
    security: tuple[tuple[str, ...], ...]
    #: Its own loopback port (then `bridged_url` is that port's root), or None (issue 18).
    bridge_port: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The `--json` / API shape (lists, not tuples)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["protocol_versions"] = list(self.protocol_versions)
        data["demands"] = [dataclasses.asdict(d) for d in self.demands]
        data["schemes"] = [dataclasses.asdict(s) for s in self.schemes]
        data["security"] = [list(req) for req in self.security]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentStatus:
        """The record `to_json` made (extra keys, such as `changed` after a refresh, are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["protocol_versions"] = tuple(data["protocol_versions"])
        values["demands"] = tuple(DemandStatus(**d) for d in data["demands"])
        values["schemes"] = tuple(SchemeStatus(**s) for s in data["schemes"])
        values["security"] = tuple(tuple(req) for req in data["security"])
        return cls(**values)


def agent_bridged_url(agent: AgentRecord, port: int) -> str:
    """The bridged URL shown for `agent`: its own port's root when it has one, else `bridged_url`."""
    return own_url(agent.bridge_port) if agent.bridge_port is not None else bridged_url(agent.slug, port)


def bridged_url(slug: str, port: int) -> str:
    """Where A2A clients point instead of the agent, as shown everywhere: with a trailing slash.

    The JS SDK's `ClientFactory.createFromUrl` reads `new URL('.well-known/agent-card.json', base)`
    (PROTOCOL pitfall 25): without the slash it would fetch `/agents/.well-known/...`. Python's
    `A2ACardResolver` takes either form; the bridge answers JSON-RPC at both (INTERFACES "Bridge").
    The card's own interface URLs stay without it.
    """
    return f"http://127.0.0.1:{port}/agents/{slug}/"


def scheme_summary(s: SecurityScheme) -> str:
    """`API key in header X-API-Key`, `HTTP bearer (JWT)`, `OAuth 2`..."""
    if s.kind == "apiKey":
        return f"API key in {s.location or '?'} {s.param_name or '?'}"
    if s.kind == "http":
        fmt = f" ({s.bearer_format})" if s.bearer_format else ""
        return f"HTTP {s.http_scheme or '?'}{fmt}"
    return {"oauth2": "OAuth 2", "openIdConnect": "OpenID Connect", "mutualTLS": "mutual TLS"}.get(
        s.kind, s.kind
    )


def _value_status(
    agent: AgentRecord, record: SecretRecord | None, grants: Sequence[Grant], now: float, missing: str
) -> str:
    """`satisfied (own value, always)`, `stored (...); will ask on first use`, or `missing`."""
    if record is None:
        return missing
    live = [
        g
        for g in grants
        if g.secret_id == record.secret_id
        and grant_is_live(g, now, task_id=g.task_id, context_id=g.context_id)
    ]
    fresh = [g for g in live if g.card_fingerprint == agent.fingerprint]
    whose = "own value" if record.owner == agent.slug else "shared value"
    if record.team is not None:
        whose = f"team {record.team}'s value"
    if any(g.scope is GrantScope.ALWAYS for g in fresh):
        return f"satisfied ({whose}, always)"
    if fresh:
        return f"satisfied ({whose}, {fresh[0].scope.value})"
    if live:
        return f"stored ({whose}); card changed since the grant: will ask"
    return f"stored ({whose}); will ask on first use"


def _scheme_status(
    agent: AgentRecord,
    s: SecurityScheme,
    secrets: Sequence[SecretRecord],
    grants: Sequence[Grant],
    now: float,
    signins: SignInBook,
) -> SchemeStatus:
    supported = scheme_supported(s)
    record = None
    kind = credential_kind(s)
    if kind == "value":
        key = scheme_key(agent.slug, s.name, secrets) or s.name
        record = candidate_secret(agent.slug, key, s.name, secrets)
        status = _value_status(agent, record, grants, now, _MISSING_SCHEME)
    elif kind is not None:
        status = sign_in_status(agent.slug, s.name, kind, signins, now)
    else:
        status = "not supported"  # an http scheme other than bearer or basic, an unknown kind
    return SchemeStatus(
        name=s.name,
        kind=s.kind,
        location=s.location,
        param_name=s.param_name,
        http_scheme=s.http_scheme,
        summary=scheme_summary(s),
        status=status,
        supported=supported,
        satisfied=status.startswith("satisfied"),
        secret_id=record.secret_id if record else None,
    )


def agent_status(agent: AgentRecord, catalog: Catalog, *, port: int, now: float) -> AgentStatus:
    """An agent, its demands and schemes, each with a status."""
    secrets = catalog.list_secrets(key=None)
    grants = catalog.list_grants(agent=agent.slug)
    signins = SignInBook(catalog)
    demands = []
    for d in agent.demands:
        record = candidate_secret(agent.slug, d.key, None, secrets)
        demands.append(
            DemandStatus(
                key=d.key,
                name=d.name,
                description=d.description,
                status=_value_status(agent, record, grants, now, _MISSING_DEMAND),
                secret_id=record.secret_id if record else None,
            )
        )
    return AgentStatus(
        slug=agent.slug,
        name=agent.name,
        description=agent.description,
        url=agent.url,
        card_url=agent.card_url,
        bridged_url=agent_bridged_url(agent, port),
        protocol_versions=agent.protocol_versions,
        streaming=agent.streaming,
        require_token=agent.require_token,
        fingerprint=agent.fingerprint,
        added=agent.added,
        last_seen=agent.last_seen,
        demands=tuple(demands),
        schemes=tuple(_scheme_status(agent, s, secrets, grants, now, signins) for s in agent.schemes),
        security=agent.security,
        bridge_port=agent.bridge_port,
    )
