"""Turning a user's `PromptAnswer` into grants and stored values (the broker's "yes" path).

Rules:
- A value typed into a prompt is stored as the demanding agent's *own* value (owner = that agent), so it
  is never released to another agent without a prompt that names both; a security scheme's value is
  stored bound to that scheme. An own value already stored under
  that key is replaced (same `secret_id`); a shared value is left alone, and the new own value wins over
  it from then on (policy rule 2). Unlike `secrets set --agent`, no automatic ALWAYS grant comes with it:
  the grant carries the scope the user chose (INTERFACES.md "A value typed into a prompt gets the scope
  the user chose").
- "Use the value stored for agent X" is only honoured for one of the item's `offers`.
- Every item allowed gets a grant for the chosen scope, bound to the agent's current card. A ONCE grant is
  spent by the release this prompt answers, so it is audited but never stored.
- A scope the prompt did not offer is narrowed to ONCE; anything malformed declines that item only.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol

from keybroker.core.audit.log import AuditLog
from keybroker.core.broker.grant_rules import MAX_GRANT_MINUTES, make_grant
from keybroker.core.broker.prompts import (
    DEFAULT_MINUTES,
    NewValue,
    PromptAnswer,
    PromptItem,
    PromptRequest,
    SkipItem,
    UseOffered,
)
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.catalog.claims import identity
from keybroker.core.errors import KeybrokerError
from keybroker.core.models import AgentRecord, AuditDecision, Grant, GrantScope, SecretRecord, SecretValue
from keybroker.core.ports import AsyncVault
from keybroker.core.secrets.records import new_grant_id
from keybroker.core.secrets.value_io import AsyncValueIO, check_value
from keybroker.core.secrets.write import write_secret

log = logging.getLogger("keybroker.broker")


@dataclass(frozen=True, slots=True)
class Granted:
    """An item the user allowed: release `secret` on `grant`. `value` is set when the user typed it."""

    secret: SecretRecord
    grant: Grant
    value: SecretValue | None = None


@dataclass(frozen=True, slots=True)
class Declined:
    """An item not released: `decision` (DENIED or TIMED_OUT) and `detail` go into the audit."""

    decision: AuditDecision
    detail: str
    remember: bool = False
    """The user declined (or did not answer): a later demand of this key in the run is declined unasked."""


Outcome = Granted | Declined


@dataclass(frozen=True, slots=True)
class GrantIds:
    """The ids a TASK or CONVERSATION grant is bound to (a placeholder while the run has none yet)."""

    task_id: str | None
    context_id: str | None


class AnswerApplier:
    """Stores typed values and creates grants for an allowing answer; audits `created` and `granted`."""

    def __init__(
        self,
        catalog: Catalog,
        vault: AsyncVault,
        audit: AuditLog,
        on_value_changed: ValueChanged,
    ) -> None:
        self._catalog = catalog
        self._vault = vault
        self._audit = audit
        self._on_value_changed = on_value_changed

    async def apply(self, request: PromptRequest, answer: PromptAnswer, ids: GrantIds) -> dict[str, Outcome]:
        """One outcome per item of `request`, by key."""
        if not answer.allow:
            detail = answer.reason or "declined by the user"
            return {item.key: Declined(AuditDecision.DENIED, detail, remember=True) for item in request.items}
        scope, note = _effective_scope(request, answer, ids)
        if scope == GrantScope.MINUTES and not _minutes_ok(_minutes(answer)):
            detail = f"not granted: minutes must be more than 0 and at most {MAX_GRANT_MINUTES}"
            return {item.key: Declined(AuditDecision.DENIED, detail) for item in request.items}
        outcomes: dict[str, Outcome] = {}
        for item in request.items:
            try:
                outcomes[item.key] = await self._apply_item(request, answer, item, scope, note, ids)
            except KeybrokerError as exc:
                log.warning("prompt %s: %s not granted: %s", request.prompt_id, item.key, exc.message)
                outcomes[item.key] = Declined(AuditDecision.DENIED, f"not granted: {exc.message}")
        return outcomes

    async def _apply_item(
        self,
        request: PromptRequest,
        answer: PromptAnswer,
        item: PromptItem,
        scope: GrantScope,
        note: str | None,
        ids: GrantIds,
    ) -> Outcome:
        choice = answer.choice_for(item)
        value: SecretValue | None = None
        if isinstance(choice, SkipItem):
            return Declined(AuditDecision.DENIED, "declined by the user", remember=True)
        if isinstance(choice, NewValue):
            value = check_value(choice.value)
            secret = await self._store_typed(request, item, value)
            how = "a value typed into the prompt"
        elif isinstance(choice, UseOffered):
            if choice.secret_id not in {r.secret_id for r in item.offers}:
                return Declined(AuditDecision.DENIED, "the chosen value was not one the prompt offered")
            found = self._catalog.find_secret_by_id(choice.secret_id)
            if found is None:
                return Declined(AuditDecision.DENIED, "the chosen value is no longer stored")
            secret = found
            how = f"the value stored for agent {secret.owner}"
        else:
            stored = self._catalog.find_secret_by_id(item.stored.secret_id) if item.stored else None
            if stored is None:
                return Declined(AuditDecision.DENIED, "no value given and none stored")
            secret = stored
            how = "the shared value" if secret.owner is None else "its own stored value"
            if secret.team is not None:
                how = f"team {secret.team}'s value"
        grant = make_grant(
            agent=request.agent,
            secret=secret,
            scope=scope,
            now=self._catalog.clock.now(),
            grant_id=new_grant_id(),
            minutes=_minutes(answer) if scope == GrantScope.MINUTES else None,
            task_id=ids.task_id,
            context_id=ids.context_id,
        )
        if scope != GrantScope.ONCE:
            self._catalog.add_grant(grant)
        detail = f"prompt {request.prompt_id}: {how}"
        self._audit.append(
            AuditDecision.GRANTED,
            agent=request.agent.slug,
            key=item.key,
            secret_id=secret.secret_id,
            scope=scope.value,
            task_id=request.task_id,
            context_id=request.context_id,
            caller=request.caller,
            detail=f"{detail} ({note})" if note else detail,
        )
        return Granted(secret=secret, grant=grant, value=value)

    async def _store_typed(
        self, request: PromptRequest, item: PromptItem, value: SecretValue
    ) -> SecretRecord:
        """Store a typed value as the agent's own, in `write_secret`'s crash-safe order (no owner grant).

        Under the write lock of what it writes (claims.py), so a value stored at the same moment through
        the API or the settings window is replaced rather than raced."""
        agent: AgentRecord = request.agent
        stored = item.stored
        # A scheme's value may be stored under another key: replace that one (same secret_id).
        own_binding = (
            stored is not None
            and item.scheme is not None
            and stored.owner == agent.slug
            and stored.scheme == item.scheme
        )
        locks = [identity(item.key, agent.slug, item.scheme)]
        if own_binding and stored is not None:
            locks.append(identity(stored.key, stored.owner, stored.scheme))
        async with self._catalog.writes.ahold(*locks):
            existing = self._catalog.find_secret(item.key, agent.slug, item.scheme)
            if existing is None and stored is not None and own_binding:
                existing = self._catalog.find_secret_by_id(stored.secret_id)
            # A replaced value keeps its name and description; a new one takes the demand's.
            new = existing is None
            result = await write_secret(
                self._catalog,
                self._audit,
                AsyncValueIO(self._vault),
                item.key,
                value,
                owner=agent.slug,
                owner_grant=False,
                scheme=item.scheme,
                name=(item.name or item.key) if new else None,
                description=(item.description or "") if new else None,
                caller=request.caller,
                detail=f"typed into prompt {request.prompt_id}",
                existing=existing,
                on_value_changed=self._on_value_changed,
            )
        return result.record


class ValueChanged(Protocol):
    """Called with a `secret_id` whose value changed (the broker drops its cached value)."""

    def __call__(self, secret_id: str) -> None: ...


def _effective_scope(
    request: PromptRequest, answer: PromptAnswer, ids: GrantIds
) -> tuple[GrantScope, str | None]:
    scope = answer.scope
    if scope not in request.scopes:
        return GrantScope.ONCE, f"{scope.value} was not offered: granted once"
    if scope == GrantScope.TASK and not ids.task_id:
        return GrantScope.ONCE, "no task id to bind to: granted once"
    if scope == GrantScope.CONVERSATION and not ids.context_id:
        return GrantScope.ONCE, "no conversation id to bind to: granted once"
    return scope, None


def _minutes(answer: PromptAnswer) -> float:
    return DEFAULT_MINUTES if answer.minutes is None else answer.minutes


def _minutes_ok(minutes: float) -> bool:
    return math.isfinite(minutes) and 0 < minutes <= MAX_GRANT_MINUTES
