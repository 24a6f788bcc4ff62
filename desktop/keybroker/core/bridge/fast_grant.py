# SPDX-License-Identifier: Apache-2.0
"""The fast path's one call to the broker: the card's demands released on grants, or the full path.

`granted_values` asks a `GrantedRelease` source (the broker) once per request for every demand the
card declares (issue 16; it used to ask `releasable`, then `fulfil`, with a window between them). An
answer of None means some demand needs a prompt or a rule, and nothing was released or audited: the
request goes to the full path. What is released is remembered in the run as the full path's
`BridgeRun.fulfil` does: the run injects it, and cuts it from whatever the agent answers.
"""

from __future__ import annotations

import logging

from keybroker.core.bridge.ports import GrantedRelease
from keybroker.core.bridge.run import BridgeRun, unaudited
from keybroker.core.errors import AuditWriteError, KeybrokerError
from keybroker.core.models import SecretDemand, SecretValue

__all__ = ["granted_values"]

log = logging.getLogger("keybroker.bridge")


async def granted_values(
    run: BridgeRun, demands: list[SecretDemand], context_id: str | None
) -> dict[str, SecretValue] | None:
    """Values for all of `demands` on grants held now, or None (the full path takes the request).

    Raises the client's A2A error when the broker could not audit a release (nothing released)."""
    source = run.link.secrets
    if not isinstance(source, GrantedRelease):
        return None
    caller = await run.caller()
    try:
        answer = await source.fulfil_if_granted(
            run.link.agent,
            demands,
            phase="preflight",
            task_id=None,
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
    run.state.secrets.injected.update(granted)
    return granted
