# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/agents`: add (fetches the card), list, show, refresh, remove."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from keybroker.core.agents.status import agent_status
from keybroker.core.api.context import Ctx, blocking, caller_of, request_port
from keybroker.core.api.errors import Conflict, error_responses
from keybroker.core.api.fields import Text
from keybroker.core.api.schemas import AgentAddIn, AgentOut, AgentRefreshOut, AgentRemovedOut
from keybroker.core.errors import UsageError
from keybroker.core.models import AgentRecord
from keybroker.wiring.services import Services

__all__ = ["router"]

router = APIRouter(prefix="/agents", tags=["agents"])

SlugPath = Annotated[Text, Path(min_length=1, max_length=128, description="The agent's slug.")]


def describe(svc: Services, agent: AgentRecord, port: int) -> AgentOut:
    """An agent, its demands and schemes, each with its status."""
    return AgentOut.model_validate(agent_status(agent, svc.catalog, port=port, now=svc.catalog.clock.now()))


@router.get("", responses=error_responses([401, 500]))
async def list_agents(request: Request, ctx: Ctx) -> list[AgentOut]:
    """Every agent, by slug."""
    svc, port = ctx.services, request_port(request)
    return await blocking(lambda: [describe(svc, a, port) for a in svc.catalog.list_agents()])


@router.post("", status_code=201, responses=error_responses([401, 409, 422, 500, 502, 503]))
async def add_agent(body: AgentAddIn, request: Request, ctx: Ctx) -> AgentOut:
    """Fetch the agent's card at `url` and add it (audited)."""
    svc, port = ctx.services, request_port(request)
    caller = await caller_of(request)

    def work() -> AgentOut:
        try:
            agent = svc.agents.add(body.url, slug=body.slug, require_token=body.require_token, caller=caller)
        except UsageError as exc:
            # `add` raises a plain UsageError only for "exists already" (the slug, or the card's URL).
            if type(exc) is UsageError:
                raise Conflict(exc) from None
            raise
        return describe(svc, agent, port)

    return await blocking(work)


@router.get("/{slug}", responses=error_responses([401, 404, 422, 500]))
async def get_agent(slug: SlugPath, request: Request, ctx: Ctx) -> AgentOut:
    """One agent in detail."""
    svc, port = ctx.services, request_port(request)
    return await blocking(lambda: describe(svc, svc.catalog.get_agent(slug), port))


@router.post("/{slug}/refresh", responses=error_responses([401, 404, 422, 500, 502, 503]))
async def refresh_agent(slug: SlugPath, request: Request, ctx: Ctx) -> AgentRefreshOut:
    """Re-read the agent's card; a changed card makes its grants ask again (audited)."""
    svc, port = ctx.services, request_port(request)
    caller = await caller_of(request)

    def work() -> AgentRefreshOut:
        result = svc.agents.refresh(slug, caller=caller)
        described = describe(svc, result.agent, port).model_dump()
        return AgentRefreshOut(
            **described, changed=result.changed, previous_fingerprint=result.previous_fingerprint
        )

    return await blocking(work)


@router.delete("/{slug}", responses=error_responses([401, 404, 422, 500, 503]))
async def remove_agent(
    slug: SlugPath,
    request: Request,
    ctx: Ctx,
    purge: Annotated[bool, Query(description="Also delete the secrets the agent owns.")] = False,
) -> AgentRemovedOut:
    """Remove an agent and its grants; its own secrets stay unless `purge` (audited)."""
    svc = ctx.services
    caller = await caller_of(request)
    deleted: list[str] = []

    def work() -> AgentRemovedOut:
        agent = svc.catalog.get_agent(slug)
        owned = svc.catalog.list_secrets(owner=agent.slug)
        if purge:
            for record in owned:
                svc.secrets.remove(record, caller=caller, detail=f"agent {agent.slug} removed with purge")
                deleted.append(record.secret_id)
        svc.agents.remove(agent.slug, caller=caller)
        kept = [] if purge else [r.secret_id for r in owned]
        return AgentRemovedOut(slug=agent.slug, secrets_deleted=list(deleted), secrets_kept=kept)

    try:
        return await blocking(work)
    finally:
        ctx.forget(*deleted)
