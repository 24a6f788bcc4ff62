"""Values the core passes around. Frozen dataclasses; no I/O, no Qt.

Longer than 300 lines because every part of the core shares these records (model demands too).

A secret's *value* only ever travels inside `SecretValue`, whose repr and str are masked, so a value
that ends up in a log line, an exception or a test failure shows `**********`.
"""

from __future__ import annotations

import dataclasses
import enum
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from keybroker.core.errors import InvalidInputError

MASK = "**********"

_D = TypeVar("_D")


def from_json(cls: type[_D], data: Mapping[str, Any], **convert: Any) -> _D:
    """A record from its `to_json` shape: keys that are not fields are ignored (an API answer may add
    some), `convert[name](value)` turns a JSON value back into the field's type."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in data.items() if k in names}
    for name, to_type in convert.items():
        if values.get(name) is not None:
            values[name] = to_type(values[name])
    return cls(**values)


#: INTERFACES.md: keys are 1-128 characters without control characters; values up to 64 KiB.
MAX_KEY_LENGTH = 128
MAX_VALUE_BYTES = 64 * 1024

#: How a task can end (A2A's terminal states, 0.3 names): a *this task* grant ends with its task.
#: `input-required` and `auth-required` are interruptions, not ends (core/a2a/task_state.py reads
#: either version's spelling).
TERMINAL_TASK_STATES = frozenset({"completed", "failed", "canceled", "rejected"})


class SecretValue:
    """A secret's value. Masked in repr/str; `reveal()` is the only way out."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("SecretValue wraps a str")
        self._value = value

    def reveal(self) -> str:
        """The plain value: call this only where it is written to the wire, the vault or stdout."""
        return self._value

    def __repr__(self) -> str:
        return f"SecretValue('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretValue):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        raise TypeError("SecretValue is not hashable")

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("SecretValue cannot be pickled")

    def __getstate__(self) -> Any:
        # object.__getstate__ (Python 3.11) would hand out the slot's plain value to any caller.
        raise TypeError("SecretValue has no state to hand out")


class GrantScope(enum.StrEnum):
    """How long a user's yes lasts (DESIGN §3). Only ALWAYS survives a restart."""

    ONCE = "once"
    TASK = "task"
    CONVERSATION = "conversation"
    MINUTES = "minutes"
    UNTIL_LOCK = "until_lock"
    ALWAYS = "always"


class AuditDecision(enum.StrEnum):
    """What an audit event records."""

    RELEASED = "released"
    DENIED = "denied"
    TIMED_OUT = "timed_out"
    REVOKED = "revoked"
    UPDATED = "updated"
    CREATED = "created"
    DELETED = "deleted"
    REVEALED = "revealed"
    GRANTED = "granted"
    LOCKED = "locked"
    AGENT_ADDED = "agent_added"
    AGENT_REMOVED = "agent_removed"
    AGENT_CHANGED = "agent_changed"
    PURGED = "purged"
    REPAIRED = "repaired"
    LISTED = "listed"  # secret keys (never values) listed to a caller: the AP secrets API
    REFUSED = "refused"  # the agent refused the credential it was sent (HTTP 401, auth-required)
    SIGNED_IN = "signed_in"  # an OAuth 2 / OIDC sign-in stored tokens for an agent's scheme (issue 13)
    REFRESHED = "refreshed"  # its access token was renewed with a refresh token (or client credentials)
    SIGNED_OUT = "signed_out"  # its tokens were revoked where the server offers it, and forgotten
    VAULT_CHANGED = "vault_changed"  # the values moved to another vault backend (`keybroker vault use`)


@dataclass(frozen=True, slots=True)
class SecretDemand:
    """One Agent Stack secret demand: `secret_demands[key] = {name, description}`.

    `scheme` is set for a card security scheme's credential (an API key, a bearer token): the value
    is then the one bound to that scheme (`secrets set KEY --agent S --scheme NAME`).
    """

    key: str
    name: str
    description: str | None = None
    scheme: str | None = None


