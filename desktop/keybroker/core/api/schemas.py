# SPDX-License-Identifier: Apache-2.0
"""Request and response bodies of the management API, so `/openapi.json` describes every one.

Longer than 300 lines because it is the API's one catalogue of wire shapes: declarations (two small
body checks aside), read and reviewed side by side; the field types are fields.py's.

A secret's value arrives as `SecretStr` (fields.py): masked in reprs, and part of no response model.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from keybroker.core.api.fields import (
    AgentUrl,
    Description,
    Key,
    Name,
    SchemeName,
    Slug,
    Value,
)
from keybroker.core.models import AuditDecision, GrantScope

__all__ = [
    "AgentAddIn",
    "AgentOut",
    "AgentPatchIn",
    "AgentRefreshOut",
    "AgentRemovedOut",
    "AuditEventOut",
    "AuditReportOut",
    "CountsOut",
    "DemandStatusOut",
    "ErrorBody",
    "ErrorResponse",
    "FieldError",
    "GrantOut",
    "GuardError",
    "LockOut",
    "PromptOut",
    "SchemeStatusOut",
    "SecretDetailOut",
    "SecretKey",
    "SecretKeysListResponse",
    "SecretOut",
    "SecretPatchIn",
    "SecretPutIn",
    "SecretPutOut",
    "SecretRequestBody",
    "StatusOut",
    "VaultOut",
]


class _In(BaseModel):
    """Request bodies: unknown fields are refused, so a typo (`agent` for `owner`) is not ignored;
    types are strict, so `"false"` is not taken for `false` (the schema says boolean)."""

    model_config = ConfigDict(extra="forbid", strict=True)


# Errors ------------------------------------------------------------------------------------------


class FieldError(BaseModel):
    """One invalid field of a request (never its value)."""

    loc: list[str | int] = Field(description="Where: e.g. ['body', 'key'] or ['query', 'limit'].")
    field: str = Field(description="The field's name (the last part of `loc`).")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """What went wrong; `exit_code` is the CLI's exit code for the same error."""

    code: str = Field(description="Machine-readable, e.g. unauthorized, unknown_agent, invalid_input.")
    message: str
    hint: str | None = None
    exit_code: int
    fields: list[FieldError] | None = Field(default=None, description="For invalid_input from validation.")


class ErrorResponse(BaseModel):
    """Every error the API answers."""

    error: ErrorBody


class GuardError(BaseModel):
    """A request the bridge's guard refused before the API saw it (Host, Origin, size, OPTIONS)."""

    error: str = Field(description="e.g. forbidden_host, forbidden_origin, payload_too_large, bad_request.")
    message: str


# Agents ------------------------------------------------------------------------------------------


def _whole(value: object) -> object:
    """`1.0` is an integer to JSON Schema (and so to schemathesis): take it as `1`; strict for the rest."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


PortNumber = Annotated[int, Field(ge=1, le=65535), BeforeValidator(_whole)]


class AgentAddIn(_In):
    """Add an agent: Keybroker fetches its card."""

    url: AgentUrl = Field(description="The agent's base URL or its agent-card.json URL (http or https).")
    slug: Slug | None = Field(default=None, description="The name in bridged URLs (default: from the card).")
    require_token: bool = Field(default=False, description="Callers of the bridged agent need the API token.")
    bridge_port: PortNumber | None = Field(
        default=None, description="A loopback port of its own, where the agent is the root."
    )


class AgentPatchIn(_In):
    """Change an agent: its own loopback port (null: none; it stays under /agents/<slug>/ either way)."""

    bridge_port: PortNumber | None = Field(description="The agent's own port, or null for none.")


class DemandStatusOut(BaseModel):
    """A secret the agent's card demands, and whether it is satisfied."""

    key: str
    name: str
    description: str | None
    status: str
    secret_id: str | None


class SchemeStatusOut(BaseModel):
    """A security scheme of the agent's card."""

    name: str
    kind: str
    location: str | None
    param_name: str | None
    http_scheme: str | None
    summary: str
    status: str
    supported: bool = Field(description="The bridge sends this scheme's credential itself.")
    satisfied: bool = Field(description="A value is stored and granted: it is sent without asking.")
    secret_id: str | None = Field(description="The value bound to this scheme, if one is stored.")


class AgentOut(BaseModel):
    """An agent as `keybroker agents show --json` describes it."""

    slug: str
    name: str
    description: str
    url: str
    card_url: str
    bridged_url: str
    protocol_versions: list[str]
    streaming: bool
    require_token: bool
    fingerprint: str
    added: float
    last_seen: float
    demands: list[DemandStatusOut]
    schemes: list[SchemeStatusOut]
    security: list[list[str]]
    bridge_port: int | None = Field(
        default=None, description="Its own loopback port (then bridged_url is that port's root)."
    )


class AgentRefreshOut(AgentOut):
    """An agent after its card was re-read."""

    changed: bool
    previous_fingerprint: str


class AgentRemovedOut(BaseModel):
    """What removing an agent did."""

    slug: str
    secrets_deleted: list[str] = Field(description="secret_ids of the owned secrets deleted (purge).")
    secrets_kept: list[str] = Field(description="secret_ids of the owned secrets kept (no purge).")


