# SPDX-License-Identifier: Apache-2.0
"""How times, owners, scopes, decisions and audit events read in the settings window (pure functions)."""

from __future__ import annotations

import datetime as dt
import math

from keybroker.core.models import AuditDecision, AuditEvent, Grant, GrantScope, SecretRecord

DECISION_LABELS: dict[AuditDecision, str] = {
    AuditDecision.RELEASED: "Released",
    AuditDecision.DENIED: "Denied",
    AuditDecision.TIMED_OUT: "Timed out",
    AuditDecision.REVOKED: "Revoked",
    AuditDecision.UPDATED: "Updated",
    AuditDecision.CREATED: "Created",
    AuditDecision.DELETED: "Deleted",
    AuditDecision.REVEALED: "Revealed",
    AuditDecision.GRANTED: "Granted",
    AuditDecision.LOCKED: "Locked",
    AuditDecision.AGENT_ADDED: "Agent added",
    AuditDecision.AGENT_REMOVED: "Agent removed",
    AuditDecision.AGENT_CHANGED: "Card changed",
    AuditDecision.PURGED: "Purged",
    AuditDecision.REPAIRED: "Repaired",
    AuditDecision.LISTED: "Keys listed",
    AuditDecision.REFUSED: "Refused by agent",
    AuditDecision.SIGNED_IN: "Signed in",
    AuditDecision.REFRESHED: "Token refreshed",
    AuditDecision.SIGNED_OUT: "Signed out",
    AuditDecision.VAULT_CHANGED: "Vault changed",
}

SCOPE_LABELS: dict[GrantScope, str] = {
    GrantScope.ONCE: "Once",
    GrantScope.TASK: "This task",
    GrantScope.CONVERSATION: "This conversation",
    GrantScope.MINUTES: "Minutes",
    GrantScope.UNTIL_LOCK: "Until lock",
    GrantScope.ALWAYS: "Always",
}


def decision_label(decision: AuditDecision | str) -> str:
    """`agent_added` -> `Agent added`."""
    try:
        return DECISION_LABELS[AuditDecision(decision)]
    except (ValueError, KeyError):  # a decision newer than this table still gets a readable label
        return str(decision).replace("_", " ").capitalize()


def scope_label(scope: GrantScope | str | None) -> str:
    """`until_lock` -> `Until lock`; empty for none."""
    if not scope:
        return ""
    try:
        return SCOPE_LABELS[GrantScope(scope)]
    except ValueError:
        return str(scope).replace("_", " ").capitalize()


def plural(count: int, word: str) -> str:
    """`1 grant`, `3 grants`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def owner_label(owner: str | None) -> str:
    """An owner slug, or `shared`."""
    return "shared" if owner is None else owner


def secret_label(record: SecretRecord) -> str:
    """`GITHUB_TOKEN (shared)`, `GITHUB_TOKEN (agent demo)`, `GITHUB_TOKEN (team ops)`: how confirmations
    name a secret."""
    if record.team is not None:
        return f"{record.key} (team {record.team})"
    return f"{record.key} ({'shared' if record.owner is None else 'agent ' + record.owner})"


def _local(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts).astimezone()


def when(ts: float | None, now: float, *, never: str = "never") -> str:
    """A compact local time: `Today 14:03`, `Yesterday 09:12`, `Nov 21 14:03`, `2024-11-21`."""
    if ts is None or not math.isfinite(ts) or ts <= 0:
        return never
    at, today = _local(ts), _local(now).date()
    if at.date() == today:
        return f"Today {at:%H:%M}"
    if at.date() == today - dt.timedelta(days=1):
        return f"Yesterday {at:%H:%M}"
    if at.year == _local(now).year:
        return f"{at:%b} {at.day} {at:%H:%M}"
    return f"{at:%Y-%m-%d}"


def full_time(ts: float | None) -> str:
    """`2025-11-21 14:03:07 +0100`, for tooltips and details."""
    if ts is None or not math.isfinite(ts) or ts <= 0:
        return ""
    return f"{_local(ts):%Y-%m-%d %H:%M:%S %z}"


def iso_utc(ts: float) -> str:
    """`2025-11-21T13:03:07.123456Z`, for exports."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def duration(seconds: float) -> str:
    """Time left, coarse as it grows: `0:42`, `4:05`, `1 h 05 min`, `2 d 3 h`."""
    s = max(0, math.ceil(seconds))
    if s < 3600:
        return f"{s // 60}:{s % 60:02d}"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def grant_scope_text(grant: Grant) -> str:
    """`Always`, `15 minutes`, `This task`: a grant's scope with its length where it has one."""
    if grant.scope is GrantScope.MINUTES and grant.expires is not None:
        minutes = max(1, round((grant.expires - grant.created) / 60))
        return plural(minutes, "minute")
    return scope_label(grant.scope)


def grant_ends(grant: Grant, now: float) -> str:
    """When a grant ends, as the Grants tab shows it."""
    if grant.scope is GrantScope.MINUTES:
        if grant.expires is None:
            return "ended"
        left = grant.expires - now
        return f"in {duration(left)}" if left > 0 else "ended"
    if grant.scope is GrantScope.TASK and grant.expires is not None:
        left = grant.expires - now
        return f"when the task ends (at the latest in {duration(left)})" if left > 0 else "ended"
    return {
        GrantScope.ONCE: "after one release",
        GrantScope.TASK: "when the task ends",
        GrantScope.CONVERSATION: "when the conversation ends",
        GrantScope.UNTIL_LOCK: "at the next lock",
        GrantScope.ALWAYS: "when revoked",
    }[grant.scope]


def short_id(value: str | None, length: int = 12) -> str:
    """The start of a long id or hash, with an ellipsis."""
    if not value:
        return ""
    return value if len(value) <= length else value[:length] + "…"


def event_tooltip(e: AuditEvent) -> str:
    """An event's detail (or decision), its task and conversation, and the start of its hash."""
    parts = [e.detail or decision_label(e.decision)]
    if e.task_id:
        parts.append(f"task {e.task_id}")
    if e.context_id:
        parts.append(f"conversation {e.context_id}")
    parts.append(f"hash {e.hash[:16]}…")
    return "\n".join(parts)


def event_summary(e: AuditEvent) -> str:
    """One selected event in words: `Released GITHUB_TOKEN · issue-digest · minutes — <detail> · task …`."""
    head = " · ".join(
        p for p in (f"{decision_label(e.decision)} {e.key or ''}".strip(), e.agent, scope_label(e.scope)) if p
    )
    tail = [e.detail] if e.detail else []
    if e.task_id:
        tail.append(f"task {e.task_id}")
    if e.context_id:
        tail.append(f"conversation {e.context_id}")
    return f"{full_time(e.ts)}  {head}" + (f" — {' · '.join(tail)}" if tail else "")
