# SPDX-License-Identifier: Apache-2.0
"""The bridge's a2a-sdk `RequestHandler`: every method forwards to one agent's upstream client.

The SDK's routes (JSON-RPC and REST, 0.3 and 1.0) turn whatever the client spoke into 1.0 protobufs
and back, so this class sees one shape. On the way it:
- fulfils secret demands (DESIGN §1): granted values for the card's declared demands go into the
  first message before it is forwarded (one `fulfil(phase="preflight")` for all of them); an
  `auth-required` status carrying demands is answered with `fulfil(phase="runtime")` and the task is
  resumed with the same taskId and contextId, so the client sees one task that completes. A decline
  or a timeout hands the agent's `auth-required` to the client unchanged. Values a client sends
  itself pass through, and their keys are never prompted for;
- streams upstream for a streaming client whenever the card allows; serves a blocking send to an
  A2A 0.3 agent by following a stream (PROTOCOL pitfall 16) and to a 1.x agent with a blocking send,
  which returns at every interrupt (upstream.py says why); never trusts the `final` flag;
- masks every `secret_fulfillments` value in everything it returns (masking.py), and cuts out of
  every string, in every encoded form, each value it released to this agent: this run's, and those
  it remembers having released before (released.py: the most recent 256, forgotten when Keybroker
  locks, so after a lock an answer about an earlier task is cut only of values released since).
  That covers `tasks/get`, list, cancel, resubscribe and later messages of a task or conversation
  that no longer carry the value, and the agent's error messages and malformed demands. A value
  split across streamed chunks of an artifact is cut whole (chunks.py), and one split across
  consecutive text parts too (masking.py);
- sends the card's security credentials (API keys, bearer tokens) with every upstream request when
  they are at hand, and after an HTTP 401 or an `auth-required` without a secret demand asks for
  them again and retries once (scheme_auth.py); they never reach the client (masking.py's scrub);
- turns upstream failures into clean A2A errors naming the agent (upstream.py);
- tells a broker that follows tasks (`TaskWatch`) the task ids a run learns and every terminal state
  (completed, failed, canceled, rejected) it forwards, from a send's result, stream events, `tasks/get`,
  `ListTasks` or a cancel, so "this task" grants end with their task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from a2a.client import Client, ClientCallContext
from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers import RequestHandler
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskArtifactUpdateEvent,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import (
    A2AError,
    InvalidAgentResponseError,
    InvalidParamsError,
    PushNotificationNotSupportedError,
)
from google.protobuf.message import Message as ProtoMessage  # type: ignore[import-untyped]

from keybroker.core.a2a.credentials import Credentials, scheme_demand
from keybroker.core.a2a.demand import SECRETS_EXTENSION_URI
from keybroker.core.a2a.task_state import terminal_task_state
from keybroker.core.bridge.caller import caller_from_context, remembered_caller
from keybroker.core.bridge.chunks import SplitGuard
from keybroker.core.bridge.collector import Collector, stream_payload
from keybroker.core.bridge.masking import Cut, clean_proto, merge_cuts, scrub_quoted
from keybroker.core.bridge.ports import Phase, SecretSource, TaskWatch
from keybroker.core.bridge.released import RELEASED_LIMIT, ValueForms
from keybroker.core.bridge.scheme_auth import AuthCall, SchemeAuth
from keybroker.core.bridge.secrets_flow import (
    CREDENTIALS_TEXT,
    RESUME_TEXT,
    RuntimeDemand,
    auth_required_ids,
    client_fulfilled_keys,
    client_fulfilment_problem,
    inject_fulfilments,
    resume_message,
    runtime_demand,
    waiting_status,
)
from keybroker.core.bridge.upstream import Upstream, is_unauthorized, upstream_error
from keybroker.core.errors import InvalidDemandError, KeybrokerError
from keybroker.core.models import AgentRecord, SecretDemand, SecretValue

__all__ = ["MAX_RESUMES", "BridgeHandler", "CallerLookup"]

log = logging.getLogger("keybroker.bridge")

_NO_PUSH = "the Keybroker bridge offers no push notifications (they would bypass its secret masking)"
#: How many times one run may be resumed with secrets before the bridge hands the demand over.
MAX_RESUMES = 8
#: After an answerable `auth-required`, the agent should close its stream; wait this long for it.
_DRAIN_SECONDS = 2.0

#: `caller(context)`: who is calling ("pid 1234 (python3)") where the OS tells, else None.
CallerLookup = Callable[[ServerCallContext], "str | None"]
_T = TypeVar("_T")


def _no_caller(context: ServerCallContext) -> str | None:
    return None


@dataclass
class _Run:
    """What one client request has done so far (memory only, gone when the request ends)."""

    client_keys: frozenset[str]
    context: ServerCallContext
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    injected: dict[str, SecretValue] = field(default_factory=dict)
    declined: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    resumes: int = 0
    caller: str | None = None
    caller_known: bool = False
    credentials: Credentials | None = None
    credentials_checked: bool = False
    auth_retried: bool = False
    bound: bool = False
    ended: set[str] = field(default_factory=set)
    #: Every value this run released or sent (fulfilments, credentials), even after a lock.
    own: ValueForms = field(default_factory=ValueForms)
    _merged: tuple[Cut, Cut, Cut] | None = field(default=None, init=False, repr=False)

    def cut(self, known: Cut) -> Cut:
        """This run's values and `known` (the agent's), in one `Cut` (made again only after a change)."""
        own = self.own.cut()
        if not own:
            return known
        merged = self._merged
        if merged is not None and merged[0] is known and merged[1] is own:
            return merged[2]
        cut = merge_cuts(known, own)
        self._merged = (known, own, cut)
        return cut


def _task_states(event: object) -> list[tuple[str, str, str]]:
    """(task id, context id, state name) of each task `event` speaks of; state "" when it has none."""
    if isinstance(event, ListTasksResponse):
        return [item for task in event.tasks for item in _task_states(task)]
    if isinstance(event, Task):
        task_id, context_id, state = event.id, event.context_id, event.status.state
    elif isinstance(event, TaskStatusUpdateEvent):
        task_id, context_id, state = event.task_id, event.context_id, event.status.state
    elif isinstance(event, Message | TaskArtifactUpdateEvent):
        return [(event.task_id, event.context_id, "")] if event.task_id else []
    else:
        return []
    try:
        name = TaskState.Name(state)
    except ValueError:  # a state number this SDK does not know: not one that ends a task
        name = ""
    return [(task_id, context_id, name)] if task_id else []


@dataclass(frozen=True)
class _Interrupt:
    """An `auth-required` the bridge answers: secret demands, or (`credentials`) a refusal of them."""

    demand: RuntimeDemand
    credentials: bool = False


class BridgeHandler(RequestHandler):
    """Forwards every A2A call to `upstream`, fulfilling `agent`'s secret demands from `secrets`."""

    def __init__(
        self,
        agent: AgentRecord,
        upstream: Upstream,
        secrets: SecretSource,
        *,
        caller: CallerLookup | None = None,
        bridged_card: Callable[[AgentCard], AgentCard] | None = None,
        released: ValueForms | None = None,
    ) -> None:
        """`released`: the values released to this agent, shared by every handler serving its slug
        (app.py's `ReleasedBook`); by default this handler's own."""
        self._agent = agent
        self._released = released if released is not None else ValueForms(RELEASED_LIMIT)
        self._upstream = upstream
        self._secrets = secrets
        self._caller = caller or _no_caller
        self._bridged_card = bridged_card
        self._auth = SchemeAuth(agent, secrets, enabled=upstream.secrets_allowed)
        self._tasks = secrets if isinstance(secrets, TaskWatch) else None

    # Helpers -------------------------------------------------------------------------------------

    @property
    def _slug(self) -> str:
        return self._agent.slug

    def _cut(self, run: _Run | None) -> Cut:
        """What to cut from the agent's answers: every value released to it, and the run's own."""
        known = self._released.cut()
        return known if run is None else run.cut(known)

    def _remember(self, run: _Run, values: Iterable[SecretValue]) -> None:
        """Values released in `run`: the agent may echo them in this answer or any later one."""
        for value in values:
            entry = self._released.add(value)
            if entry is not None:
                run.own.include(entry)

    def _use(self, run: _Run, credentials: Credentials | None) -> None:
        run.credentials = credentials
        if credentials is not None:
            self._remember(run, (value for _, value in credentials.items))

    def _clean(self, payload: ProtoMessage, run: _Run | None = None) -> None:
        # Masks every fulfilment whatever was released (values released earlier in the task come
        # back in its history), and cuts every released value out of every string.
        clean_proto(payload, self._cut(run))

    def _observe(self, event: object, run: _Run | None = None) -> None:
        """Tell a `TaskWatch` broker the task ids a run learns and the terminal states the agent reports.

        `run` is None for calls that are not a run (`tasks/get`, cancel, list): only ends are reported.
        A failing broker never breaks the forwarding: it is logged, and the grant's ceiling still holds.
        """
        if self._tasks is None:
            return
        for task_id, context_id, state in _task_states(event):
            try:
                if run is not None and not run.bound:
                    run.bound = True
                    self._tasks.bind_run(run.run_id, task_id=task_id, context_id=context_id or None)
                ended_as = terminal_task_state(state) if state else None
                if ended_as is None:
                    continue
                if run is not None:
                    if task_id in run.ended:
                        continue
                    run.ended.add(task_id)
                self._tasks.task_ended(
                    self._slug, task_id, state=ended_as, run_id=run.run_id if run is not None else None
                )
            except Exception as exc:
                log.warning("agent %r: task %s not followed: %s", self._slug, task_id, type(exc).__name__)

    def _failure(self, exc: Exception, run: _Run | None = None) -> A2AError:
        error = upstream_error(exc, self._slug, self._cut(run))
        log.warning("agent %r: %s", self._slug, error.message)
        return error

    async def _fulfil(
        self,
        demands: list[SecretDemand],
        run: _Run,
        *,
        phase: Phase,
        task_id: str | None,
        context_id: str | None,
    ) -> dict[str, SecretValue]:
        """Granted values for `demands` (a failing broker counts as a decline); records the outcome."""
        keys = {d.key for d in demands}
        caller = await self._caller_of(run)
        try:
            answer = await self._secrets.fulfil(
                self._agent,
                demands,
                phase=phase,
                task_id=task_id,
                context_id=context_id,
                run_id=run.run_id,
                caller=caller,
            )
            granted = {k: v for k, v in answer.values.items() if k in keys and isinstance(v, SecretValue)}
        except KeybrokerError as exc:
            log.warning("agent %r: secrets not fulfilled (%s): %s", self._slug, phase, exc.message)
            granted = {}
        run.declined |= keys - granted.keys()
        run.injected.update(granted)
        self._remember(run, granted.values())
        return granted

    async def _caller_of(self, run: _Run) -> str | None:
        if not run.caller_known:
            known, caller = False, None
            if self._caller is caller_from_context:  # a keep-alive client's answer is remembered
                known, caller = remembered_caller(run.context)
            if not known:
                # Reads /proc on Linux: only when a value is about to be released, off the loop.
                caller = await asyncio.to_thread(self._caller, run.context)
            run.caller = caller
            run.caller_known = True
        return run.caller

    def _auth_call(self, run: _Run, phase: Phase, task_id: str | None, context_id: str | None) -> AuthCall:
        return AuthCall(phase, task_id or None, context_id or None, run.run_id, lambda: self._caller_of(run))

    async def _ensure_credentials(self, run: _Run, task_id: str | None, context_id: str | None) -> None:
        """The card credentials at hand for this run (looked up once per run)."""
        if run.credentials_checked or not self._auth.active:
            return
        run.credentials_checked = True
        self._use(run, await self._auth.at_hand(self._auth_call(run, "preflight", task_id, context_id)))

    async def _refresh_credentials(self, run: _Run, task_id: str | None, context_id: str | None) -> bool:
        """The agent refused: ask again (once per run). True when there is something new to retry with."""
        if run.auth_retried or not self._auth.active:
            return False
        run.auth_retried = True
        found = await self._auth.refresh(
            run.credentials, self._auth_call(run, "runtime", task_id, context_id)
        )
        if found is None:
            log.info("agent %r refused its credentials and none were given again", self._slug)
            return False
        self._use(run, found)
        return True

    async def _retry_after(self, exc: Exception, run: _Run, task_id: str | None = None) -> bool:
        """True when `exc` is an HTTP 401 worth one retry with fresh credentials."""
        return is_unauthorized(exc) and await self._refresh_credentials(run, task_id, None)

    def _credential_interrupt(self, event: StreamResponse, run: _Run) -> _Interrupt | None:
        """An `auth-required` without secret demands: the agent refused the card credentials."""
        if not self._auth.active or run.auth_retried or run.resumes >= MAX_RESUMES:
            return None
        ids = auth_required_ids(event)
        if ids is None:
            return None
        wanted = run.credentials.schemes if run.credentials else self._auth.alternatives[0]
        demands = tuple(scheme_demand(s) for s in wanted)
        return _Interrupt(RuntimeDemand(ids[0], ids[1], demands), credentials=True)

    def _extensions(self, context: ServerCallContext, run: _Run | None = None) -> set[str]:
        requested = set(context.requested_extensions)
        if run is not None and (run.injected or run.client_keys):
            requested.add(SECRETS_EXTENSION_URI)
        return requested

    def _start(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> tuple[SendMessageRequest, _Run]:
        problem = client_fulfilment_problem(params.message)
        if problem is not None:
            raise InvalidParamsError(problem)
        if params.configuration.HasField("task_push_notification_config"):
            raise PushNotificationNotSupportedError(_NO_PUSH)
        request = SendMessageRequest()
        request.CopyFrom(params)
        return request, _Run(client_keys=client_fulfilled_keys(request.message), context=context)

    async def _preflight(self, message: Message, run: _Run) -> None:
        """Put granted values for the card's demands into a message that creates a task."""
        if message.task_id or not self._agent.demands or not self._upstream.secrets_allowed:
            return
        wanted = [d for d in self._agent.demands if d.key not in run.client_keys]
        if not wanted:
            return
        granted = await self._fulfil(
            wanted, run, phase="preflight", task_id=None, context_id=message.context_id or None
        )
        inject_fulfilments(message, granted)

    def _answerable(self, demand: RuntimeDemand, run: _Run) -> list[SecretDemand]:
        if not self._upstream.secrets_allowed or run.resumes >= MAX_RESUMES:
            return []
        skip = run.declined | run.answered | run.client_keys
        return [d for d in demand.demands if d.key not in skip]

    def _demand_in(self, event: StreamResponse, run: _Run) -> RuntimeDemand | None:
        try:
            return runtime_demand(event)
        except InvalidDemandError as exc:
            # The problem quotes the agent's key (cut short), which may hold a value it was given.
            problem = scrub_quoted(str(exc), self._cut(run))
            raise InvalidAgentResponseError(
                f"agent {self._slug!r} sent a malformed secret demand: {problem}"
            ) from None

    # Sending -------------------------------------------------------------------------------------

    async def _upstream_events(
        self, request: SendMessageRequest, run: _Run, extensions: set[str]
    ) -> AsyncGenerator[StreamResponse, None]:
        """The agent's events for `request`; any failure becomes a clean A2A error.

        An HTTP 401 before the first event is retried once with fresh credentials.
        """
        while True:
            started = False
            try:
                stream = self._upstream.stream(request, extensions, credentials=run.credentials)
                async with contextlib.aclosing(stream) as events:
                    async for event in events:
                        started = True
                        yield event
                return
            except Exception as exc:
                if not started and await self._retry_after(exc, run, request.message.task_id):
                    continue
                raise self._failure(exc, run) from None

    async def _follow(
        self, request: SendMessageRequest, run: _Run, extensions: set[str]
    ) -> AsyncGenerator[tuple[Event, _Interrupt | None], None]:
        """Upstream events as (event, None); last, (auth-required event, interrupt) when answerable.

        After an answerable demand the agent is given a moment to close its stream by itself
        (closing it first might look like a client that went away).
        """
        loop = asyncio.get_running_loop()
        pending: tuple[Event, _Interrupt] | None = None
        try:
            async with asyncio.timeout(None) as deadline:
                async with contextlib.aclosing(self._upstream_events(request, run, extensions)) as events:
                    async for event in events:
                        if pending is not None:
                            continue  # draining: nothing more goes out
                        interrupt = self._interrupt(event, run)
                        if interrupt is not None:
                            pending = (stream_payload(event), interrupt)
                            deadline.reschedule(loop.time() + _DRAIN_SECONDS)
                            continue
                        yield stream_payload(event), None
        except TimeoutError:
            if pending is None:
                raise
        if pending is not None:
            yield pending

    def _interrupt(self, event: StreamResponse, run: _Run) -> _Interrupt | None:
        demand = self._demand_in(event, run)
        if demand is None:
            return self._credential_interrupt(event, run)
        return _Interrupt(demand) if self._answerable(demand, run) else None

    async def _answer(self, demand: RuntimeDemand, run: _Run) -> dict[str, SecretValue]:
        """Fulfil the answerable part of a run-time demand; empty when nothing was granted."""
        ask = self._answerable(demand, run)
        run.answered |= {d.key for d in ask}
        return await self._fulfil(
            ask, run, phase="runtime", task_id=demand.task_id, context_id=demand.context_id
        )

    @staticmethod
    def _resume(
        demand: RuntimeDemand,
        granted: dict[str, SecretValue],
        params: SendMessageRequest,
        run: _Run,
        *,
        credentials: bool = False,
    ) -> SendMessageRequest:
        run.resumes += 1
        text = CREDENTIALS_TEXT if credentials else RESUME_TEXT
        message = resume_message(demand.task_id, demand.context_id, granted, text=text)
        request = SendMessageRequest(message=message)
        request.configuration.CopyFrom(params.configuration)
        request.configuration.return_immediately = False
        return request

    async def _guarded(self, events: AsyncGenerator[Event, None], run: _Run) -> AsyncGenerator[Event, None]:
        """`events` (each cleaned already), with values split across artifact chunks cut (chunks.py)."""
        guard = SplitGuard()
        async with contextlib.aclosing(events) as stream:
            async for event in stream:
                for out in guard.feed(event, self._cut(run)):
                    yield out
        for out in guard.flush(self._cut(run)):
            yield out

    async def _run(
        self, params: SendMessageRequest, request: SendMessageRequest, run: _Run, *, interactive: bool
    ) -> AsyncGenerator[Event, None]:
        """Follow the agent's stream, answering secret demands on the way (see the module docstring)."""
        request.configuration.return_immediately = False
        await self._ensure_credentials(run, request.message.task_id, request.message.context_id)
        await self._preflight(request.message, run)
        extensions = self._extensions(run.context, run)
        while True:
            pending: tuple[Event, _Interrupt] | None = None
            async with contextlib.aclosing(self._follow(request, run, extensions)) as followed:
                async for event, interrupt in followed:
                    if interrupt is not None:
                        pending = (event, interrupt)
                        break
                    self._observe(event, run)
                    self._clean(event, run)
                    yield event
            if pending is None:
                return
            event, interrupt = pending
            self._observe(event, run)
            demand = interrupt.demand
            if interrupt.credentials:
                if interactive:
                    yield waiting_status(demand)
                if not await self._refresh_credentials(run, demand.task_id, demand.context_id):
                    self._clean(event, run)
                    yield event  # not given again: the agent's auth-required, unchanged
                    return
                request = self._resume(demand, {}, params, run, credentials=True)
                continue
            if interactive:
                yield waiting_status(
                    RuntimeDemand(demand.task_id, demand.context_id, tuple(self._answerable(demand, run)))
                )
            granted = await self._answer(demand, run)
            if not granted:
                self._clean(event, run)
                yield event  # declined or timed out: the agent's auth-required, unchanged
                return
            extensions.add(SECRETS_EXTENSION_URI)
            request = self._resume(demand, granted, params, run)

    async def _run_blocking(self, params: SendMessageRequest, context: ServerCallContext) -> Task | Message:
        """A blocking send upstream (1.x agents), answering secret demands between sends."""
        request, run = self._start(params, context)
        request.configuration.return_immediately = False
        await self._ensure_credentials(run, request.message.task_id, request.message.context_id)
        await self._preflight(request.message, run)
        extensions = self._extensions(context, run)
        while True:
            answer = await self._send(request, run, extensions, wait=True)
            event = stream_payload(answer)
            if not isinstance(event, Task | Message):
                raise InvalidAgentResponseError(f"agent {self._slug!r} answered a send with a stream event")
            self._observe(event, run)
            demand = self._demand_in(answer, run)
            refused = self._credential_interrupt(answer, run) if demand is None else None
            if refused is not None:
                ids = refused.demand
                if await self._refresh_credentials(run, ids.task_id, ids.context_id):
                    request = self._resume(ids, {}, params, run, credentials=True)
                    continue
            granted = await self._answer(demand, run) if demand and self._answerable(demand, run) else {}
            if demand is None or not granted:
                self._clean(event, run)
                return event
            extensions.add(SECRETS_EXTENSION_URI)
            request = self._resume(demand, granted, params, run)

    async def _send(
        self, request: SendMessageRequest, run: _Run, extensions: set[str], *, wait: bool
    ) -> StreamResponse:
        """One plain send upstream, retried once with fresh credentials after an HTTP 401."""
        while True:
            try:
                return await self._upstream.send(request, extensions, wait=wait, credentials=run.credentials)
            except Exception as exc:
                if await self._retry_after(exc, run, request.message.task_id):
                    continue
                raise self._failure(exc, run) from None

    async def _unary(
        self, context: ServerCallContext, fn: Callable[[Client, ClientCallContext], Awaitable[_T]]
    ) -> tuple[_T, _Run]:
        """A unary call with the credentials at hand, retried once after an HTTP 401."""
        run = _Run(client_keys=frozenset(), context=context)
        await self._ensure_credentials(run, None, None)
        while True:
            try:
                result = await self._upstream.call(fn, self._extensions(context), credentials=run.credentials)
            except Exception as exc:
                if await self._retry_after(exc, run):
                    continue
                raise self._failure(exc, run) from None
            return result, run

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        """`message/stream` / `SendStreamingMessage`."""
        request, run = self._start(params, context)
        events = self._guarded(self._run(params, request, run, interactive=True), run)
        async with contextlib.aclosing(events) as stream:
            async for event in stream:
                yield event

    async def on_message_send(self, params: SendMessageRequest, context: ServerCallContext) -> Task | Message:
        """`message/send` / `SendMessage`: a blocking send, or a followed stream (see upstream.py)."""
        if params.configuration.return_immediately:
            return await self._send_once(params, context)
        if not self._upstream.follow_streams:
            return await self._run_blocking(params, context)
        request, run = self._start(params, context)
        collector = Collector()
        events = self._guarded(self._run(params, request, run, interactive=False), run)
        async with contextlib.aclosing(events) as stream:
            async for event in stream:
                collector.add(event)
        result = collector.result(self._slug)
        # Appended chunks sit side by side in the folded artifact: cut what spans their parts.
        self._clean(result, run)
        return result

    async def _send_once(self, params: SendMessageRequest, context: ServerCallContext) -> Task | Message:
        """A non-blocking send: pre-configured values still go in; run-time demands reach the client."""
        request, run = self._start(params, context)
        await self._ensure_credentials(run, request.message.task_id, request.message.context_id)
        await self._preflight(request.message, run)
        answer = await self._send(request, run, self._extensions(context, run), wait=False)
        event = stream_payload(answer)
        if isinstance(event, Task | Message):
            self._observe(event, run)
            self._clean(event, run)
            return event
        raise InvalidAgentResponseError(f"agent {self._slug!r} answered a send with a stream event")

    # Everything else: forward, mask ------------------------------------------------------------

    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        """`tasks/resubscribe` / `SubscribeToTask`: the agent's events, masked."""
        run = _Run(client_keys=frozenset(), context=context)
        async with contextlib.aclosing(self._guarded(self._subscribe(params, run), run)) as stream:
            async for event in stream:
                yield event

    async def _subscribe(self, params: SubscribeToTaskRequest, run: _Run) -> AsyncGenerator[Event, None]:
        context = run.context
        await self._ensure_credentials(run, params.id, None)
        while True:
            started = False
            try:
                events = self._upstream.subscribe(
                    params, self._extensions(context), credentials=run.credentials
                )
                async with contextlib.aclosing(events) as stream:
                    async for event in stream:
                        started = True
                        inner = stream_payload(event)
                        self._observe(inner)
                        self._clean(inner, run)
                        yield inner
                return
            except Exception as exc:
                if not started and await self._retry_after(exc, run, params.id):
                    continue
                raise self._failure(exc, run) from None

    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task | None:
        """`tasks/get` / `GetTask`."""
        task, run = await self._unary(context, lambda c, ctx: c.get_task(params, context=ctx))
        self._observe(task)
        self._clean(task, run)
        return task

    async def on_list_tasks(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        """`ListTasks` (1.0 only)."""
        tasks, run = await self._unary(context, lambda c, ctx: c.list_tasks(params, context=ctx))
        self._observe(tasks)
        self._clean(tasks, run)
        return tasks

    async def on_cancel_task(self, params: CancelTaskRequest, context: ServerCallContext) -> Task | None:
        """`tasks/cancel` / `CancelTask`."""
        task, run = await self._unary(context, lambda c, ctx: c.cancel_task(params, context=ctx))
        self._observe(task)
        self._clean(task, run)
        return task

    # Push notifications would go from the agent straight to the client's webhook, around the
    # masking above (agents echo the fulfilled message in task history), so the bridge offers none.

    async def on_create_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        """Refused: see above."""
        raise PushNotificationNotSupportedError(_NO_PUSH)

    async def on_get_task_push_notification_config(
        self, params: GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        """Refused: see above."""
        raise PushNotificationNotSupportedError(_NO_PUSH)

    async def on_list_task_push_notification_configs(
        self, params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> ListTaskPushNotificationConfigsResponse:
        """Refused: see above."""
        raise PushNotificationNotSupportedError(_NO_PUSH)

    async def on_delete_task_push_notification_config(
        self, params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        """Refused: see above."""
        raise PushNotificationNotSupportedError(_NO_PUSH)

    async def on_get_extended_agent_card(
        self, params: GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> AgentCard:
        """The agent's extended card, rewritten to point at the bridge like the public one."""
        card, run = await self._unary(context, lambda c, ctx: c.get_extended_agent_card(params, context=ctx))
        card = self._bridged_card(card) if self._bridged_card is not None else card
        self._clean(card, run)
        return card
