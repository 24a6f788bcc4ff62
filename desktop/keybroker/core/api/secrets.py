# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/secrets`: metadata, and write-only values.

A value may come in (the CLI forwards `secrets set` to a running instance) but never goes out: no
response model has a value field, and there is no reveal over HTTP. `{secret_id}` also accepts a key,
like the CLI: `owner`/`shared`/`scheme` pick among several secrets with the same key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from keybroker.core.api.context import Ctx, blocking, caller_of
from keybroker.core.api.errors import error_responses
from keybroker.core.api.fields import Text
from keybroker.core.api.grants import grant_out
from keybroker.core.api.schemas import (
    SecretDetailOut,
    SecretOut,
    SecretPatchIn,
    SecretPutIn,
    SecretPutOut,
)
from keybroker.core.errors import UnknownSecretError
from keybroker.core.models import SecretRecord, SecretValue
from keybroker.core.secrets.store import UNSPECIFIED, Owner
from keybroker.wiring.services import Services

__all__ = ["router"]

router = APIRouter(prefix="/secrets", tags=["secrets"])

SecretPath = Annotated[
    Text,
    Path(min_length=1, max_length=256, description="A secret_id, or a key (see owner, shared, scheme)."),
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


def owners_of(owner: str | None, shared: bool) -> list[Owner]:
    """Whose secrets a query means, in order of precedence.

    `owner=SLUG`: that agent's; `shared=true`: the shared ones; both: the agent's own, then the shared
    ones (the broker's rule: an agent's own value wins); neither: any owner.
    """
    owners: list[Owner] = []
    if owner is not None:
        owners.append(owner)
    if shared:
        owners.append(None)
    return owners or [UNSPECIFIED]


def _resolve_one(svc: Services, key_or_id: str, owner: Owner, scheme: str | None) -> SecretRecord:
    try:
        return svc.secrets.resolve(key_or_id, owner, scheme)
    except UnknownSecretError:
        by_id = svc.catalog.find_secret_by_id(key_or_id)
        if by_id is not None and by_id.owner == owner and scheme in (None, by_id.scheme):
            return by_id
        raise


def resolve(svc: Services, key_or_id: str, owners: list[Owner], scheme: str | None) -> SecretRecord:
    """Like the CLI: a key (of that owner), or a secret_id (which must then belong to that owner)."""
    first: UnknownSecretError | None = None
    for owner in owners:
        try:
            return _resolve_one(svc, key_or_id, owner, scheme)
        except UnknownSecretError as exc:
            first = first or exc
    assert first is not None
    raise first


def _out(record: SecretRecord) -> SecretOut:
    return SecretOut.model_validate(record.to_json())


def _detail(svc: Services, record: SecretRecord) -> SecretDetailOut:
    grants = [
        grant_out(g, {record.secret_id: record}) for g in svc.grants.live() if g.secret_id == record.secret_id
    ]
    return SecretDetailOut(**_out(record).model_dump(), grants=grants)


@router.get("", responses=error_responses([401, 404, 422, 500]))
async def list_secrets(ctx: Ctx, owner: OwnerQuery = None, shared: SharedQuery = False) -> list[SecretOut]:
    """Every secret's metadata (never a value), optionally of one owner."""
    svc = ctx.services
    owners = owners_of(owner, shared)

    def work() -> list[SecretOut]:
        out: list[SecretOut] = []
        for whose in owners:
            if isinstance(whose, str):
                svc.catalog.get_agent(whose)  # an unknown slug is a 404, not an empty list
            out.extend(_out(r) for r in svc.secrets.list(owner=whose))
        return out

    return await blocking(work)


@router.put(
    "",
    responses={
        201: {"model": SecretPutOut, "description": "Created"},
        **error_responses([401, 404, 422, 500, 503]),
    },
)
async def put_secret(body: SecretPutIn, request: Request, response: Response, ctx: Ctx) -> SecretPutOut:
    """Create or replace a value (200 replaced, keeping its secret_id; 201 created). Audited."""
    svc = ctx.services
    caller = await caller_of(request)
    value = SecretValue(body.value.get_secret_value())

    def work() -> SecretPutOut:
        result = svc.secrets.set(
            body.key,
            value,
            owner=body.owner,
            scheme=body.scheme,
            name=body.name,
            description=body.description,
            caller=caller,
        )
        return SecretPutOut(created=result.created, secret=_out(result.record))

    out = await blocking(work)
    ctx.forget(out.secret.secret_id)
    response.status_code = 201 if out.created else 200
    return out


@router.get("/{secret_id:path}", responses=error_responses([401, 404, 409, 422, 500]))
async def get_secret(
    secret_id: SecretPath,
    ctx: Ctx,
    owner: OwnerQuery = None,
    shared: SharedQuery = False,
    scheme: SchemeQuery = None,
) -> SecretDetailOut:
    """One secret's metadata and live grants (never its value)."""
    svc = ctx.services
    owners = owners_of(owner, shared)
    return await blocking(lambda: _detail(svc, resolve(svc, secret_id, owners, scheme)))


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
    svc = ctx.services
    owners = owners_of(owner, shared)
    caller = await caller_of(request)
    value = SecretValue(body.value.get_secret_value()) if body.value is not None else None
    found: list[str] = []

    def work() -> SecretOut:
        record = resolve(svc, secret_id, owners, scheme)
        found.append(record.secret_id)
        updated = svc.secrets.update(
            record, name=body.name, description=body.description, value=value, caller=caller
        )
        return _out(updated)

    try:
        return await blocking(work)
    finally:
        ctx.forget(*found)


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
    svc = ctx.services
    owners = owners_of(owner, shared)
    caller = await caller_of(request)
    found: list[str] = []

    def work() -> SecretOut:
        record = resolve(svc, secret_id, owners, scheme)
        found.append(record.secret_id)
        svc.secrets.remove(record, caller=caller)
        return _out(record)

    try:
        return await blocking(work)
    finally:
        ctx.forget(*found)
