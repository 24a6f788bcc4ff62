# SPDX-License-Identifier: Apache-2.0
"""Which `AppEvents.changed` topics an audit event touches.

Every change to secrets, grants and agents is audited, whoever made it (this window, a prompt, the
API, the CLI in another process through the API). The app subscribes once:

    runtime.subscribe(lambda e: [events.changed.emit(t) for t in topics_for_event(e)])

(`AuditLog` calls listeners on the appending thread; a Qt signal emitted there reaches UI-thread
receivers queued.)
"""

from __future__ import annotations

from keybroker.core.models import AuditDecision, AuditEvent

_TOPICS: dict[AuditDecision, tuple[str, ...]] = {
    AuditDecision.RELEASED: ("secrets", "grants", "agents"),  # use count, consumed once-grants
    AuditDecision.DENIED: (),
    AuditDecision.TIMED_OUT: (),
    AuditDecision.REVOKED: ("grants", "agents"),
    AuditDecision.UPDATED: ("secrets",),
    AuditDecision.CREATED: ("secrets", "grants", "agents"),  # an owner grant comes with it
    AuditDecision.DELETED: ("secrets", "grants", "agents"),
    AuditDecision.REVEALED: (),
    AuditDecision.GRANTED: ("grants", "agents"),
    AuditDecision.LOCKED: ("grants", "agents"),
    AuditDecision.AGENT_ADDED: ("agents", "secrets"),
    AuditDecision.AGENT_REMOVED: ("agents", "grants", "secrets"),
    AuditDecision.AGENT_CHANGED: ("agents", "grants"),
    AuditDecision.PURGED: ("agents", "secrets", "grants"),
    AuditDecision.REPAIRED: ("secrets", "grants"),
    AuditDecision.SIGNED_IN: ("agents",),  # a scheme's status (Agents, Sign-ins tabs)
    AuditDecision.REFRESHED: ("agents",),
    AuditDecision.SIGNED_OUT: ("agents",),
    AuditDecision.VAULT_CHANGED: ("secrets",),
}


def topics_for_event(event: AuditEvent) -> tuple[str, ...]:
    """`("secrets", "grants", ..., "audit")`: what to refresh after `event` was appended."""
    return (*_TOPICS.get(event.decision, ("agents", "secrets", "grants")), "audit")
