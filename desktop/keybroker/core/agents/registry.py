"""Agents the user added: fetch and record their cards, notice changes, remove them."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass, replace

from keybroker.core.agents.own_port import check_own_port
from keybroker.core.audit.log import AuditLog
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import InvalidInputError, UsageError
from keybroker.core.models import AgentRecord, AuditDecision
from keybroker.core.ports import CardFetcher, FetchedCardLike

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def validate_slug(slug: str) -> str:
    """Slugs go into URLs: lower-case letters, digits and inner hyphens, at most 64 characters."""
    if not SLUG_RE.fullmatch(slug):
        raise InvalidInputError(
            f"slug {slug!r} is not valid",
            hint="use lower-case letters, digits and hyphens (1-64 characters, no hyphen at either end)",
        )
    return slug


def slug_from_name(name: str) -> str:
    """`Secret Demo Agent!` -> `secret-demo-agent`."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48].strip("-")
    return slug or "agent"


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What `refresh` found."""

    agent: AgentRecord
    changed: bool
    previous_fingerprint: str


def record_from_card(
    fetched: FetchedCardLike,
    *,
    slug: str,
    now: float,
    require_token: bool = False,
    added: float | None = None,
) -> AgentRecord:
    """Everything the catalog keeps about an agent, from its fetched card."""
    card = fetched.parsed
    return AgentRecord(
        slug=slug,
        url=fetched.base_url,
        card_url=fetched.card_url,
        name=card.name,
        description=card.description,
        protocol_versions=card.protocol_versions,
        fingerprint=card.fingerprint,
        demands=card.demands,
        schemes=card.schemes,
        security=card.security,
        streaming=card.streaming,
        require_token=require_token,
        added=now if added is None else added,
        last_seen=now,
        card_json=json.dumps(fetched.data, sort_keys=True, ensure_ascii=False),
        model_demands=getattr(card, "model_demands", ()),
    )


class AgentRegistry:
    """Adds, refreshes and removes agents; every change is audited."""

    def __init__(self, catalog: Catalog, audit: AuditLog, fetch: CardFetcher) -> None:
        self.catalog = catalog
        self.audit = audit
        self._fetch = fetch

    def add(
        self,
        url: str,
        *,
        slug: str | None = None,
        require_token: bool = False,
        bridge_port: int | None = None,
        reserved: Collection[int] = (),
        caller: str | None = None,
    ) -> AgentRecord:
        """Fetch the card at `url` (base or card URL) and record the agent under `slug`.

        `bridge_port`: a loopback port of its own (own_port.py; `reserved`: the bridge's own ports)."""
        if bridge_port is not None:
            check_own_port(bridge_port, slug=slug or "", owners=self._port_owners(), reserved=reserved)
        if slug is not None:
            validate_slug(slug)
            if self.catalog.find_agent(slug) is not None:
                raise UsageError(
                    f"an agent with slug {slug!r} exists already",
                    hint=f"pick another --slug, or `keybroker agents refresh {slug}`",
                )
        fetched = self._fetch(url)
        for existing in self.catalog.list_agents():
            if existing.card_url == fetched.card_url and slug is None:
                raise UsageError(
                    f"this agent is already added as {existing.slug!r}",
                    hint=f"`keybroker agents refresh {existing.slug}` re-reads its card",
                )
        if slug is None:
            slug = self._free_slug(slug_from_name(fetched.parsed.name))
        now = self.catalog.clock.now()
        record = record_from_card(fetched, slug=slug, now=now, require_token=require_token)
        record = replace(record, bridge_port=bridge_port)
        self.catalog.upsert_agent(record)
        self.audit.append(
            AuditDecision.AGENT_ADDED, agent=slug, caller=caller, detail=f"{record.name} at {record.url}"
        )
        return record

    def refresh(self, slug: str, *, caller: str | None = None) -> RefreshResult:
        """Re-read the card; a changed fingerprint is recorded and audited (grants then ask again)."""
        old = self.catalog.get_agent(slug)
        fetched = self._fetch(old.card_url)
        now = self.catalog.clock.now()
        new = record_from_card(fetched, slug=slug, now=now, require_token=old.require_token, added=old.added)
        new = replace(new, bridge_port=old.bridge_port)
        changed = new.fingerprint != old.fingerprint
        if not changed:
            new = replace(old, last_seen=now)
        self.catalog.upsert_agent(new)
        if changed:
            self.audit.append(
                AuditDecision.AGENT_CHANGED,
                agent=slug,
                caller=caller,
                detail=f"card changed: {old.fingerprint[:12]} -> {new.fingerprint[:12]}",
            )
        return RefreshResult(new, changed, old.fingerprint)

    def set_port(
        self, slug: str, port: int | None, *, reserved: Collection[int] = (), caller: str | None = None
    ) -> AgentRecord:
        """Give the agent a loopback port of its own (own_port.py), or take it away (`port` None)."""
        old = self.catalog.get_agent(slug)
        if port is not None:
            check_own_port(port, slug=slug, owners=self._port_owners(), reserved=reserved)
        if port == old.bridge_port:
            return old
        new = replace(old, bridge_port=port)
        self.catalog.upsert_agent(new)
        detail = f"own port {port}" if port is not None else f"own port {old.bridge_port} removed"
        self.audit.append(AuditDecision.AGENT_CHANGED, agent=slug, caller=caller, detail=detail)
        return new

    def _port_owners(self) -> dict[int, str]:
        return {a.bridge_port: a.slug for a in self.catalog.list_agents() if a.bridge_port is not None}

    def remove(self, slug: str, *, caller: str | None = None) -> AgentRecord:
        """Forget an agent and its grants (owned secrets are the caller's business: `--purge`)."""
        agent = self.catalog.get_agent(slug)
        self.catalog.remove_agent(slug)
        self.audit.append(AuditDecision.AGENT_REMOVED, agent=slug, caller=caller, detail=agent.url)
        return agent

    def _free_slug(self, base: str) -> str:
        taken = {a.slug for a in self.catalog.list_agents()}
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"
