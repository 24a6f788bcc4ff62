# SPDX-License-Identifier: Apache-2.0
"""The management API as one ASGI app: `/api/v1/...` and its schema at `/openapi.json`.

    api = create_api(services, broker, token, status=lambda: {"tray": "ready"})
    bridge = BridgeApp(
        lookup, broker, api_token=token, fallback=api, agent_apps={"/ap/": agent_protocol_app(api)}
    )

The routes carry the `/api/v1` prefix themselves and the schema is served at `/openapi.json`, so the
app is mounted at the root: as the bridge's `fallback` (every path outside `/agents/`), or with
Starlette's `Mount("", app=api)`. The Agent Protocol secrets routes (`/agents/{slug}/ap/...`, see
ap_secrets.py) are in this app too, so one schema document describes everything the bridge serves
besides A2A; the bridge routes them here through its `agent_apps` hook. Either way it sits behind
the bridge's `LocalhostGuard` (Host, Origin, OPTIONS, body size), which this app does not repeat;
its refusals are documented on every operation (`guard_responses`). Layers here, outermost first:
`CatchAll` (no traceback ever reaches a client), `TokenGate` (401 before any body is read), then
FastAPI's routing and validation. `/openapi.json` needs no token: it holds no data.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import compile_path

from keybroker import __version__
from keybroker.core.api import agents, ap_secrets, audit, grants, prompts, secrets, signins, system, versions
from keybroker.core.api import models as model_routes
from keybroker.core.api.auth import TokenGate, TokenHolder, require_token
from keybroker.core.api.context import ApiContext
from keybroker.core.api.errors import CatchAll, guard_responses, install_error_handlers
from keybroker.core.api.query_rules import strict_query
from keybroker.core.broker.broker import Broker
from keybroker.core.llm.access import ModelAccess
from keybroker.core.models import SecretValue
from keybroker.core.ports import ProviderClient
from keybroker.wiring.services import Services

if TYPE_CHECKING:
    from keybroker.core.auth.signins import SignIns

__all__ = ["API_PREFIX", "OPENAPI_PATH", "allowed_methods", "create_api", "set_api_token"]

API_PREFIX = "/api/v1"
OPENAPI_PATH = "/openapi.json"

_DESCRIPTION = """\
Keybroker's management API: agents, secrets metadata, grants, audit, lock and status; and, for each
bridged agent, the Agent Protocol secrets API at `/agents/{slug}/ap/v1/agent/secrets`.

Every `/api/v1` and `/agents/{slug}/ap` route needs `Authorization: Bearer <api-token>`
(`keybroker token` prints it).
Values may be written (PUT or PATCH a secret) but are never returned: there is no reveal over HTTP.
Errors are `{"error": {"code", "message", "hint", "exit_code"}}`, where `exit_code` is what the
`keybroker` CLI exits with for the same error.
"""


def _operation_id(route: APIRoute) -> str:
    return route.name


def allowed_methods(
    routers: Iterable[APIRouter], prefix: str
) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """Every path's methods, so a 405 can list them all in `Allow` (Starlette names only the first
    route that matched the path, and FastAPI makes one route per method)."""
    table: dict[str, set[str]] = {}
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                table.setdefault(prefix + route.path, set()).update(route.methods or ())
    return [(compile_path(path)[0], frozenset(methods)) for path, methods in table.items()]


def create_api(
    services: Services,
    broker: Broker | None,
    token: SecretValue,
    *,
    status: Callable[[], Mapping[str, Any]] | None = None,
    models: ModelAccess | None = None,
    provider_client: ProviderClient | None = None,
    sign_ins: SignIns | None = None,
) -> FastAPI:
    """Build the API over the core's objects; it starts no server.

    `broker`: when given, `lock` goes through it and changed or removed values are dropped from its
    cache. `status`: extra JSON-ready facts the app adds to `GET /api/v1/status` under `details`
    (called on the event loop, so it must be quick). `sign_ins`: the running instance's (the bridge's,
    whose prompter shows device codes), for `/auth` sign-ins run on request.
    """
    app = FastAPI(
        title="Keybroker management API",
        version=__version__,
        description=_DESCRIPTION,
        openapi_url=OPENAPI_PATH,
        docs_url=None,  # the HTML docs would load scripts from a CDN; the schema is enough
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        redirect_slashes=False,
        generate_unique_id_function=_operation_id,
    )
    holder = TokenHolder(token)
    app.state.token_holder = holder
    app.state.api_context = ApiContext(
        services=services,
        broker=broker,
        status=status,
        started=time.time(),
        models=models,
        provider_client=provider_client,
        signins=sign_ins,
    )
    install_error_handlers(app)

    # Every route: the token, a strict query string, and the guard's refusals documented.
    checks = [Depends(require_token), Depends(strict_query)]
    api = APIRouter(prefix=API_PREFIX, dependencies=checks, responses=guard_responses())
    routers = (
        system.router,
        prompts.router,
        agents.router,
        secrets.router,
        versions.router,
        versions.teams_router,
        grants.router,
        grants.lock_router,
        audit.router,
        signins.router,  # issue 13
        model_routes.router,  # issue 14
    )
    for router in routers:
        api.include_router(router)
    app.include_router(api)
    # The Agent Protocol secrets API of each bridged agent: same token, errors and schema document.
    app.include_router(ap_secrets.router, dependencies=checks, responses=guard_responses())
    app.state.allowed_methods = [
        *allowed_methods(routers, API_PREFIX),
        *allowed_methods([ap_secrets.router], ""),
    ]

    # add_middleware wraps what is there: the last one added runs first.
    app.add_middleware(TokenGate, holder=holder, prefix="/api/", patterns=(ap_secrets.AP_PATH,))
    app.add_middleware(CatchAll)
    return app


def set_api_token(app: FastAPI, token: SecretValue) -> None:
    """Use a new token (after `keybroker token --rotate`); the old one stops working at once."""
    holder: TokenHolder = app.state.token_holder
    holder.token = token
