"""What a secret record is made of besides its value: its ids and the names it is shown by."""

from __future__ import annotations

import secrets as _random

from keybroker.core.models import AgentRecord, SecretRecord


def new_secret_id() -> str:
    """An opaque, stable id; also the vault account name."""
    return "sec_" + _random.token_hex(10)


def new_grant_id() -> str:
    """An opaque grant id."""
    return "gr_" + _random.token_hex(8)


def owner_label(record: SecretRecord) -> str:
    """Whose secret it is, as messages say it: "shared", "agent 'slug'" or "team 'name'"."""
    if record.team is not None:
        return f"team {record.team!r}"
    return "shared" if record.owner is None else f"agent {record.owner!r}"


def agent_demand_name(agent: AgentRecord | None, key: str) -> str | None:
    """The demand's display name on the agent's card, if it declares this key."""
    for demand in agent.demands if agent else ():
        if demand.key == key:
            return demand.name
    return None


def default_name(key: str, demand_name: str | None) -> str:
    """A new secret's display name: the demand's name on the card, else its key."""
    return demand_name or key
