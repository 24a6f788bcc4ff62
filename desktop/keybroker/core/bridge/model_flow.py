# SPDX-License-Identifier: Apache-2.0
"""Model demands in a bridged run (issue 14): the card's LLM and embedding demands fulfilled in the
message that creates a task, as the Agent Stack extensions expect (PROTOCOL §2.3, pitfall 30).

`preflight_models(run, message)` asks the `ModelSource` for the demands the client did not fulfil
itself and writes `metadata[URI] = {"llm_fulfillments": {name: {identifier, api_base, api_key,
api_model}}}` (embedding likewise). Through the gateway (the default) `api_base` is this bridge's
`http://127.0.0.1:<port>/models/<slug>/v1` and `api_key` a token minted for the agent; a handover
gives the provider's own URL and key. Either value is remembered as released, so it is cut from
whatever the agent sends back (cutting.py). Task ends are reported so a task's tokens end with it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from a2a.types import Message
from google.protobuf import json_format  # type: ignore[import-untyped]

from keybroker.core.a2a.model_demand import MODEL_EXTENSIONS, fulfilment_payload
from keybroker.core.bridge.ports import GATEWAY_PREFIX, ModelFulfilment, ModelSource, ReleasedModel
from keybroker.core.bridge.task_trail import task_states
from keybroker.core.errors import AuditWriteError, KeybrokerError
from keybroker.core.models import ModelDemand

if TYPE_CHECKING:
    from keybroker.core.bridge.run import BridgeRun

__all__ = ["client_model_refs", "gateway_base", "inject_models", "preflight_models", "watch_model_tasks"]

log = logging.getLogger("keybroker.bridge")


def gateway_base(port: int, slug: str) -> str:
    """The OpenAI-compatible base URL the gateway serves agent `slug` at."""
    return f"http://127.0.0.1:{port}{GATEWAY_PREFIX}{slug}/v1"


def _payload(message: Message, uri: str) -> Any:
    if not message.HasField("metadata") or uri not in message.metadata.fields:
        return None
    return json_format.MessageToDict(message.metadata.fields[uri])


def client_model_refs(message: Message) -> frozenset[str]:
    """Demand refs the client fulfilled itself in `message` (left as they are)."""
    refs: set[str] = set()
    for kind, (uri, _, member) in MODEL_EXTENSIONS.items():
        payload = _payload(message, uri)
        found = payload.get(member) if isinstance(payload, dict) else None
        if isinstance(found, dict):
            refs |= {f"{kind}:{name}" for name in found if isinstance(name, str)}
    return frozenset(refs)


def _entry(release: ReleasedModel, port: int, slug: str) -> dict[str, str]:
    api_base = gateway_base(port, slug) if release.gateway else (release.api_base or "")
    return {
        "identifier": release.identifier,
        "api_base": api_base,
        "api_key": release.api_key.reveal(),
        "api_model": release.api_model,
    }


def inject_models(message: Message, answer: ModelFulfilment, port: int, slug: str) -> set[str]:
    """Write the released models into `message.metadata`, beside what the client put there; the
    extension URIs written."""
    written: set[str] = set()
    for kind, (uri, _, member) in MODEL_EXTENSIONS.items():
        mine: Mapping[str, ReleasedModel] = {
            r.demand.name: r for r in answer.releases.values() if r.demand.kind == kind
        }
        if not mine:
            continue
        payload = _payload(message, uri)
        payload = dict(payload) if isinstance(payload, dict) else {}
        existing = payload.get(member)
        merged: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
        added = {name: _entry(r, port, slug) for name, r in mine.items() if name not in merged}
        merged.update(fulfilment_payload(kind, added)[member])
        payload[member] = merged
        message.metadata.update({uri: payload})
        written.add(uri)
    return written


async def preflight_models(run: BridgeRun, message: Message, port: int) -> set[str]:
    """Fulfil the card's model demands in a message that creates a task; the extension URIs used."""
    link = run.link
    models: ModelSource | None = link.models
    agent = link.agent
    if models is None or message.task_id or not agent.model_demands:
        return set()
    skip = client_model_refs(message)
    wanted: list[ModelDemand] = [d for d in agent.model_demands if d.ref not in skip]
    if not wanted:
        return set()
    try:
        answer = await models.fulfil_models(
            agent,
            wanted,
            phase="preflight",
            task_id=None,
            context_id=message.context_id or None,
            run_id=run.state.run_id,
            caller=await run.caller(),
        )
    except AuditWriteError:
        raise
    except KeybrokerError as exc:
        log.warning("agent %r: models not fulfilled: %s", link.slug, exc.message)
        return set()
    run.remember(r.api_key for r in answer.releases.values())
    run.models_minted = any(r.gateway for r in answer.releases.values())
    return inject_models(message, answer, port, link.slug)


def watch_model_tasks(models: ModelSource, run: BridgeRun, event: object) -> None:
    """Tell `models` which task a run's tokens belong to, and when a task ends (its tokens end)."""
    from keybroker.core.a2a.task_state import terminal_task_state

    for task_id, _, state in task_states(event):
        try:
            if run.models_minted and not run.models_bound:
                run.models_bound = True
                models.bind_run(run.state.run_id, task_id=task_id)
            ended = terminal_task_state(state) if state else None
            if ended is not None:
                models.task_ended(run.link.slug, task_id, state=ended)
        except Exception as exc:  # a failing source never breaks the forwarding (the ceiling holds)
            log.warning(
                "agent %r: task %s not followed for models: %s", run.link.slug, task_id, type(exc).__name__
            )
