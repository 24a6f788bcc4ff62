# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/secrets`: metadata, and write-only values.

A value may come in (the CLI forwards `secrets set` to a running instance) but never goes out: no
response model has a value field, and there is no reveal over HTTP. `{secret_id}` also accepts a key,
like the CLI: `owner`/`shared`/`scheme` pick among several secrets with the same key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from keybroker.core.admin import LocalAdmin, SecretRef, owners_of
from keybroker.core.api.context import Ctx, blocking, caller_of
from keybroker.core.api.errors import error_responses
from keybroker.core.api.fields import NO_CONTROL_CHARACTERS, Text, anchored
from keybroker.core.api.grants import grant_out
from keybroker.core.api.schemas import (
    SecretDetailOut,
    SecretOut,
    SecretPatchIn,
    SecretPutIn,
    SecretPutOut,
)
from keybroker.core.models import SecretRecord, SecretValue

__all__ = ["router"]

router = APIRouter(prefix="/secrets", tags=["secrets"])

SecretPath = Annotated[
    Text,
    Path(
        min_length=1,
        max_length=256,
        pattern=NO_CONTROL_CHARACTERS,
        json_schema_extra=anchored(NO_CONTROL_CHARACTERS),
        description="A secret_id, or a key (see owner, shared, scheme).",
    ),
]
OwnerQuery = Annotated[
    Text | None,
    Query(
        min_length=1,
        max_length=128,
        description="The owning agent's slug. With shared=true too: its own secret, else the shared one.",
    ),
]
SharedQuery = Annotated[bool, Query(description="The shared secret(s).")]
SchemeQuery = Annotated[
    Text | None, Query(min_length=1, max_length=128, description="The security scheme the value is bound to.")
]
TeamQuery = Annotated[
    Text | None, Query(min_length=1, max_length=64, description="The team whose read-only secret it is.")
]


def _out(record: SecretRecord) -> SecretOut:
    return SecretOut.model_validate(record.to_json())


def _detail(admin: LocalAdmin, record: SecretRecord) -> SecretDetailOut:
    live = [g for g in admin.grants() if g.secret_id == record.secret_id]
    grants = [grant_out(g, {record.secret_id: record}) for g in live]
    return SecretDetailOut(**_out(record).model_dump(), grants=grants)


@router.get("", responses=error_responses([401, 404, 422, 500]))
async def list_secrets(ctx: Ctx, owner: OwnerQuery = None, shared: SharedQuery = False) -> list[SecretOut]:
    """Every secret's metadata (never a value), optionally of one owner."""
    admin = ctx.admin(None)

    def work() -> list[SecretOut]:
        # An unknown slug is a 404, not an empty list (LocalAdmin.secrets checks).
        return [_out(r) for whose in owners_of(owner, shared) for r in admin.secrets(whose)]

    return await blocking(work)


@router.put(
    "",
    responses={
        201: {"model": SecretPutOut, "description": "Created"},
        **error_responses([401, 404, 409, 422, 500, 503]),
    },
)
async def put_secret(body: SecretPutIn, request: Request, response: Response, ctx: Ctx) -> SecretPutOut:
    """Create or replace a value (200 replaced, keeping its secret_id; 201 created). Audited."""
    admin = ctx.admin(await caller_of(request))
    value = SecretValue(body.value.get_secret_value())

    def work() -> SecretPutOut:
        result = admin.set_secret(
            body.key,
            value,
            owner=body.owner,
            scheme=body.scheme,
            name=body.name,
            description=body.description,
        )
        return SecretPutOut(created=result.created, secret=_out(result.record))

    out = await blocking(work)
    response.status_code = 201 if out.created else 200
    return out


@router.get("/{secret_id:path}", responses=error_responses([401, 404, 409, 422, 500]))
async def get_secret(
    secret_id: SecretPath,
    ctx: Ctx,
    owner: OwnerQuery = None,
    shared: SharedQuery = False,
    scheme: SchemeQuery = None,
    team: TeamQuery = None,
) -> SecretDetailOut:
    """One secret's metadata and live grants (never its value)."""
    admin = ctx.admin(None)
    ref = SecretRef(secret_id, owners_of(owner, shared), scheme, team)
    return await blocking(lambda: _detail(admin, admin.secret(ref)))


@router.patch("/{secret_id:path}", responses=error_responses([401, 404, 409, 422, 500, 503]))
async def update_secret(
    secret_id: SecretPath,
    body: SecretPatchIn,
    request: Request,
    ctx: Ctx,
    owner: OwnerQuery = None,
    shared: SharedQuery = False,
    scheme: SchemeQuery = None,
) -> SecretOut:
    """Change a secret's name, description and/or value (audited)."""
    admin = ctx.admin(await caller_of(request))
    ref = SecretRef(secret_id, owners_of(owner, shared), scheme)
    value = SecretValue(body.value.get_secret_value()) if body.value is not None else None
    updated = await blocking(
        lambda: admin.update_secret(ref, name=body.name, description=body.description, value=value)
    )
    return _out(updated)


@router.delete("/{secret_id:path}", responses=error_responses([401, 404, 409, 422, 500, 503]))
async def delete_secret(
    secret_id: SecretPath,
    request: Request,
    ctx: Ctx,
    owner: OwnerQuery = None,
    shared: SharedQuery = False,
    scheme: SchemeQuery = None,
) -> SecretOut:
    """Delete a secret's value, record and grants; answers the record it deleted (audited)."""
    admin = ctx.admin(await caller_of(request))
    ref = SecretRef(secret_id, owners_of(owner, shared), scheme)
    return _out(await blocking(lambda: admin.remove_secret(ref)))
