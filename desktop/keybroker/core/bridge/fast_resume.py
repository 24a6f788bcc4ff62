# SPDX-License-Identifier: Apache-2.0
"""A run-time demand answered on the fast path: released on grants, the task resumed as JSON.

The agent answered a fast-path send with its task in `auth-required`, asking for secrets (PROTOCOL
§2.1). When this run may still ask for them (`BridgeRun.answerable`: not declined, answered or
fulfilled by the client, the resume bound not reached) and every one is granted now, the broker
releases them in one call (fast_grant.py's `granted_at_run_time`: `fulfil_if_granted`, the group
commit, its change-stamp check, so a revoke in between releases nothing) and `resume_rpc` builds the
request that resumes the task, as JSON in the client's version: the message the full path sends
(secrets_flow.resume_message: same taskId and contextId, one text part, the values under the
extension's `secret_fulfillments`), the client's configuration, blocking. fast_path.py sends it through
the fast hop and cuts the answer as it cuts any other.

The run's records are kept as the full path's `BridgeRun.answer` and `resume` keep them, so when a
later answer asks for something not granted (a prompt), the full path's resume loop
(fast_handover.py) takes the run over where it stands: nothing is asked for or released twice, and the
resume bound counts the resumes of both. Anything else (no demand, a malformed one, nothing the run
may ask for, a prompt needed) returns None: the caller hands the answer over as it did before.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from keybroker.core.a2a.demand import SECRETS_EXTENSION_URI, parse_secret_demands
from keybroker.core.bridge.fast_grant import granted_at_run_time
from keybroker.core.bridge.fast_handover import AUTH_REQUIRED_STATES
from keybroker.core.bridge.run import BridgeRun
from keybroker.core.bridge.secrets_flow import RESUME_TEXT, RuntimeDemand
from keybroker.core.errors import InvalidDemandError
from keybroker.core.models import SecretValue

__all__ = ["json_demand", "resume_demand", "resume_granted", "resume_rpc"]

#: The 1.0 methods a resume may go out as (the client's own: a blocking send or a stream).
_V10 = frozenset({"SendMessage", "SendStreamingMessage"})

#: Where a demand sits, for the (value-free) message of a malformed one.
_WHERE = "status.message.metadata[secrets]"


def json_demand(result: object) -> RuntimeDemand | None:
    """The secret demands of the `auth-required` task a blocking send's JSON result holds (0.3: the
    task; 1.0: `{"task": ...}`), or None. Raises `InvalidDemandError` when they are malformed."""
    if not isinstance(result, dict):
        return None
    task = result.get("task", result)
    if not isinstance(task, dict):
        return None
    status = task.get("status")
    if not isinstance(status, dict) or status.get("state") not in AUTH_REQUIRED_STATES:
        return None
    message = status.get("message")
    metadata = message.get("metadata") if isinstance(message, dict) else None
    if not isinstance(metadata, dict) or SECRETS_EXTENSION_URI not in metadata:
        return None
    task_id, context_id = task.get("id"), task.get("contextId")
    if not isinstance(task_id, str) or not task_id or not isinstance(context_id, str):
        return None
    demands = parse_secret_demands(metadata[SECRETS_EXTENSION_URI], _WHERE)
    return RuntimeDemand(task_id, context_id, demands) if demands else None


def resume_rpc(
    rpc: Mapping[str, Any], demand: RuntimeDemand, granted: Mapping[str, SecretValue]
) -> dict[str, Any]:
    """The JSON-RPC request resuming `demand`'s task with `granted`, in the method and version of the
    client's `rpc` (a send or a stream), keeping the client's configuration."""
    fulfilments = {key: {"secret": value.reveal()} for key, value in granted.items()}
    message: dict[str, Any] = {
        "messageId": str(uuid.uuid4()),
        "taskId": demand.task_id,
        "contextId": demand.context_id,
        "metadata": {SECRETS_EXTENSION_URI: {"secret_fulfillments": fulfilments}},
    }
    params = rpc.get("params")
    configuration = params.get("configuration") if isinstance(params, dict) else None
    configuration = dict(configuration) if isinstance(configuration, dict) else {}
    if rpc.get("method") in _V10:
        message.update(role="ROLE_USER", parts=[{"text": RESUME_TEXT}])
        configuration.pop("returnImmediately", None)  # blocking is 1.0's default
    else:
        message.update(kind="message", role="user", parts=[{"kind": "text", "text": RESUME_TEXT}])
        configuration["blocking"] = True
    resumed: dict[str, Any] = {"message": message}
    if configuration:
        resumed["configuration"] = configuration
    return {"jsonrpc": "2.0", "id": rpc.get("id"), "method": rpc.get("method"), "params": resumed}


async def resume_granted(run: BridgeRun, rpc: Mapping[str, Any], result: object) -> dict[str, Any] | None:
    """The request resuming the task a blocking send's `result` holds, its demand released on grants;
    or None (module docstring). Raises the client's A2A error when a release could not be audited."""
    try:
        demand = json_demand(result)
    except InvalidDemandError:
        return None  # the full path reads it again and words the error (run.py's `_demand_in`)
    return None if demand is None else await resume_demand(run, rpc, demand)


async def resume_demand(
    run: BridgeRun, rpc: Mapping[str, Any], demand: RuntimeDemand
) -> dict[str, Any] | None:
    """The request resuming `demand`'s task, what the run may ask for released on grants held now; or
    None, nothing released (module docstring). Raises the client's A2A error when a release could not
    be audited (nothing released)."""
    asked = run.answerable(demand)
    if not asked:
        return None
    granted = await granted_at_run_time(run, demand, asked)
    if granted is None:
        return None
    run.resuming(demand, granted)
    return resume_rpc(rpc, demand, granted)
