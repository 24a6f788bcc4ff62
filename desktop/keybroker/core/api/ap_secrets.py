# SPDX-License-Identifier: Apache-2.0
"""The Agent Protocol secrets API of each bridged agent (INTERFACES "Bridge"; Agent Protocol RFC
"Secrets Management", 2024-02-05): a script manages an agent's own secrets through the bridge.

    GET    /agents/{slug}/ap/v1/agent/secrets              listAgentSecretKeys -> SecretKeysListResponse
    POST   /agents/{slug}/ap/v1/agent/secrets              addAgentSecret      -> SecretKey (200)
    DELETE /agents/{slug}/ap/v1/agent/secrets/{secret_id}  deleteAgentSecret   -> 204

Only the agent's *own* plain secrets are listed or touched (`owner` = that agent, bound to no card
scheme; scheme credentials are managed with `secrets set --scheme`). A POST creates or replaces the
value for that key, owned by the agent with its *always* grant, like `secrets set KEY --agent S`.
Every call needs the API token and is audited (`listed`, `created`/`updated`, `deleted`); values
only come in, never go out.

The routes live in the management API app, so the token, the error shape, validation (422 naming
the field, nothing stored) and `/openapi.json` are the same ones. The bridge hands it
`/agents/<slug>/ap/...` through `agent_apps` (`agent_protocol_app` below undoes the bridge's
`root_path`, since these routes match the full path).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from keybroker.core.api.context import Ctx, blocking, caller_of
from keybroker.core.api.errors import error_responses
from keybroker.core.api.fields import Text
from keybroker.core.api.schemas import SecretKey, SecretKeysListResponse, SecretRequestBody
from keybroker.core.errors import UnknownSecretError
from keybroker.core.models import AuditDecision, SecretRecord, SecretValue
from keybroker.wiring.services import Services

__all__ = ["AP_PATH", "EXAMPLE_SECRET_ID", "EXAMPLE_SLUG", "agent_protocol_app", "router"]

#: The paths this router serves, for the token gate (`TokenGate(patterns=...)`).
AP_PATH = re.compile(r"^/agents/[^/]*/ap(?:/|$)")
_DETAIL = "via the Agent Protocol secrets API"

router = APIRouter(prefix="/agents/{slug}/ap/v1/agent/secrets", tags=["agent protocol"])

#: What the schema's examples name (documentation only; any slug and id are accepted).
EXAMPLE_SLUG = "my-agent"
EXAMPLE_SECRET_ID = "sec_0123456789abcdef0123"  # noqa: S105 - an id, not a value

SlugPath = Annotated[
    Text,
    Path(min_length=1, max_length=128, description="The bridged agent's slug.", examples=[EXAMPLE_SLUG]),
]
SecretIdPath = Annotated[
    Text,
    Path(
        min_length=1,
        max_length=256,
        description="A secret_id that listAgentSecretKeys listed.",
        examples=[EXAMPLE_SECRET_ID],
    ),
]


def owned(svc: Services, slug: str) -> list[SecretRecord]:
    """The agent's own plain secrets (an unknown slug raises `UnknownAgentError`: 404)."""
    agent = svc.catalog.get_agent(slug)
    return [r for r in svc.catalog.list_secrets(owner=agent.slug) if r.scheme is None]


def _key(record: SecretRecord) -> SecretKey:
    return SecretKey(secret_id=record.secret_id, secret_key=record.key)


@router.get(
    "",
    operation_id="listAgentSecretKeys",
    summary="Lists all secret keys for an agent.",
    responses=error_responses([401, 404, 422, 500]),
)
async def list_agent_secret_keys(slug: SlugPath, request: Request, ctx: Ctx) -> SecretKeysListResponse:
    """The keys of the secrets this agent owns, never a value (audited `listed`)."""
    svc = ctx.services
    caller = await caller_of(request)

    def work() -> SecretKeysListResponse:
        records = owned(svc, slug)
        detail = f"{len(records)} secret key(s) {_DETAIL}"
        svc.audit.append(AuditDecision.LISTED, agent=slug, caller=caller, detail=detail)
        return SecretKeysListResponse(secrets=[_key(r) for r in records])

    return await blocking(work)


@router.post(
    "",
    operation_id="addAgentSecret",
    summary="Adds a new secret to the agent.",
    responses=error_responses([401, 404, 422, 500, 503]),
)
async def add_agent_secret(slug: SlugPath, body: SecretRequestBody, request: Request, ctx: Ctx) -> SecretKey:
    """Create the agent's secret, or replace its value keeping the secret_id (audited).

    The value is the agent's own, with an *always* grant: the bridge sends it without asking.
    """
    admin = ctx.admin(await caller_of(request))
    value = SecretValue(body.secret_value.get_secret_value())
    record = await blocking(lambda: admin.set_secret(body.secret_key, value, owner=slug).record)
    return _key(record)


@router.delete(
    "/{secret_id}",
    operation_id="deleteAgentSecret",
    summary="Deletes a specified secret from the agent.",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "The secret was deleted."}, **error_responses([401, 404, 422, 500, 503])},
)
async def delete_agent_secret(
    slug: SlugPath, secret_id: SecretIdPath, request: Request, ctx: Ctx
) -> Response:
    """Delete one of the agent's secrets: value, record and grants (audited)."""
    svc = ctx.services
    caller = await caller_of(request)

    def work() -> None:
        record = next((r for r in owned(svc, slug) if r.secret_id == secret_id), None)
        if record is None:
            raise UnknownSecretError(
                f"agent {slug!r} has no secret with id {secret_id!r}",
                hint=f"GET /agents/{slug}/ap/v1/agent/secrets lists its secrets",
            )
        svc.secrets.remove(record, caller=caller, detail=_DETAIL)

    try:
        await blocking(work)
    finally:
        if ctx.broker is not None:
            ctx.broker.forget(secret_id)
    return Response(status_code=204)


def agent_protocol_app(api: ASGIApp) -> ASGIApp:
    """`api` as the bridge's app for `/agents/<slug>/ap/...` (`BridgeApp(agent_apps={"/ap/": ...})`).

    The bridge sets `root_path` to `.../agents/<slug>`; these routes match the full path, so the
    prefix is taken back out of `root_path` before the API sees the request.
    """

    async def entry(scope: Scope, receive: Receive, send: Send) -> None:
        child = dict(scope)
        root: str = child.get("root_path", "")
        cut = root.rfind("/agents/")
        if cut >= 0:
            child["root_path"] = root[:cut]
        await api(child, receive, send)

    return entry
