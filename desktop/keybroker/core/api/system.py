# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/status`: the running instance, its vault, counts and waiting prompts."""

from __future__ import annotations

import logging
import os
from typing import Any

from fastapi import APIRouter, Request

from keybroker import __version__
from keybroker.core.api.context import ApiContext, Ctx, blocking, request_port
from keybroker.core.api.errors import error_responses
from keybroker.core.api.schemas import CountsOut, StatusOut, VaultOut
from keybroker.system.instance import InstanceInfo, read_instance

__all__ = ["router"]

log = logging.getLogger("keybroker.api")

router = APIRouter(tags=["system"])


def _facts(ctx: ApiContext) -> tuple[VaultOut, CountsOut, InstanceInfo | None]:
    svc = ctx.services
    probe = svc.vault.probe()
    vault = VaultOut(
        backend=probe.backend, state=probe.state, message=probe.message, session_only=svc.vault.is_memory
    )
    events = svc.catalog.query("SELECT count(*) FROM audit")
    counts = CountsOut(
        agents=len(svc.catalog.list_agents()),
        secrets=len(svc.catalog.list_secrets()),
        grants=len(svc.grants.live()),
        audit_events=int(events[0][0]) if events else 0,
    )
    instance = read_instance(svc.paths)
    return vault, counts, instance if instance is not None and instance.pid == os.getpid() else None


def _details(ctx: ApiContext) -> dict[str, Any]:
    if ctx.status is None:
        return {}
    try:
        return {str(k): v for k, v in ctx.status().items()}
    except Exception as exc:  # the app's extra facts must not take the status down
        log.warning("api status: the app's status callback failed (%s)", type(exc).__name__)
        return {"error": "the app's status callback failed"}


@router.get("/status", responses=error_responses([401, 500]))
async def status(request: Request, ctx: Ctx) -> StatusOut:
    """Whether the instance runs (it does: it answered), its pid, port, URL, vault and counts."""
    vault, counts, instance = await blocking(_facts, ctx)
    port = instance.port if instance is not None else request_port(request)
    server = request.scope.get("server")
    host = str(server[0]) if server else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return StatusOut(
        running=True,
        version=__version__,
        pid=os.getpid(),
        port=port,
        url=instance.url if instance is not None else f"http://{host}:{port}",
        started=instance.started if instance is not None else ctx.started,
        vault=vault,
        counts=counts,
        pending_prompts=len(ctx.broker.pending_prompts) if ctx.broker is not None else 0,
        details=_details(ctx),
    )
