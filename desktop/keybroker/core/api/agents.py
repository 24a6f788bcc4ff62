# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/agents`: add (fetches the card), list, show, change (its own port), refresh, remove."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from keybroker.core.agents.status import AgentStatus
from keybroker.core.api.context import Ctx, blocking, caller_of, request_port
from keybroker.core.api.errors import Conflict, error_responses
from keybroker.core.api.fields import Text
from keybroker.core.api.schemas import AgentAddIn, AgentOut, AgentPatchIn, AgentRefreshOut, AgentRemovedOut
from keybroker.core.errors import UsageError

__all__ = ["router"]

router = APIRouter(prefix="/agents", tags=["agents"])

SlugPath = Annotated[Text, Path(min_length=1, max_length=128, description="The agent's slug.")]


def _out(agent: AgentStatus) -> AgentOut:
    return AgentOut.model_validate(agent.to_json())


@router.get("", responses=error_responses([401, 500]))
async def list_agents(request: Request, ctx: Ctx) -> list[AgentOut]:
    """Every agent, by slug."""
    admin = ctx.admin(None, request_port(request))
    return await blocking(lambda: [_out(a) for a in admin.agents()])


@router.post("", status_code=201, responses=error_responses([401, 409, 422, 500, 502, 503]))
async def add_agent(body: AgentAddIn, request: Request, ctx: Ctx) -> AgentOut:
    """Fetch the agent's card at `url` and add it (audited)."""
    admin = ctx.admin(await caller_of(request), request_port(request))

    def work() -> AgentOut:
        try:
            agent = admin.add_agent(
                body.url, slug=body.slug, require_token=body.require_token, bridge_port=body.bridge_port
            )
            return _out(agent)
        except UsageError as exc:
            # `add` raises a plain UsageError only for what is taken (the slug, the card's URL, the port).
            if type(exc) is UsageError:
                raise Conflict(exc) from None
            raise

    return await blocking(work)


@router.get("/{slug}", responses=error_responses([401, 404, 422, 500]))
async def get_agent(slug: SlugPath, request: Request, ctx: Ctx) -> AgentOut:
    """One agent in detail."""
    admin = ctx.admin(None, request_port(request))
    return await blocking(lambda: _out(admin.agent(slug)))


@router.patch("/{slug}", responses=error_responses([401, 404, 409, 422, 500, 503]))
async def change_agent(slug: SlugPath, body: AgentPatchIn, request: Request, ctx: Ctx) -> AgentOut:
    """Give the agent a loopback port of its own, or take it away (`bridge_port: null`) (audited)."""
    admin = ctx.admin(await caller_of(request), request_port(request))

    def work() -> AgentOut:
        try:
            return _out(admin.set_agent_port(slug, body.bridge_port))
        except UsageError as exc:
            if type(exc) is UsageError:  # the port is taken (the bridge's, another agent's, a program's)
                raise Conflict(exc) from None
            raise

    return await blocking(work)


@router.post("/{slug}/refresh", responses=error_responses([401, 404, 422, 500, 502, 503]))
async def refresh_agent(slug: SlugPath, request: Request, ctx: Ctx) -> AgentRefreshOut:
    """Re-read the agent's card; a changed card makes its grants ask again (audited)."""
    admin = ctx.admin(await caller_of(request), request_port(request))

    def work() -> AgentRefreshOut:
        result = admin.refresh_agent(slug)
        return AgentRefreshOut(
            **_out(result.agent).model_dump(),
            changed=result.changed,
            previous_fingerprint=result.previous_fingerprint,
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
    admin = ctx.admin(await caller_of(request))
    removal = await blocking(lambda: admin.remove_agent(slug, purge=purge))
    return AgentRemovedOut(
        slug=removal.slug, secrets_deleted=list(removal.deleted), secrets_kept=list(removal.kept)
    )
