# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/grants` (list, revoke) and `/api/v1/lock`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from keybroker.core.api.context import Ctx, blocking, caller_of
from keybroker.core.api.errors import error_responses
from keybroker.core.api.fields import Text
from keybroker.core.api.schemas import GrantOut, LockOut
from keybroker.core.models import Grant, SecretRecord

__all__ = ["grant_out", "lock_router", "router"]

router = APIRouter(prefix="/grants", tags=["grants"])
lock_router = APIRouter(tags=["grants"])


def grant_out(grant: Grant, records: Mapping[str, SecretRecord]) -> GrantOut:
    """A grant with its secret's key and owner."""
    record = records.get(grant.secret_id)
    return GrantOut(
        **grant.to_json(), key=record.key if record else None, owner=record.owner if record else None
    )


@router.get("", responses=error_responses([401, 404, 422, 500]))
async def list_grants(
    ctx: Ctx,
    agent: Annotated[
        Text | None, Query(min_length=1, max_length=128, description="Only this agent's.")
    ] = None,
) -> list[GrantOut]:
    """Live grants (expired ones are pruned)."""
    admin = ctx.admin(None)

    def work() -> list[GrantOut]:
        live = admin.grants(agent)
        records = {r.secret_id: r for r in admin.secrets()}
        return [grant_out(g, records) for g in live]

    return await blocking(work)


@router.delete("/{grant_id}", responses=error_responses([401, 404, 422, 500, 503]))
async def revoke_grant(
    grant_id: Annotated[Text, Path(min_length=1, max_length=128)], request: Request, ctx: Ctx
) -> GrantOut:
    """End one grant (audited); answers the grant it ended."""
    admin = ctx.admin(await caller_of(request))

    def work() -> GrantOut:
        grant = admin.revoke_grant(grant_id)
        record = admin.find_secret_by_id(grant.secret_id)
        return grant_out(grant, {record.secret_id: record} if record else {})

    return await blocking(work)


@lock_router.post("/lock", responses=error_responses([401, 500, 503]))
async def lock(request: Request, ctx: Ctx) -> LockOut:
    """End every grant short of *always* and drop cached values (audited)."""
    admin = ctx.admin(await caller_of(request))
    # On the loop: a lock is one short catalog write, and the broker drops what it holds at once.
    ended = admin.lock()
    return LockOut(ended=len(ended), grant_ids=ended)
