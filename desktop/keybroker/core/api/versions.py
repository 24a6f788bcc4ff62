# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/versions/{secret}` (a value's versions in a team vault, and restoring one) and
`/api/v1/teams/sync` (list the team vault's team secrets again).

Versions are metadata (number, time, deleted): no value ever goes out. A restore writes the old value
as a new version and is audited like any change. Both are under their own prefix, not `/secrets/...`:
a key may contain `/`, so `/secrets/{key}/history` could not be told from a key ending in `/history`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from keybroker.core.admin import SecretRef, owners_of
from keybroker.core.api.context import Ctx, blocking, caller_of
from keybroker.core.api.errors import error_responses
from keybroker.core.api.fields import NO_CONTROL_CHARACTERS, Text, anchored
from keybroker.core.api.schemas import SecretOut
from keybroker.core.api.secrets import OwnerQuery, SchemeQuery, SharedQuery, TeamQuery
from keybroker.core.models import SecretRecord

__all__ = ["router", "teams_router"]

router = APIRouter(prefix="/versions", tags=["secrets"])
teams_router = APIRouter(prefix="/teams", tags=["secrets"])

SecretPath = Annotated[
    Text,
    Path(
        min_length=1,
        max_length=256,
        pattern=NO_CONTROL_CHARACTERS,
        json_schema_extra=anchored(NO_CONTROL_CHARACTERS),
        description="A secret_id, or a key (see owner, shared, team).",
    ),
]


class VersionOut(BaseModel):
    """One version the team vault keeps of a value (never the value)."""

    version: int
    created: float
    deleted: bool
    destroyed: bool
    current: bool


class HistoryOut(BaseModel):
    """A secret and the versions of its value, oldest first."""

    secret: SecretOut
    versions: list[VersionOut]


def _whole_number(value: object) -> object:
    """JSON's integers: `3` or `3.0`, never `"3"` or `true` (the other request bodies are strict too)."""
    if isinstance(value, bool | str):
        raise ValueError("the version must be a whole number")
    return int(value) if isinstance(value, float) and value.is_integer() else value


class RestoreIn(BaseModel):
    """Which version becomes the current value again."""

    model_config = ConfigDict(extra="forbid")

    version: Annotated[int, BeforeValidator(_whole_number)] = Field(
        ge=1, le=2**31, description="A version number from the history."
    )


class TeamSyncOut(BaseModel):
    """What listing the team secrets again changed (`team/KEY` each), and the teams it could not list."""

    added: list[str]
    removed: list[str]
    problems: list[str]


def _out(record: SecretRecord) -> SecretOut:
    return SecretOut.model_validate(record.to_json())


def _ref(secret: str, owner: str | None, shared: bool, scheme: str | None, team: str | None) -> SecretRef:
    return SecretRef(secret, owners_of(owner, shared), scheme, team)


@router.get("/{secret:path}", responses=error_responses([401, 404, 409, 422, 500, 503]))
async def secret_history(
    secret: SecretPath,
    ctx: Ctx,
    owner: OwnerQuery = None,
    shared: SharedQuery = False,
    scheme: SchemeQuery = None,
    team: TeamQuery = None,
) -> HistoryOut:
    """The versions the team vault keeps of a secret's value (409 when the vault keeps none)."""
    admin = ctx.admin(None)
    history = await blocking(lambda: admin.secret_history(_ref(secret, owner, shared, scheme, team)))
    versions = [VersionOut.model_validate(v.to_json()) for v in history.versions]
    return HistoryOut(secret=_out(history.secret), versions=versions)


@router.post("/{secret:path}", responses=error_responses([401, 404, 409, 422, 500, 503]))
async def restore_version(
    secret: SecretPath,
    body: RestoreIn,
    request: Request,
    ctx: Ctx,
    owner: OwnerQuery = None,
    shared: SharedQuery = False,
    scheme: SchemeQuery = None,
    team: TeamQuery = None,
) -> SecretOut:
    """Make an earlier version the current value (written as a new version; audited)."""
    admin = ctx.admin(await caller_of(request))
    ref = _ref(secret, owner, shared, scheme, team)
    return _out(await blocking(lambda: admin.restore_secret(ref, body.version)))


@teams_router.post("/sync", responses=error_responses([401, 500, 503]))
async def sync_teams(request: Request, ctx: Ctx) -> TeamSyncOut:
    """List the team vault's team secrets again; their records follow (audited)."""
    admin = ctx.admin(await caller_of(request))
    result = await blocking(admin.sync_teams)
    return TeamSyncOut(added=list(result.added), removed=list(result.removed), problems=list(result.problems))