@dataclass(frozen=True, slots=True)
class ModelDemand:
    """One Agent Stack model demand (issue 14): `llm_demands[name]` or `embedding_demands[name]`.

    `kind` is "llm" or "embedding"; `suggested` holds LiteLLM-style identifiers (`openai/gpt-4o`).
    """

    kind: str
    name: str
    description: str | None = None
    suggested: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """`llm:default`: how grants, prompts and the audit name the demand."""
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True, slots=True)
class SecurityScheme:
    """One card security scheme, normalised across the 0.3 and 1.0 shapes.

    `kind` is one of apiKey, http, oauth2, openIdConnect, mutualTLS (0.3 names).
    `location` is header|query|cookie for apiKey; `param_name` the header/query/cookie name;
    `http_scheme` e.g. "bearer" for http.
    """

    name: str
    kind: str
    location: str | None = None
    param_name: str | None = None
    http_scheme: str | None = None
    bearer_format: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent the user added, as the catalog keeps it."""

    slug: str
    url: str  # the agent's base URL as the user gave it (normalised)
    card_url: str
    name: str
    description: str
    protocol_versions: tuple[str, ...]
    fingerprint: str  # sha256 hex of the canonical card JSON
    demands: tuple[SecretDemand, ...] = ()
    schemes: tuple[SecurityScheme, ...] = ()
    #: OR of ANDs: each inner tuple lists scheme names that must all be satisfied.
    security: tuple[tuple[str, ...], ...] = ()
    streaming: bool = False
    require_token: bool = False
    added: float = 0.0
    last_seen: float = 0.0
    card_json: str = field(default="{}", repr=False)
    #: A loopback port of its own where the bridge serves this agent at the root (issue 18), or None.
    bridge_port: int | None = None
    #: The card's LLM and embedding demands (Agent Stack service extensions), by kind then name.
    model_demands: tuple[ModelDemand, ...] = ()


@dataclass(frozen=True, slots=True)
class SecretRecord:
    """Everything about a secret except its value."""

    secret_id: str
    key: str
    owner: str | None  # agent slug; None = shared (or a team's, when `team` is set)
    name: str = ""
    description: str = ""
    scheme: str | None = None  # card security scheme this value answers, when bound to one
    created: float = 0.0
    updated: float = 0.0
    last_used: float | None = None
    use_count: int = 0
    team: str | None = None
    """A team's read-only secret from the team vault (owner None): released like a shared value."""

    @property
    def is_team(self) -> bool:
        """Whether this is a team's secret (read-only here, managed in the team vault)."""
        return self.team is not None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SecretRecord:
        """The record `to_json` described (the management API's answers)."""
        return from_json(cls, data)

    def to_json(self) -> dict[str, Any]:
        """The `secrets list --json` shape of INTERFACES.md."""
        return {
            "secret_id": self.secret_id,
            "key": self.key,
            "name": self.name,
            "description": self.description,
            "owner": self.owner,
            "scheme": self.scheme,
            "created": self.created,
            "updated": self.updated,
            "last_used": self.last_used,
            "use_count": self.use_count,
            "team": self.team,
        }


@dataclass(frozen=True, slots=True)
class Grant:
    """A user's permission for one agent to receive one secret, for a scope."""

    grant_id: str
    agent: str  # slug
    secret_id: str
    scope: GrantScope
    created: float
    expires: float | None = None  # MINUTES: absolute time; TASK: a ceiling if its end is never seen
    task_id: str | None = None  # TASK
    context_id: str | None = None  # CONVERSATION
    card_fingerprint: str | None = None  # the agent's card when the grant was given

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Grant:
        """The grant `to_json` described (the management API's answers)."""
        return from_json(cls, data, scope=GrantScope)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view (no values in a grant anyway)."""
        return {
            "grant_id": self.grant_id,
            "agent": self.agent,
            "secret_id": self.secret_id,
            "scope": self.scope.value,
            "created": self.created,
            "expires": self.expires,
            "task_id": self.task_id,
            "context_id": self.context_id,
        }


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One row of the audit log. Never carries a value."""

    seq: int
    ts: float
    decision: AuditDecision
    agent: str | None = None
    key: str | None = None
    secret_id: str | None = None
    scope: str | None = None
    task_id: str | None = None
    context_id: str | None = None
    caller: str | None = None  # "pid 1234 (python3)" where the OS tells
    detail: str | None = None
    prev_hash: str = ""
    hash: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditEvent:
        """The event `to_json` described (the management API's answers)."""
        return from_json(cls, data, decision=AuditDecision)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "decision": self.decision.value,
            "agent": self.agent,
            "key": self.key,
            "secret_id": self.secret_id,
            "scope": self.scope,
            "task_id": self.task_id,
            "context_id": self.context_id,
            "caller": self.caller,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def validate_key(key: object, *, what: str = "key") -> str:
    """INTERFACES.md: a key is 1-128 characters with no control characters."""
    if not isinstance(key, str):
        raise InvalidInputError(f"{what} must be a string")
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidInputError(f"{what} must be 1-{MAX_KEY_LENGTH} characters, got {len(key)}")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in key):
        raise InvalidInputError(f"{what} {key!r} contains a control character")
    return key
