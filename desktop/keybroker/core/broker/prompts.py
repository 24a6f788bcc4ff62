"""The prompt seam: what the broker asks the user, what the user answers, and who asks (DESIGN §2, §5).

The broker builds one `PromptRequest` per run that needs the user (every demand of that run in it) and
awaits a `Prompter` (core/ports.py): the Qt dialog in the app, the terminal in `serve --headless`, a
scripted one in tests.
The broker, not the prompter, owns the deadline: it cancels `ask` when the time is up, so a prompter
closes its dialog on `CancelledError` and never enforces a timeout of its own.

An answer allows or declines the whole request; when it allows, it gives one scope for every item and,
per item (by key), which value to release: the stored one, one stored for another agent (by secret_id,
only one of the item's `offers`), a new value the user typed, or none. Values travel as `SecretValue`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol, TypeAlias, runtime_checkable

from keybroker.core.models import AgentRecord, GrantScope, SecretRecord, SecretValue

Phase: TypeAlias = Literal["preflight", "runtime"]

#: Scopes in the order a chooser lists them.
SCOPE_ORDER: tuple[GrantScope, ...] = (
    GrantScope.ONCE,
    GrantScope.TASK,
    GrantScope.CONVERSATION,
    GrantScope.MINUTES,
    GrantScope.UNTIL_LOCK,
    GrantScope.ALWAYS,
)

#: Minutes a MINUTES answer lasts when it names no number.
DEFAULT_MINUTES = 15.0


# What the user is asked ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PromptItem:
    """One demanded secret in a prompt.

    `stored` is what a plain "allow" releases: the agent's own value, else the shared one, else None
    (the user must type a value or pick an offer). `offers` are values stored for *other* agents under the
    same key: the prompt names both agents when it offers one (`SecretRecord.owner` is the other agent).
    `reason` is the policy's sentence saying why the user is asked. `scheme` names the card security
    scheme the value answers (an API key or bearer token the bridge sends itself); a typed value is
    stored bound to it.
    """

    key: str
    name: str
    description: str | None
    reason: str
    stored: SecretRecord | None = None
    offers: tuple[SecretRecord, ...] = ()
    card_changed: bool = False
    scheme: str | None = None


@dataclass(frozen=True, slots=True)
class ModelOption:
    """A model that may answer a model demand (issue 14; core/llm/matching.py ranks them)."""

    provider: str
    model: str
    identifier: str
    handover_allowed: bool
    matched: str | None = None
    """The agent's suggestion it matches, None for any other configured model."""

    @property
    def label(self) -> str:
        """`provider/model` as a picker shows it."""
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class ModelItem:
    """One model demand in a prompt (Agent Stack LLM or embedding extension): pick a model.

    `ref` is `llm:<name>` or `embedding:<name>`; `options` hold every configured model, the best
    match for the agent's `suggested` identifiers first (what a plain "allow" picks).
    """

    ref: str
    kind: str
    name: str
    description: str | None
    suggested: tuple[str, ...]
    options: tuple[ModelOption, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class PromptRequest:
    """Everything a prompt shows: who asks, for what, in which task, and until when."""

    prompt_id: str
    agent: AgentRecord
    items: tuple[PromptItem, ...]
    phase: Phase
    """`preflight`: before the message is forwarded; `runtime`: the agent asked during its task."""
    task_id: str | None = None
    context_id: str | None = None
    run_id: str | None = None
    caller: str | None = None
    """The calling process where the OS tells, e.g. "pid 1234 (python3)"."""
    first_contact: bool = False
    """No value was ever released to this agent and it holds no grant: a new agent."""
    card_changed: bool = False
    """A grant exists but was given for another version of the agent's card."""
    scopes: tuple[GrantScope, ...] = SCOPE_ORDER
    """The scopes the answer may choose (TASK / CONVERSATION only when the run has such an id)."""
    default_scope: GrantScope = GrantScope.ONCE
    models: tuple[ModelItem, ...] = ()
    """Model demands (issue 14); a prompt for models alone has no `items`."""
    created: float = 0.0
    deadline: float = 0.0
    """Clock time when the broker withdraws the prompt and declines."""
    timeout: float = 0.0
    """Seconds between `created` and `deadline`."""

    @property
    def keys(self) -> tuple[str, ...]:
        """The demanded keys, in prompt order."""
        return tuple(item.key for item in self.items)

    def item(self, key: str) -> PromptItem:
        """The item for `key`; KeyError when the prompt has none."""
        for item in self.items:
            if item.key == key:
                return item
        raise KeyError(key)


# What the user answers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UseStored:
    """Release the item's `stored` value."""


@dataclass(frozen=True, slots=True)
class UseOffered:
    """Release the value stored for another agent (one of the item's `offers`, by id)."""

    secret_id: str


@dataclass(frozen=True, slots=True)
class NewValue:
    """A value the user typed: stored as the demanding agent's own value, then released."""

    value: SecretValue


@dataclass(frozen=True, slots=True)
class SkipItem:
    """Release nothing for this item, although the answer allows the others."""


ItemChoice: TypeAlias = UseStored | UseOffered | NewValue | SkipItem


@dataclass(frozen=True, slots=True)
class ModelPick:
    """The model chosen for a `ModelItem`; `handover` gives the agent the provider's real key."""

    provider: str
    model: str
    handover: bool = False


ModelChoice: TypeAlias = ModelPick | SkipItem


def _frozen(choices: Mapping[str, ItemChoice]) -> Mapping[str, ItemChoice]:
    return MappingProxyType(dict(choices))


@dataclass(frozen=True, slots=True)
class PromptAnswer:
    """The user's answer to one `PromptRequest`.

    `choices` maps a key to its `ItemChoice`; a key left out means `UseStored` when the item has a stored
    value and `SkipItem` otherwise. `minutes` only counts for `GrantScope.MINUTES`. `reason` says why a
    declining answer declined without the user (e.g. "no terminal to ask on"); it goes into the audit.
    """

    allow: bool
    scope: GrantScope = GrantScope.ONCE
    minutes: float | None = None
    choices: Mapping[str, ItemChoice] = field(default_factory=dict)
    reason: str | None = None
    models: Mapping[str, ModelChoice] = field(default_factory=dict)
    """Per `ModelItem.ref`; a ref left out takes the item's first option, through the gateway."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", GrantScope(self.scope))
        object.__setattr__(self, "choices", _frozen(self.choices))
        object.__setattr__(self, "models", MappingProxyType(dict(self.models)))

    @classmethod
    def deny(cls, reason: str | None = None) -> PromptAnswer:
        """Decline every item."""
        return cls(allow=False, reason=reason)

    @classmethod
    def grant(
        cls,
        scope: GrantScope = GrantScope.ONCE,
        choices: Mapping[str, ItemChoice] | None = None,
        *,
        minutes: float | None = None,
        models: Mapping[str, ModelChoice] | None = None,
    ) -> PromptAnswer:
        """Allow, with `scope` for every item and per-key choices (stored values by default)."""
        return cls(allow=True, scope=scope, minutes=minutes, choices=choices or {}, models=models or {})

    def choice_for(self, item: PromptItem) -> ItemChoice:
        """The choice for `item`, with the default filled in."""
        choice = self.choices.get(item.key)
        if choice is not None:
            return choice
        return UseStored() if item.stored is not None else SkipItem()

    def model_for(self, item: ModelItem) -> ModelChoice:
        """The model chosen for `item`: the best match through the gateway unless the answer says."""
        choice = self.models.get(item.ref)
        if choice is not None:
            return choice
        if not item.options:
            return SkipItem()
        return ModelPick(item.options[0].provider, item.options[0].model)


# What a prompter may also want to hear ---------------------------------------------------------------


@runtime_checkable
class WaitersListener(Protocol):
    """A `Prompter` that also shows how many runs wait on a prompt (the dialog: "answers 200 waiting
    requests"): the desk calls it whenever a run joins a prompt already open, or leaves it unanswered."""

    def waiters_changed(self, prompt_id: str, waiters: int) -> None:
        """`waiters` runs now wait on prompt `prompt_id`."""


# A prompter that never asks -----------------------------------------------------------------------


class DecliningPrompter:
    """A `Prompter` that never asks: every prompt is declined with `reason` (e.g. `serve --deny-unknown`).

    Values already granted are still released: only demands that would need the user are declined.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"DecliningPrompter({self.reason!r})"

    async def ask(self, request: PromptRequest) -> PromptAnswer:
        """Decline at once."""
        return PromptAnswer.deny(self.reason)
