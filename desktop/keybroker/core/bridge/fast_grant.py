# SPDX-License-Identifier: Apache-2.0
"""The fast path's one call to the broker: demands released on grants, or the full path.

`granted_values` asks a `GrantedRelease` source (the broker) once per request for every demand the
card declares (issue 16; it used to ask `releasable`, then `fulfil`, with a window between them), and
`granted_at_run_time` once per run-time demand (fast_resume.py). An answer of None means some demand
needs a prompt or a rule, and nothing was released or audited: the request (or the run, from that
demand on) goes to the full path. What is released is remembered in the run as the full path's
`BridgeRun.fulfil` and `BridgeRun.answer` do: the run injects it, and cuts it from whatever the agent
answers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from keybroker.core.a2a.demand import SECRETS_EXTENSION_URI
from keybroker.core.bridge.ports import Phase
from keybroker.core.bridge.run import BridgeRun, unaudited
from keybroker.core.bridge.secrets_flow import RuntimeDemand
from keybroker.core.errors import AuditWriteError, KeybrokerError
from keybroker.core.models import SecretDemand, SecretValue

__all__ = ["granted_at_run_time", "granted_values", "inject_granted"]

log = logging.getLogger("keybroker.bridge")


async def granted_values(
    run: BridgeRun, demands: list[SecretDemand], context_id: str | None
) -> dict[str, SecretValue] | None:
    """Values for all of `demands` on grants held now, or None (the full path takes the request).

    Raises the client's A2A error when the broker could not audit a release (nothing released)."""
    granted = await _release(run, demands, "preflight", None, context_id)
    if granted is not None:
        run.state.secrets.injected.update(granted)
    return granted


async def granted_at_run_time(
    run: BridgeRun, demand: RuntimeDemand, asked: list[SecretDemand]
) -> dict[str, SecretValue] | None:
    """Values for all of `asked` (the part of `demand` the run may ask for) on grants held now, recorded
    as `BridgeRun.answer` records them; or None, with nothing released or recorded (the full path asks).

    Raises the client's A2A error when the broker could not audit a release (nothing released)."""
    granted = await _release(run, asked, "runtime", demand.task_id, demand.context_id or None)
    if granted is not None:
        secrets = run.state.secrets
        secrets.answered |= granted.keys()
        secrets.injected.update(granted)
    return granted


async def _release(
    run: BridgeRun,
    demands: list[SecretDemand],
    phase: Phase,
    task_id: str | None,
    context_id: str | None,
) -> dict[str, SecretValue] | None:
    source = run.link.granted
    if source is None:
        return None
    caller = await run.caller()
    try:
        answer = await source.fulfil_if_granted(
            run.link.agent,
            demands,
            phase=phase,
            task_id=task_id,
            context_id=context_id,
            run_id=run.state.run_id,
            caller=caller,
        )
    except AuditWriteError as exc:
        raise unaudited(exc) from None
    except KeybrokerError as exc:  # the full path meets it again and answers the client
        log.warning("agent %r: secrets not fulfilled on the fast path: %s", run.link.slug, exc.message)
        return None
    if answer is None:
        return None
    keys = {d.key for d in demands}
    granted = {k: v for k, v in answer.values.items() if k in keys and isinstance(v, SecretValue)}
    run.remember(granted.values())  # cut from any answer, whatever happens next
    if granted.keys() != keys:
        return None  # not all that was asked (a source breaking its contract): the full path asks
    return granted


def inject_granted(message: dict[str, Any], granted: Mapping[str, SecretValue]) -> None:
    """secrets_flow.inject_fulfilments on a JSON message (fast_path.py): the extension's other members,
    and fulfilments already there, are kept."""
    metadata = message.get("metadata")
    if not isinstance(metadata, dict):
        metadata = message["metadata"] = {}
    payload = metadata.get(SECRETS_EXTENSION_URI)
    if not isinstance(payload, dict):
        payload = metadata[SECRETS_EXTENSION_URI] = {}
    fulfilments = payload.get("secret_fulfillments")
    if not isinstance(fulfilments, dict):
        fulfilments = payload["secret_fulfillments"] = {}
    for key, value in granted.items():
        fulfilments.setdefault(key, {"secret": value.reveal()})
