# SPDX-License-Identifier: Apache-2.0
"""The words of the prompt dialog, kept apart from its widgets so they are tested without a screen.

Everything shown comes from agent cards and agents, so it is cleaned (control, bidi and zero-width
characters replaced, length capped) and always shown as plain text, never as Qt rich text: an agent
must not be able to style or link its way into the dialog.
"""

from __future__ import annotations

from keybroker.core.broker.prompts import PromptRequest
from keybroker.core.models import GrantScope, SecretRecord
from keybroker.core.safe_text import one_line

SCOPE_LABELS: dict[GrantScope, str] = {
    GrantScope.ONCE: "Just this once",
    GrantScope.TASK: "This task",
    GrantScope.CONVERSATION: "This conversation",
    GrantScope.MINUTES: "For some minutes",
    GrantScope.UNTIL_LOCK: "Until I lock Keybroker",
    GrantScope.ALWAYS: "Always",
}

_LONG = 300
_ID = 8


def shown(text: object, limit: int = _LONG) -> str:
    """`text` safe to show: control, bidi and zero-width characters replaced by spaces (core/safe_text.py),
    whitespace runs collapsed, length capped with an ellipsis."""
    cleaned = " ".join(one_line(text, replacement=" ").split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def short_id(value: str | None) -> str:
    """A task or context id, shortened for a line of text."""
    if not value:
        return "-"
    value = shown(value)
    return value if len(value) <= _ID + 4 else value[:_ID] + "…"


def headline(request: PromptRequest) -> str:
    """`wants 2 secrets for its task` under the agent's name."""
    count = len(request.items)
    what = "a secret" if count == 1 else f"{count} secrets"
    if request.models:  # issue 14: model demands, alone or beside secrets
        models = "a model" if len(request.models) == 1 else f"{len(request.models)} models"
        what = f"{what} and {models}" if count else models
    when = "before your message is sent" if request.phase == "preflight" else "to continue its task"
    return f"wants {what} {when}"


def task_line(request: PromptRequest) -> str | None:
    """Which task and conversation the values would serve, or None before the agent gave ids."""
    parts = []
    if request.task_id:
        parts.append(f"task {short_id(request.task_id)}")
    if request.context_id:
        parts.append(f"conversation {short_id(request.context_id)}")
    return " · ".join(parts) if parts else None


def full_ids(request: PromptRequest) -> str:
    """Both ids in full, for a tooltip."""
    return f"task: {shown(request.task_id or '-')}\nconversation: {shown(request.context_id or '-')}"


def owner_name(record: SecretRecord) -> str:
    """Whose value a record is: `shared`, `team NAME` or the owning agent's slug."""
    if record.team is not None:
        return f"team {shown(record.team, 64)}"
    return "shared" if record.owner is None else shown(record.owner, 64)


def stored_label(record: SecretRecord, agent_slug: str) -> str:
    """The radio button that releases the stored value."""
    if record.team is not None:
        return f"Use the value of {owner_name(record)} (team vault)"
    if record.owner is None:
        return "Use the shared stored value"
    if record.owner == agent_slug:
        return "Use the value stored for this agent"
    return f"Use the value stored for {owner_name(record)}"


def offer_label(offer: SecretRecord, agent_slug: str) -> str:
    """The radio button that gives another agent's value: both agents named (DESIGN §3)."""
    return f"Use the value stored for {owner_name(offer)} (give it to {shown(agent_slug, 64)} too)"


def countdown(seconds: float) -> str:
    """`Declines in 4:59`, counting down to the broker's deadline."""
    left = max(0, int(seconds + 0.999))
    return f"Declines in {left // 60}:{left % 60:02d}"


def queue_label(position: int, total: int) -> str:
    """`1 of 3 waiting` when several prompts queue, else empty."""
    return f"{position} of {total} waiting" if total > 1 else ""


def waiting_label(count: int) -> str:
    """`Answers 200 waiting requests` when the answer goes to several runs (coalesced), else empty."""
    return f"Answers {count} waiting requests" if count > 1 else ""
