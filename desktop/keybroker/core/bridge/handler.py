# SPDX-License-Identifier: Apache-2.0
"""The bridge's a2a-sdk `RequestHandler`: every method forwards to one agent, through a `BridgeRun`.
Longer than 300 lines because it implements every method of the SDK's `RequestHandler` interface in one
class; each is a few lines handing over to a run or a leg, and apart they would only re-import the same state.

The SDK's routes (JSON-RPC and REST, 0.3 and 1.0) turn whatever the client spoke into 1.0 protobufs
and back, so this class sees one shape. A send or a stream is a run (run.py: pre-flight, forward,
interrupt, prompt, resume, cut, in one resume loop); here it is only chosen how the agent is asked:
- a streaming client gets the agent's stream, followed whenever the card allows (legs.py);
- a blocking send to an A2A 0.3 agent follows a stream and folds it (collector.py, PROTOCOL pitfall
  16); to a 1.x agent it is a blocking send, which returns at every interrupt (upstream.py says why);
- a non-blocking send gets pre-configured values; run-time demands then reach the client.
Values split across streamed events (chunks, status messages, artifacts) are cut whole (chunks.py).
Every request is checked first for what A2A requires of it (params.py: -32602, HTTP 400), so an agent
never gets a message it cannot take. An agent whose card declares no extended card gets no extended
card request: the bridge answers as that agent's SDK does (0.3 clients `-32007`, 1.0 clients
`UnsupportedOperationError`), where a2a-sdk's client would hand back the public card instead.
`tasks/get`, list, cancel, resubscribe and the extended card are forwarded with the card credentials
at hand (retried once after an HTTP 401, or A2X's -32600: PROTOCOL pitfall 28) and cleaned like
everything else. Push notifications are refused: the agent would post its results elsewhere, around
the masking (PROTOCOL pitfall 23).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
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
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
)
from a2a.utils.errors import (
    A2AError,
    ExtendedAgentCardNotConfiguredError,
    InvalidAgentResponseError,
    PushNotificationNotSupportedError,
    UnsupportedOperationError,
)
from google.protobuf.message import Message as ProtoMessage  # type: ignore[import-untyped]

from keybroker.core.bridge.chunks import SplitGuard
from keybroker.core.bridge.collector import Collector, stream_payload
from keybroker.core.bridge.legs import send, send_leg, stream_leg
from keybroker.core.bridge.params import check_params
from keybroker.core.bridge.ports import (
    AgentSignIn,
    CallerLookup,
    ModelSource,
    SecretSource,
    TaskWatch,
    TokenSource,
)
from keybroker.core.bridge.released import RELEASED_LIMIT, Recall, ValueForms
from keybroker.core.bridge.run import NO_PUSH, AgentLink, BridgeRun
from keybroker.core.bridge.run_state import MAX_RESUMES
from keybroker.core.bridge.scheme_auth import SchemeAuth
from keybroker.core.bridge.upstream import Upstream
from keybroker.core.models import AgentRecord

__all__ = ["MAX_RESUMES", "BridgeHandler"]

_T = TypeVar("_T")
NO_EXTENDED_CARD = "The agent does not support authenticated extended cards"


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
        recall: Recall | None = None,
        tokens: TokenSource | None = None,
        tls_presented: bool = False,
        models: ModelSource | None = None,
        gateway_port: int = 0,
    ) -> None:
        """`released`: the values released to this agent, shared by every handler serving its slug
        (app.py's `ReleasedBook`), and `recall` those released before (rebuilt); by default this
        handler's own. `caller` None: callers unnamed."""
        forms = released if released is not None else ValueForms(RELEASED_LIMIT)
        self._link = AgentLink(
            agent=agent,
            upstream=upstream,
            secrets=secrets,
            auth=SchemeAuth(
                agent, secrets, enabled=upstream.secrets_allowed, tokens=tokens, tls_presented=tls_presented
            ),
            released=forms,
            callers=caller,
            tasks=secrets if isinstance(secrets, TaskWatch) else None,
            recall=recall if recall is not None else Recall(forms),
            models=models,
            gateway_port=gateway_port,
            sign_ins=tokens if isinstance(tokens, AgentSignIn) else None,
        )
        self._bridged_card = bridged_card

    @property
    def link(self) -> AgentLink:
        """The agent's side of every run (fast_path.py serves from it too)."""
        return self._link

    @property
    def legacy_agent(self) -> bool:
        """The agent speaks only A2A 0.3."""
        return self._link.upstream.legacy

    def check(self, params: ProtoMessage | None) -> None:
        """Raise `InvalidParamsError` when `params` lack what A2A requires (params.py)."""
        check_params(params, legacy_agent=self._link.upstream.legacy)

    # Runs --------------------------------------------------------------------------------------

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        """`message/stream` / `SendStreamingMessage`."""
        self.check(params)
        run, request = BridgeRun.start(self._link, params, context)
        events = _guarded(run, run.events(params, request, stream_leg, interactive=True))
        async with contextlib.aclosing(events) as stream:
            async for event in stream:
                yield event

    async def on_message_send(self, params: SendMessageRequest, context: ServerCallContext) -> Task | Message:
        """`message/send` / `SendMessage`: a blocking send, or a followed stream (see upstream.py)."""
        self.check(params)
        if params.configuration.return_immediately:
            return await self._send_once(params, context)
        run, request = BridgeRun.start(self._link, params, context)
        if not self._link.upstream.follow_streams:
            last: Event | None = None
            async with contextlib.aclosing(run.events(params, request, send_leg, interactive=False)) as sent:
                async for event in sent:
                    last = event
            if not isinstance(last, Task | Message):
                raise InvalidAgentResponseError(f"agent {self._link.slug!r} answered a send with nothing")
            return last
        collector = Collector()
        events = _guarded(run, run.events(params, request, stream_leg, interactive=False))
        async with contextlib.aclosing(events) as stream:
            async for event in stream:
                collector.add(event)
        result = collector.result(self._link.slug)
        # Appended chunks sit side by side in the folded artifact: cut what spans their parts.
        run.clean(result)
        return result

    async def _send_once(self, params: SendMessageRequest, context: ServerCallContext) -> Task | Message:
        """A non-blocking send: pre-configured values still go in; run-time demands reach the client."""
        run, request = BridgeRun.start(self._link, params, context)
        await run.prepare(request.message)
        answer = await send(run, request, run.extensions(), wait=False)
        event = stream_payload(answer)
        if isinstance(event, Task | Message):
            run.observe(event)
            run.clean(event)
            return event
        raise InvalidAgentResponseError(f"agent {self._link.slug!r} answered a send with a stream event")

    # Everything else: forward, clean ---------------------------------------------------------------

    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        """`tasks/resubscribe` / `SubscribeToTask`: the agent's events, cleaned."""
        self.check(params)
        run = BridgeRun(self._link, context)
        async with contextlib.aclosing(_guarded(run, self._subscribe(params, run))) as stream:
            async for event in stream:
                yield event

    async def _subscribe(self, params: SubscribeToTaskRequest, run: BridgeRun) -> AsyncGenerator[Event, None]:
        await run.recall((params.id,))
        await run.ensure_credentials(params.id, None)
        extensions = run.extensions()
        while True:
            started = False
            try:
                events = self._link.upstream.subscribe(params, extensions, credentials=run.credentials)
                async with contextlib.aclosing(events) as stream:
                    async for event in stream:
                        started = True
                        inner = stream_payload(event)
                        run.observe(inner, bind=False)
                        run.clean(inner)
                        yield inner
                return
            except Exception as exc:
                if not started and await run.retry_after(exc, params.id, call=True):
                    continue
                raise run.failure(exc) from None

    async def _unary(
        self,
        context: ServerCallContext,
        fn: Callable[[Client, ClientCallContext], Awaitable[_T]],
        task_id: str = "",
    ) -> tuple[_T, BridgeRun]:
        """A unary call (about `task_id`) with the credentials at hand, retried once after a refusal (an
        HTTP 401, or A2X's -32600)."""
        run = BridgeRun(self._link, context)
        await run.recall((task_id,))
        await run.ensure_credentials(None, None)
        while True:
            try:
                result = await self._link.upstream.call(fn, run.extensions(), credentials=run.credentials)
            except Exception as exc:
                if await run.retry_after(exc, call=True):
                    continue
                raise run.failure(exc) from None
            return result, run

    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task | None:
        """`tasks/get` / `GetTask`."""
        self.check(params)
        task, run = await self._unary(context, lambda c, ctx: c.get_task(params, context=ctx), params.id)
        run.observe(task, bind=False)
        run.clean(task)
        return task

    async def on_list_tasks(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        """`ListTasks` (1.0 only)."""
        self.check(params)
        tasks, run = await self._unary(context, lambda c, ctx: c.list_tasks(params, context=ctx))
        run.hide_earlier(tasks)
        run.observe(tasks, bind=False)
        run.clean(tasks)
        return tasks

    async def on_cancel_task(self, params: CancelTaskRequest, context: ServerCallContext) -> Task | None:
        """`tasks/cancel` / `CancelTask`."""
        self.check(params)
        task, run = await self._unary(context, lambda c, ctx: c.cancel_task(params, context=ctx), params.id)
        run.observe(task, bind=False)
        run.clean(task)
        return task

    async def on_get_extended_agent_card(
        self, params: GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> AgentCard:
        """The agent's extended card, rewritten to point at the bridge like the public one; an error
        for an agent without one (module docstring)."""
        self.check(params)
        if not self._link.upstream.extended_card:
            raise _no_extended_card(context)
        card, run = await self._unary(context, lambda c, ctx: c.get_extended_agent_card(params, context=ctx))
        card = self._bridged_card(card) if self._bridged_card is not None else card
        run.clean(card)
        return card

    # Push notifications would go from the agent straight to the client's webhook, around the
    # masking (agents echo the fulfilled message in task history), so the bridge offers none.

    async def on_create_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        """Refused: see above."""
        raise PushNotificationNotSupportedError(NO_PUSH)

    async def on_get_task_push_notification_config(
        self, params: GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        """Refused: see above."""
        raise PushNotificationNotSupportedError(NO_PUSH)

    async def on_list_task_push_notification_configs(
        self, params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> ListTaskPushNotificationConfigsResponse:
        """Refused: see above."""
        raise PushNotificationNotSupportedError(NO_PUSH)

    async def on_delete_task_push_notification_config(
        self, params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        """Refused: see above."""
        raise PushNotificationNotSupportedError(NO_PUSH)


async def _guarded(run: BridgeRun, events: AsyncGenerator[Event, None]) -> AsyncGenerator[Event, None]:
    """`events` (each cleaned already), with values split across events cut (chunks.py)."""
    guard = SplitGuard()
    async with contextlib.aclosing(events) as stream:
        async for event in stream:
            for out in guard.feed(event, run.cut(), force=event is run.own_event):
                yield out
    for out in guard.flush(run.cut()):
        yield out


def _no_extended_card(context: ServerCallContext) -> A2AError:
    """What an agent without an extended card answers, in the client's protocol version.

    a2a-sdk 0.3 agents answer `AuthenticatedExtendedCardNotConfiguredError` (-32007, spec 0.3 §7.10),
    a2a-sdk 1.x agents `UnsupportedOperationError` (-32004) for a card without the capability. A 1.0
    request carries `A2A-Version: 1.0`; without it the SDK serves the request as 0.3.
    """
    headers = context.state.get("headers") or {}
    version = str(headers.get("a2a-version") or headers.get("A2A-Version") or "0.3").strip()
    if version.startswith("1"):
        return UnsupportedOperationError(NO_EXTENDED_CARD)
    return ExtendedAgentCardNotConfiguredError(NO_EXTENDED_CARD)
