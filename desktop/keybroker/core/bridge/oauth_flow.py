# SPDX-License-Identifier: Apache-2.0
"""Agent Stack's OAuth extension in a bridged run (PROTOCOL §2.2): the agent signs its user in at
some resource's authorization server, and the bridge stands where a browser-based client would.

- `open_callback(run, message)`: before a message that creates a task goes out to an agent that
  declares OAuth demands (and the client fulfilled none itself), one loopback callback is opened for
  the run (oauth_callback.py) and every demand key is fulfilled with it:
  `metadata[URI] = {"oauth_fulfillments": {key: {"redirect_uri": <callback>}}}`.
- `sign_in_request(run, event)`: the agent's `auth-required` carrying `authorization_endpoint_url`.
  The bridge does not pass it on: `sign_in(...)` asks the user through the `AgentSignIn` port (the
  tray's sign-in prompt, then the system browser; core/auth/agent_sign_in.py) and catches the
  redirect; `resume_request(...)` resumes the same task (same taskId and contextId, text
  "Authorization completed", `metadata[URI] = {"redirect_uri": <full callback URL>}`).
- A task that waits for its client's input when the run ends keeps the run's callback
  (`release_callback`, `ParkedCallbacks`): the agent registered that redirect URI and reads it from
  the task's first message only, so a sign-in it asks for on a later turn comes back to it. Parked
  until the task ends, the next turn takes it, or `PARK_SECONDS` pass.
- Declined, refused at the server or timed out: the task is cancelled at the agent and the client
  gets it `canceled`, its status saying the user did not sign in (`declined_answer`): a plain client
  understands a cancelled task, and nothing hangs.
The authorization URL, the callback URLs and the code are remembered as released values, so they are
cut from everything the client gets (cutting.py); the extension's members are masked (masking.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from a2a.types import (
    CancelTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from google.protobuf import json_format  # type: ignore[import-untyped]

from keybroker.core.a2a.oauth_demand import (
    OAUTH_EXTENSION_URI,
    OAUTH_FULFILMENTS,
    auth_request_url,
    oauth_demands_of,
)
from keybroker.core.a2a.task_state import terminal_task_state
from keybroker.core.bridge.oauth_callback import OAuthCallback
from keybroker.core.bridge.ports import AgentSignIn
from keybroker.core.bridge.secrets_flow import auth_required_ids
from keybroker.core.bridge.task_trail import task_states
from keybroker.core.models import SecretValue

if TYPE_CHECKING:
    from keybroker.core.bridge.run import BridgeRun

__all__ = [
    "PARK_SECONDS",
    "RESUME_TEXT",
    "ParkedCallbacks",
    "SignInRequest",
    "declined_answer",
    "follow_task",
    "open_callback",
    "release_callback",
    "resume_request",
    "sign_in",
    "sign_in_request",
    "waiting_status",
]

log = logging.getLogger("keybroker.bridge")

#: How long a task waiting for its client keeps its callback: agentstack ends a run 10 minutes after
#: it last yielded (PROTOCOL pitfall 11), so a sign-in asked for later cannot come.
PARK_SECONDS = 15 * 60.0

#: The text part of the resume (what Agent Stack's own client sends; 1.x servers reject no parts).
RESUME_TEXT = "Authorization completed"


@dataclass(frozen=True)
class SignInRequest:
    """An agent's `auth-required` asking the user to sign in at `url` (secrets-grade)."""

    task_id: str
    context_id: str
    url: SecretValue
    host: str


def _payload(message: Message) -> Any:
    if not message.HasField("metadata") or OAUTH_EXTENSION_URI not in message.metadata.fields:
        return None
    return json_format.MessageToDict(message.metadata.fields[OAUTH_EXTENSION_URI])


def client_fulfilled(message: Message) -> bool:
    """True when the client fulfilled OAuth demands itself (it then answers the sign-in itself)."""
    payload = _payload(message)
    return isinstance(payload, dict) and OAUTH_FULFILMENTS in payload


