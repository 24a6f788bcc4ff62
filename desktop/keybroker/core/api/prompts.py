# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/prompts`: the prompts waiting for the user, so `keybroker send` can say it waits for one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from keybroker.core.api.context import Ctx
from keybroker.core.api.errors import error_responses
from keybroker.core.api.fields import Text
from keybroker.core.api.schemas import PromptOut

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get("/prompts", responses=error_responses([401, 422, 500]))
async def list_prompts(
    ctx: Ctx,
    agent: Annotated[
        Text | None, Query(min_length=1, max_length=128, description="Only this agent's.")
    ] = None,
) -> list[PromptOut]:
    """Prompts waiting for the user, oldest first (read on the loop that owns them: nothing blocks)."""
    pending = ctx.broker.pending_prompts if ctx.broker is not None else ()
    return [
        PromptOut(
            prompt_id=request.prompt_id,
            agent=request.agent.slug,
            keys=list(request.keys),
            phase=request.phase,
            created=request.created,
            deadline=request.deadline,
        )
        for request in sorted(pending, key=lambda r: r.created)
        if agent is None or request.agent.slug == agent
    ]
