# SPDX-License-Identifier: Apache-2.0
"""What the settings window asks before it acts: each question names exactly what goes (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QStyle

from keybroker.core.agents.status import AgentStatus
from keybroker.core.models import Grant, SecretRecord
from keybroker.ui.settings.asker import Confirmation
from keybroker.ui.settings.formatting import owner_label, plural, scope_label, secret_label

#: How many keys a question lists before "…".
MAX_KEYS_LISTED = 5


def _keys(records: Sequence[SecretRecord]) -> str:
    shown = ", ".join(r.key for r in records[:MAX_KEYS_LISTED])
    return shown + (", …" if len(records) > MAX_KEYS_LISTED else "")


def reveal_secret(record: SecretRecord, seconds: int) -> Confirmation:
    """Before a value is read from the vault and shown (not destructive, but audited)."""
    return Confirmation(
        title="Reveal a secret",
        text=f"Show the value of {secret_label(record)}?",
        detail=f"It appears in this window for {seconds} seconds. "
        "The audit log records that you revealed it.",
        action="Reveal",
        destructive=False,
    )


def revoke_secret_grants(record: SecretRecord, grants: Sequence[Grant]) -> Confirmation:
    """Before every grant for one secret ends."""
    lines = "\n".join(f"• {g.agent} — {scope_label(g.scope).lower()}" for g in grants)
    return Confirmation(
        title="Revoke access",
        text=f"Revoke {plural(len(grants), 'grant')} for {secret_label(record)}?",
        detail=f"{lines}\n\nThese agents are asked again before they get the value. The value stays stored.",
        action="Revoke",
    )


def delete_secret(record: SecretRecord, grants: Sequence[Grant]) -> Confirmation:
    """Before a value leaves the vault and its record the catalog."""
    ending = f" and the {plural(len(grants), 'grant')} that use it end" if grants else ""
    return Confirmation(
        title="Delete a secret",
        text=f"Delete the secret {secret_label(record)}?",
        detail=f"Its value is removed from the OS vault{ending}. An agent that demands {record.key} "
        "will be asked for a value again. This cannot be undone.",
        action="Delete",
        icon=QStyle.StandardPixmap.SP_TrashIcon,
    )


def remove_agent(agent: AgentStatus, owned: Sequence[SecretRecord], grants: Sequence[Grant]) -> Confirmation:
    """Before an agent goes; a checkbox offers to delete the secrets it owns too."""
    ending = f"Its {plural(len(grants), 'grant')} end and its" if grants else "Its"
    kept = (
        f"\n\nIt owns {plural(len(owned), 'secret')} ({_keys(owned)}): "
        "they stay in the vault unless you tick the box."
        if owned
        else ""
    )
    return Confirmation(
        title="Remove an agent",
        text=f"Remove the agent {agent.name} ({agent.slug})?",
        detail=f"{ending} bridged URL stops answering.{kept}",
        action="Remove",
        icon=QStyle.StandardPixmap.SP_TrashIcon,
        option=f"Also delete its {plural(len(owned), 'secret')} ({_keys(owned)})" if owned else None,
    )


def revoke_grant(grant: Grant, agent_name: str, key: str, owner: str | None) -> Confirmation:
    """Before one grant ends."""
    return Confirmation(
        title="Revoke a grant",
        text=f"Revoke the grant that lets {agent_name} ({grant.agent}) receive {key} ({owner_label(owner)})?",
        detail=f"Scope: {scope_label(grant.scope).lower()}. The agent is asked again before it gets the "
        "value; the value stays stored.",
        action="Revoke",
    )