class ParkedCallbacks:
    """One agent's callbacks of tasks waiting for their client (module docstring), by task id."""

    def __init__(self) -> None:
        self._parked: dict[str, tuple[OAuthCallback, asyncio.TimerHandle]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._parked)

    def park(self, task_id: str, callback: OAuthCallback) -> None:
        """Keep `callback` for `task_id`'s next turn, for `PARK_SECONDS` at most."""
        callback.disarm()
        earlier = self.take(task_id)
        if earlier is not None and earlier is not callback:
            self._close(earlier)
        handle = asyncio.get_running_loop().call_later(PARK_SECONDS, self._expire, task_id, callback)
        self._parked[task_id] = (callback, handle)

    def take(self, task_id: str) -> OAuthCallback | None:
        """The callback parked for `task_id`, no longer parked; None when there is none."""
        found = self._parked.pop(task_id, None)
        if found is None:
            return None
        found[1].cancel()
        return found[0]

    def _expire(self, task_id: str, callback: OAuthCallback) -> None:
        if task_id in self._parked and self._parked[task_id][0] is callback:
            del self._parked[task_id]
            self._close(callback)

    def _close(self, callback: OAuthCallback) -> None:
        task = asyncio.ensure_future(callback.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def follow_task(seen: tuple[str, bool] | None, event: object) -> tuple[str, bool] | None:
    """(task id, whether it ended) after `event`, from what was `seen` before."""
    for task_id, _context, state in task_states(event):
        if not task_id:
            continue
        before = seen is not None and seen[0] == task_id and seen[1]
        seen = (task_id, terminal_task_state(state) is not None if state else before)
    return seen


async def open_callback(run: BridgeRun, message: Message) -> None:
    """Open the run's callback and fulfil every OAuth demand with it, in a message creating a task;
    a later turn of a task takes the callback its first run parked."""
    keys = oauth_demands_of(run.link.agent.card_json)
    if not keys or run.oauth is not None:
        return
    if message.task_id:
        parked = run.link.oauth_parked.take(message.task_id)
        if parked is not None:
            run.oauth = parked
            run.remember([SecretValue(parked.uri)])
        return
    if client_fulfilled(message):
        return
    callback = OAuthCallback()
    await callback.open()
    run.oauth = callback
    uri = callback.uri
    run.remember([SecretValue(uri)])
    payload = _payload(message)
    payload = dict(payload) if isinstance(payload, dict) else {}
    payload[OAUTH_FULFILMENTS] = {key: {"redirect_uri": uri} for key in keys}
    message.metadata.update({OAUTH_EXTENSION_URI: payload})


async def release_callback(run: BridgeRun) -> None:
    """The run ends: its callback is parked when its task waits for the client, else closed (a
    redirect after the task finds nothing listening)."""
    callback, run.oauth = run.oauth, None
    if callback is None:
        return
    seen = run.oauth_task
    if seen is not None and not seen[1]:
        run.link.oauth_parked.park(seen[0], callback)
        return
    await callback.close()


def sign_in_request(run: BridgeRun, event: StreamResponse) -> SignInRequest | None:
    """The sign-in an `auth-required` event asks for, when this run fulfilled the OAuth demands."""
    if run.oauth is None:
        return None
    ids = auth_required_ids(event)
    if ids is None:
        return None
    kind = event.WhichOneof("payload")
    status = event.status_update.status if kind == "status_update" else event.task.status
    if not status.HasField("message"):
        return None
    url = auth_request_url(_payload(status.message))
    if url is None:
        return None
    value = SecretValue(url)
    run.remember([value])
    host = urlsplit(url).hostname or "?"
    return SignInRequest(ids[0], ids[1], value, host)


async def sign_in(run: BridgeRun, request: SignInRequest) -> SecretValue | None:
    """The user's sign-in: the full callback URL the browser brought back, or None (declined...)."""
    port = run.link.sign_ins
    callback = run.oauth
    if not isinstance(port, AgentSignIn) or callback is None:
        log.info("agent %r asked the user to sign in: no sign-in prompt here, declined", run.link.slug)
        return None
    found = await port.agent_sign_in(
        run.link.agent,
        request.url,
        callback.arm,
        task_id=request.task_id,
        context_id=request.context_id,
        caller=await run.caller(),
    )
    callback.disarm()
    if found is not None:
        query = parse_qs(urlsplit(found.reveal()).query)
        run.remember([found, *(SecretValue(v) for k in ("code", "state") for v in query.get(k, []))])
    return found


def resume_request(
    request: SignInRequest, callback: SecretValue, params: SendMessageRequest
) -> SendMessageRequest:
    """The message resuming the task with the redirect (same taskId and contextId, PROTOCOL pitfall 2)."""
    message = Message(
        role=Role.ROLE_USER,
        message_id=str(uuid.uuid4()),
        task_id=request.task_id,
        context_id=request.context_id,
        parts=[Part(text=RESUME_TEXT)],
    )
    message.metadata.update({OAUTH_EXTENSION_URI: {"redirect_uri": callback.reveal()}})
    resumed = SendMessageRequest(message=message)
    resumed.configuration.CopyFrom(params.configuration)
    resumed.configuration.return_immediately = False
    return resumed


def _status_message(request: SignInRequest, text: str) -> Message:
    return Message(
        role=Role.ROLE_AGENT,
        message_id=str(uuid.uuid4()),
        task_id=request.task_id,
        context_id=request.context_id,
        parts=[Part(text=text)],
    )


def waiting_status(request: SignInRequest) -> TaskStatusUpdateEvent:
    """One `working` status telling a streaming client the bridge waits for the user's sign-in."""
    text = f"Keybroker is waiting for the user to sign in at {request.host}"
    return TaskStatusUpdateEvent(
        task_id=request.task_id,
        context_id=request.context_id,
        status=TaskStatus(state=TaskState.TASK_STATE_WORKING, message=_status_message(request, text)),
    )


async def declined_answer(run: BridgeRun, request: SignInRequest, extensions: set[str]) -> Task:
    """The task cancelled at the agent (so its run ends now, not at its timeout), as the client gets it:
    `canceled`, its status saying why. When the agent cannot cancel it, the task is reported `failed`."""
    state, note = TaskState.TASK_STATE_CANCELED, ""
    task: Task | None = None
    try:
        cancel = CancelTaskRequest(id=request.task_id)
        found = await run.link.upstream.call(
            lambda client, ctx: client.cancel_task(cancel, context=ctx),
            extensions,
            credentials=run.credentials,
        )
        task = found if isinstance(found, Task) else None
    except Exception as exc:  # the agent would not cancel: say so, never its text (it may quote the URL)
        log.info("agent %r: the declined task was not cancelled: %s", run.link.slug, type(exc).__name__)
        state, note = TaskState.TASK_STATE_FAILED, "; the agent did not cancel the task"
    if task is None:
        task = Task(id=request.task_id, context_id=request.context_id)
    text = f"Keybroker: the user did not sign in at {request.host} (declined, refused or timed out){note}"
    task.status.CopyFrom(TaskStatus(state=state, message=_status_message(request, text)))
    return task
