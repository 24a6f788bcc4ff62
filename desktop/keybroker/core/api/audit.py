# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/audit`: events, filtered; and the chain check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from keybroker.core.api.context import Ctx, blocking
from keybroker.core.api.errors import error_responses
from keybroker.core.api.fields import Text
from keybroker.core.api.schemas import AuditEventOut, AuditReportOut

__all__ = ["MAX_LIMIT", "router"]

router = APIRouter(prefix="/audit", tags=["audit"])

MAX_LIMIT = 1_000_000


@router.get("", responses=error_responses([401, 422, 500]))
async def list_audit(
    ctx: Ctx,
    agent: Annotated[Text | None, Query(max_length=128, description="Only events of this agent.")] = None,
    since: Annotated[
        float | None, Query(ge=0, allow_inf_nan=False, description="Only events at or after (epoch seconds).")
    ] = None,
    search: Annotated[
        Text | None, Query(max_length=256, description="Only events mentioning this text.")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description="Only the newest N events.")] = None,
) -> list[AuditEventOut]:
    """Audit events, oldest first (never a value)."""
    admin = ctx.admin(None)

    def work() -> list[AuditEventOut]:
        events = admin.audit_events(agent=agent, since=since, search=search, limit=limit)
        return [AuditEventOut.model_validate(e.to_json()) for e in events]

    return await blocking(work)


@router.get("/verify", responses=error_responses([401, 500]))
async def verify_audit(ctx: Ctx) -> AuditReportOut:
    """Check the hash chain and the head kept in the vault; `ok` false means broken (CLI exit 7)."""
    report = await blocking(ctx.admin(None).verify_audit)
    return AuditReportOut.model_validate(report.to_json())