# Secrets -----------------------------------------------------------------------------------------


class SecretOut(BaseModel):
    """Everything about a secret except its value."""

    secret_id: str
    key: str
    name: str
    description: str
    owner: str | None = Field(description="The owning agent's slug; null when shared.")
    scheme: str | None
    created: float
    updated: float
    last_used: float | None
    use_count: int
    team: str | None = Field(
        default=None, description="The team whose read-only secret this is (team vault); null otherwise."
    )


class GrantOut(BaseModel):
    """A live grant: which agent may receive which secret, for how long."""

    grant_id: str
    agent: str
    secret_id: str
    scope: GrantScope
    created: float
    expires: float | None
    task_id: str | None
    context_id: str | None
    key: str | None = Field(description="The secret's key (null if the secret is gone).")
    owner: str | None = Field(description="The secret's owner; null when shared or gone.")


class SecretDetailOut(SecretOut):
    """A secret and its live grants."""

    grants: list[GrantOut]


class SecretPutIn(_In):
    """Create or replace a value (a replaced secret keeps its secret_id)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # owner and shared=true together make no sense: say so in the schema too.
            "not": {
                "required": ["owner", "shared"],
                "properties": {"owner": {"type": "string"}, "shared": {"const": True}},
            }
        },
    )

    key: Key
    value: Value
    owner: Slug | None = Field(default=None, description="The owning agent's slug; omit for a shared secret.")
    shared: bool = Field(default=False, description="Say explicitly that the secret is shared.")
    scheme: SchemeName | None = Field(default=None, description="Bind to this security scheme of the card.")
    name: Name | None = None
    description: Description | None = None

    @model_validator(mode="after")
    def _one_owner(self) -> SecretPutIn:
        if self.shared and self.owner is not None:
            raise ValueError("give either owner or shared, not both")
        return self


class SecretPutOut(BaseModel):
    """What PUT did."""

    created: bool = Field(description="True when a new secret was created, false when replaced.")
    secret: SecretOut


class SecretPatchIn(_In):
    """Change a secret's name, description and/or value (at least one of them)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    # Null is accepted as "not given" but not advertised: the schema says what a useful body is.
    name: Name | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    value: Value | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _something(self) -> SecretPatchIn:
        if self.name is None and self.description is None and self.value is None:
            raise ValueError("nothing to update: give name, description and/or value")
        return self


# Agent Protocol secrets (the RFC's component names) -----------------------------------------------


class SecretKey(BaseModel):
    """A secret of the agent, without its value (Agent Protocol `SecretKey`)."""

    secret_id: str = Field(description="Keybroker's id for the secret; DELETE takes it.")
    secret_key: str = Field(description="The key, e.g. OPENAI_API_KEY.")


class SecretKeysListResponse(BaseModel):
    """The agent's secret keys (Agent Protocol `SecretKeysListResponse`); never a value."""

    secrets: list[SecretKey]


class SecretRequestBody(_In):
    """Add a secret, or replace the value of a key the agent has (Agent Protocol `SecretRequestBody`)."""

    secret_key: Key
    secret_value: Value


# Audit, lock, status -----------------------------------------------------------------------------


class AuditEventOut(BaseModel):
    """One audit event (never a value)."""

    seq: int
    ts: float
    decision: AuditDecision
    agent: str | None
    key: str | None
    secret_id: str | None
    scope: str | None
    task_id: str | None
    context_id: str | None
    caller: str | None
    detail: str | None
    prev_hash: str
    hash: str


class AuditReportOut(BaseModel):
    """The outcome of verifying the audit chain (`ok` false: the CLI exits 7)."""

    ok: bool
    count: int
    head: str
    problems: list[str]
    warnings: list[str]


class LockOut(BaseModel):
    """What locking ended."""

    ended: int
    grant_ids: list[str]


class VaultOut(BaseModel):
    """The vault's backend and state."""

    backend: str
    state: Literal["ok", "locked", "unavailable"]
    message: str
    session_only: bool


class CountsOut(BaseModel):
    """How many of each thing the catalog holds."""

    agents: int
    secrets: int
    grants: int = Field(description="Live grants.")
    audit_events: int


class StatusOut(BaseModel):
    """The running instance."""

    running: bool
    version: str
    pid: int
    port: int | None
    url: str | None
    started: float
    vault: VaultOut
    counts: CountsOut
    pending_prompts: int
    details: dict[str, Any] = Field(
        default_factory=dict, description="Whatever the app adds (tray state...)."
    )


class PromptOut(BaseModel):
    """A prompt waiting for the user: who asks, for which keys, until when (never a value)."""

    prompt_id: str
    agent: str = Field(description="The asking agent's slug.")
    keys: list[str]
    phase: Literal["preflight", "runtime"] = Field(
        description="`preflight`: before the message is forwarded; `runtime`: asked during the task."
    )
    created: float
    deadline: float = Field(description="When the prompt declines by itself (epoch seconds; 0: never).")
