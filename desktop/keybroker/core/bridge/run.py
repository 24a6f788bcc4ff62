# SPDX-License-Identifier: Apache-2.0
"""One bridged request, start to end: pre-flight, forward, interrupt, prompt, resume, cut.

Longer than 300 lines because the resume loop and each step it takes read best side by side.

`BridgeRun.events(leg)` is the one resume loop. A *leg* is one upstream exchange for one request:
`stream_leg` follows the agent's stream (legs.py drains it after an answerable `auth-required`),
`send_leg` is one blocking send (1.x agents return at every interrupt). Each leg yields the agent's
events as `(event, None)`, and last, when the agent stopped to ask for something the bridge can
give, `(event, Interrupt)`. The loop then:
- secret demands (Agent Stack secrets extension): asks the broker (`fulfil(phase="runtime")`) for
  the keys not declined, answered or fulfilled by the client in this run; granted values resume the
  task (same taskId and contextId, PROTOCOL pitfall 2). When nothing is granted (declined, timed
  out), a client that speaks the extension (it asked for it, or fulfilled keys itself) gets the
  agent's `auth-required` unchanged, so it can answer by itself; any other client would be stuck
  there, so the task is resumed with no value for the declined keys and the agent's own fallback
  runs (seed 000's "No ... key provided", PROTOCOL pitfall 27), once per key;
- a refusal of the card credentials (`auth-required` without demands: how A2X servers answer a bad
  or missing credential, PROTOCOL pitfall 28): asks again once (scheme_auth.py) and re-sends the
  same request on a new upstream exchange (a stream on a new stream), as A2X's client does, or
  hands the refusal over. (An HTTP 401, and `-32600` on a call that is not a send, are retried the
  same way by legs.py and handler.py.)
- a sign-in the agent runs itself (Agent Stack's OAuth extension: `auth-required` with an
  authorization URL, for a run whose first message the bridge fulfilled with its own callback): the
  user is asked and the browser opened, and the redirect resumes the task; declined, the task is
  cancelled (oauth_flow.py). The client never sees the agent's request nor the redirect.
A release the broker could not audit (`AuditWriteError`: nothing was released) ends the request with
an A2A internal error that says so (`unaudited`), never a silent decline.
Every event the client gets is reported to a `TaskWatch` broker (task_trail.py) and cleaned: every
`secret_fulfillments` value masked and every value released to the agent cut (masking.py, cutting.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from a2a.types import ListTasksResponse, Message, SendMessageRequest, StreamResponse
from a2a.utils.errors import (
    InternalError,
    InvalidAgentResponseError,
    InvalidParamsError,
    PushNotificationNotSupportedError,
    UnsupportedOperationError,
)

from keybroker.core.a2a.credentials import Credentials, scheme_demand
from keybroker.core.a2a.demand import SECRETS_EXTENSION_URI
from keybroker.core.a2a.oauth_demand import OAUTH_EXTENSION_URI
from keybroker.core.bridge.agent_errors import AgentUnreachableError
from keybroker.core.bridge.cutting import clean_proto, scrub_quoted
from keybroker.core.bridge.forms import Cut
from keybroker.core.bridge.model_flow import preflight_models, watch_model_tasks
from keybroker.core.bridge.oauth_callback import OAuthCallback
from keybroker.core.bridge.oauth_flow import (
    ParkedCallbacks,
    SignInRequest,
    declined_answer,
    follow_task,
    open_callback,
    release_callback,
    resume_request,
    sign_in,
    sign_in_request,
)
from keybroker.core.bridge.oauth_flow import waiting_status as sign_in_waiting
from keybroker.core.bridge.ports import (
    AgentSignIn,
    CallerLookup,
    GrantedRelease,
    ModelSource,
    Phase,
    ReleaseHistory,
    SecretSource,
    TaskWatch,
)
from keybroker.core.bridge.released import Recall, ValueForms
from keybroker.core.bridge.run_state import RunSecrets, RunState
from keybroker.core.bridge.scheme_auth import AuthCall, SchemeAuth
from keybroker.core.bridge.secrets_flow import (
    RuntimeDemand,
    auth_required_ids,
    client_fulfilled_keys,
    client_fulfilment_problem,
    inject_fulfilments,
    resume_message,
    runtime_demand,
    waiting_status,
)
from keybroker.core.bridge.task_trail import observe, task_states
from keybroker.core.bridge.upstream import (
    Upstream,
    is_refused_call,
    is_unauthorized,
    unreachable,
    upstream_error,
)
from keybroker.core.errors import AuditWriteError, InvalidDemandError, KeybrokerError
from keybroker.core.models import AgentRecord, SecretDemand, SecretValue

if TYPE_CHECKING:
    from a2a.server.context import ServerCallContext
    from a2a.server.events.event_queue import Event
    from a2a.utils.errors import A2AError
    from google.protobuf.message import Message as ProtoMessage  # type: ignore[import-untyped]

__all__ = ["NO_PUSH", "AgentLink", "BridgeRun", "Interrupt", "Leg"]

log = logging.getLogger("keybroker.bridge")

NO_PUSH = "the Keybroker bridge offers no push notifications (they would bypass its secret masking)"


@dataclass(frozen=True)
class AgentLink:
    """One agent's side of every run: who it is, how to reach it, who answers its demands."""

    agent: AgentRecord
    upstream: Upstream
    secrets: SecretSource
    auth: SchemeAuth
    #: The values released to this agent, shared by every handler serving its slug (app.py).
    released: ValueForms
    callers: CallerLookup | None = None
    tasks: TaskWatch | None = None
    #: The values released to this agent before this process or the last lock (released.py).
    recall: Recall | None = None
    #: Who answers the card's model demands, and the port the model gateway is on (issue 14).
    models: ModelSource | None = None
    gateway_port: int = 0
    #: Who asks the user for a sign-in the agent runs itself (Agent Stack's OAuth extension).
    sign_ins: AgentSignIn | None = None
    #: Callbacks of this agent's tasks that wait for their client's next turn (oauth_flow.py).
    oauth_parked: ParkedCallbacks = field(default_factory=ParkedCallbacks)

    @property
    def slug(self) -> str:
        """The agent's slug."""
        return self.agent.slug

    # Checked once per link, not per request: isinstance on a runtime-checkable Protocol walks its
    # members each time (issue 16: two per granted send).
    @cached_property
    def granted(self) -> GrantedRelease | None:
        """`secrets` when it releases on grants in one call (the fast path's source), else None."""
        return self.secrets if isinstance(self.secrets, GrantedRelease) else None

    @cached_property
    def history(self) -> ReleaseHistory | None:
        """`secrets` when it can say what it released before (released.py's `Recall`), else None."""
        return self.secrets if isinstance(self.secrets, ReleaseHistory) else None


@dataclass(frozen=True)
class Interrupt:
    """An `auth-required` the bridge answers: secret demands, or (`credentials`) a refusal of them."""

    demand: RuntimeDemand
    credentials: bool = False
    #: The agent asks the user to sign in (Agent Stack's OAuth extension, oauth_flow.py).
    sign_in: SignInRequest | None = None


#: `leg(run, request, extensions)`: the agent's answer to one upstream exchange (module docstring).
Leg = Callable[
    ["BridgeRun", SendMessageRequest, set[str]], AsyncGenerator[tuple["Event", "Interrupt | None"], None]
]


class BridgeRun:
    """One client request (see the module docstring); `state` is all it remembers."""

    def __init__(
        self, link: AgentLink, context: ServerCallContext, client_keys: frozenset[str] = frozenset()
    ) -> None:
        self.link = link
        self.state = RunState(context, secrets=RunSecrets(client_keys=client_keys))
        #: The last event the bridge made itself (the `working` status it sends while it waits): sent
        #: at once, never held back by the stream's cut (chunks.py).
        self.own_event: Event | None = None
        #: The rebuild of earlier releases this run was checked against (`recall`).
        self.recall_epoch = -1
        #: Model demands (model_flow.py): extensions fulfilled, and whether this run minted tokens.
        self.model_extensions: set[str] = set()
        self.models_minted = False
        self.models_bound = False
        #: The run's callback for Agent Stack's OAuth extension, while it listens (oauth_flow.py).
        self.oauth: OAuthCallback | None = None
        #: The task that callback serves, and whether it ended (kept for its next turn when not).
        self.oauth_task: tuple[str, bool] | None = None

    @classmethod
    def start(
        cls, link: AgentLink, params: SendMessageRequest, context: ServerCallContext
    ) -> tuple[BridgeRun, SendMessageRequest]:
        """A run for a send: the client's own fulfilments checked, push configs refused, a copy to edit."""
        problem = client_fulfilment_problem(params.message)
        if problem is not None:
            raise InvalidParamsError(problem)
        if params.configuration.HasField("task_push_notification_config"):
            raise PushNotificationNotSupportedError(NO_PUSH)
        request = SendMessageRequest()
        request.CopyFrom(params)
        return cls(link, context, client_fulfilled_keys(request.message)), request

    # The resume loop ---------------------------------------------------------------------------

    async def events(
        self,
        params: SendMessageRequest,
        request: SendMessageRequest,
        leg: Leg,
        *,
        interactive: bool,
        prepared: bool = False,
    ) -> AsyncGenerator[Event, None]:
        """The agent's events for `request`, demands answered and the task resumed on the way.

        `interactive`: a streaming client, told with a `working` status what the bridge waits for.
        `prepared`: the pre-flight ran already (fast_handover.py takes a run over mid-way).
        """
        try:
            async with contextlib.aclosing(
                self._resume_loop(params, request, leg, interactive=interactive, prepared=prepared)
            ) as events:
                async for event in events:
                    if self.oauth is not None:
                        self.oauth_task = follow_task(self.oauth_task, event)
                    yield event
        finally:
            await release_callback(self)  # parked for the task's next turn, or closed

    async def _resume_loop(
        self,
        params: SendMessageRequest,
        request: SendMessageRequest,
        leg: Leg,
        *,
        interactive: bool,
        prepared: bool,
    ) -> AsyncGenerator[Event, None]:
        request.configuration.return_immediately = False
        if not prepared:
            await self.prepare(request.message)
            await open_callback(self, request.message)
        extensions = self.extensions()
        while True:
            pending: tuple[Event, Interrupt] | None = None
            shown = False  # whether the client saw anything of this exchange
            async for event, interrupt in leg(self, request, extensions):
                if interrupt is not None:
                    pending = (event, interrupt)
                    break
                self.observe(event)
                self.clean(event)
                shown = True
                yield event
            if pending is None:
                return
            event, interrupt = pending
            demand = interrupt.demand
            if interrupt.sign_in is not None:
                self.observe(event)
                if interactive and shown:
                    self.own_event = sign_in_waiting(interrupt.sign_in)
                    yield self.own_event
                callback = await sign_in(self, interrupt.sign_in)
                if callback is not None:
                    self.state.secrets.resumes += 1
                    request = resume_request(interrupt.sign_in, callback, params)
                    continue
                answer = await declined_answer(self, interrupt.sign_in, extensions)
                self.observe(answer)
                self.clean(answer)
                yield answer
                return
            if interrupt.credentials:
                if interactive and shown:
                    yield self._waiting(demand)
                if await self.refresh_credentials(demand.task_id, demand.context_id):
                    continue  # the same request again; the refused task is left behind
                self.observe(event)
            else:
                self.observe(event)
                asked = self.answerable(demand)
                if interactive and asked:
                    yield self._waiting(RuntimeDemand(demand.task_id, demand.context_id, tuple(asked)))
                granted = await self.answer(demand) if asked else {}
                extensions.add(SECRETS_EXTENSION_URI)
                if granted or self.resume_declined(demand):
                    request = self.resume(demand, granted, params)
                    continue
            self.clean(event)
            yield event  # declined, timed out or not given again: the agent's auth-required
            return

    def _waiting(self, demand: RuntimeDemand) -> Event:
        """The bridge's own `working` status saying what it waits for (never held back: chunks.py)."""
        self.own_event = waiting_status(demand)
        return self.own_event

    def interrupt(self, event: StreamResponse) -> Interrupt | None:
        """What in `event` the bridge answers itself, if anything."""
        asked = sign_in_request(self, event) if not self.state.secrets.exhausted else None
        if asked is not None:
            return Interrupt(RuntimeDemand(asked.task_id, asked.context_id, ()), sign_in=asked)
        demand = self._demand_in(event)
        if demand is None:
            return self._credential_interrupt(event)
        answerable = self.answerable(demand) or self.resume_declined(demand)
        return Interrupt(demand) if answerable else None

    @property
    def speaks_secrets(self) -> bool:
        """True when the client speaks the secrets extension: it asked for it, or fulfilled keys itself."""
        secrets = self.state.secrets
        return bool(secrets.client_keys) or SECRETS_EXTENSION_URI in self.state.context.requested_extensions

    def resume_declined(self, demand: RuntimeDemand) -> bool:
        """True when `demand`, with what was not granted left out, resumes the task (module docstring)."""
        secrets = self.state.secrets
        if self.speaks_secrets or secrets.exhausted:
            return False
        return any(d.key not in secrets.resumed_without for d in demand.demands)

    def answerable(self, demand: RuntimeDemand) -> list[SecretDemand]:
        """The demands of `demand` this run may still ask the broker for."""
        secrets = self.state.secrets
        if not self.link.upstream.secrets_allowed or secrets.exhausted:
            return []
        skip = secrets.skip()
        return [d for d in demand.demands if d.key not in skip]

    async def answer(self, demand: RuntimeDemand) -> dict[str, SecretValue]:
        """Fulfil the answerable part of a run-time demand; empty when nothing was granted."""
        ask = self.answerable(demand)
        self.state.secrets.answered |= {d.key for d in ask}
        return await self.fulfil(ask, phase="runtime", task_id=demand.task_id, context_id=demand.context_id)

    def resume(
        self, demand: RuntimeDemand, granted: dict[str, SecretValue], params: SendMessageRequest
    ) -> SendMessageRequest:
        """The message that resumes the task with `granted`; the keys it leaves out are remembered."""
        self.resuming(demand, granted)
        message = resume_message(demand.task_id, demand.context_id, granted)
        request = SendMessageRequest(message=message)
        request.configuration.CopyFrom(params.configuration)
        request.configuration.return_immediately = False
        return request

    def resuming(self, demand: RuntimeDemand, granted: Mapping[str, SecretValue]) -> None:
        """Count a resume of `demand` with `granted` (the bound), and remember the keys it leaves out
        (fast_resume.py resumes as JSON and records it here too)."""
        secrets = self.state.secrets
        secrets.resumes += 1
        secrets.resumed_without |= {d.key for d in demand.demands} - granted.keys()

    def _demand_in(self, event: StreamResponse) -> RuntimeDemand | None:
        try:
            return runtime_demand(event)
        except InvalidDemandError as exc:
            # The problem quotes the agent's key (cut short), which may hold a value it was given.
            problem = scrub_quoted(str(exc), self.cut())
            raise InvalidAgentResponseError(
                f"agent {self.link.slug!r} sent a malformed secret demand: {problem}"
            ) from None

    def _credential_interrupt(self, event: StreamResponse) -> Interrupt | None:
        """An `auth-required` without secret demands: the agent refused the card credentials."""
        auth, state = self.link.auth, self.state
        if not auth.active or state.auth.retried or state.secrets.exhausted:
            return None
        ids = auth_required_ids(event)
        if ids is None:
            return None
        wanted = state.auth.current.schemes if state.auth.current else auth.alternatives[0]
        demands = tuple(scheme_demand(s) for s in wanted)
        return Interrupt(RuntimeDemand(ids[0], ids[1], demands), credentials=True)

    # Secrets and credentials -------------------------------------------------------------------

    async def prepare(self, message: Message) -> None:
        """Before the first upstream call: earlier releases recalled, the credentials at hand, and
        pre-flight fulfilment.

        Neither is asked for (no prompt, no value released and audited) unless the agent answers: a
        dead agent is told to the client at once (`AgentUnreachableError`, probe.py)."""
        await self.recall((message.task_id, *message.reference_task_ids), message.context_id)
        wanted = self._preflight_demands(message)
        models = self.link.models is not None and bool(self.link.agent.model_demands) and not message.task_id
        if wanted or models:
            await self._agent_answers()
        await self.ensure_credentials(message.task_id, message.context_id)
        await self._preflight(message, wanted)
        if models:
            try:
                self.model_extensions = await preflight_models(self, message, self.link.gateway_port)
            except AuditWriteError as exc:
                raise unaudited(exc) from None

    async def _agent_answers(self) -> None:
        if not await self.link.upstream.answers():
            log.warning("agent %r does not answer: nothing asked for or released", self.link.slug)
            raise AgentUnreachableError(unreachable(self.link.slug))

    def _preflight_demands(self, message: Message) -> list[SecretDemand]:
        """The card's demands to fulfil before a message that creates a task is forwarded."""
        agent = self.link.agent
        if message.task_id or not agent.demands or not self.link.upstream.secrets_allowed:
            return []
        client_keys = self.state.secrets.client_keys
        return [d for d in agent.demands if d.key not in client_keys]

    async def _preflight(self, message: Message, wanted: list[SecretDemand]) -> None:
        """Put granted values for the card's demands into a message that creates a task."""
        if not wanted:
            return
        granted = await self.fulfil(
            wanted, phase="preflight", task_id=None, context_id=message.context_id or None
        )
        inject_fulfilments(message, granted)

    async def fulfil(
        self, demands: list[SecretDemand], *, phase: Phase, task_id: str | None, context_id: str | None
    ) -> dict[str, SecretValue]:
        """Granted values for `demands` (a failing broker counts as a decline); records the outcome."""
        keys = {d.key for d in demands}
        caller = await self.caller()
        try:
            answer = await self.link.secrets.fulfil(
                self.link.agent,
                demands,
                phase=phase,
                task_id=task_id,
                context_id=context_id,
                run_id=self.state.run_id,
                caller=caller,
            )
            granted = {k: v for k, v in answer.values.items() if k in keys and isinstance(v, SecretValue)}
        except AuditWriteError as exc:
            raise unaudited(exc) from None
        except KeybrokerError as exc:
            log.warning("agent %r: secrets not fulfilled (%s): %s", self.link.slug, phase, exc.message)
            granted = {}
        secrets = self.state.secrets
        secrets.declined |= keys - granted.keys()
        secrets.injected.update(granted)
        self.remember(granted.values())
        return granted

    async def ensure_credentials(self, task_id: str | None, context_id: str | None) -> None:
        """The card credentials at hand for this run (looked up once per run)."""
        auth = self.state.auth
        if auth.checked or not self.link.auth.active:
            return
        await self._agent_answers()  # nothing released for a dead agent (kept a moment: cheap again)
        auth.checked = True
        try:
            self._use(await self.link.auth.at_hand(self._auth_call("preflight", task_id, context_id)))
        except AuditWriteError as exc:
            raise unaudited(exc) from None

    async def refresh_credentials(self, task_id: str | None, context_id: str | None) -> bool:
        """The agent refused: ask again (once per run). True when there is something new to retry with."""
        auth = self.state.auth
        if auth.retried or not self.link.auth.active:
            return False
        auth.retried = True
        try:
            call = self._auth_call("runtime", task_id, context_id)
            found = await self.link.auth.refresh(auth.current, call)
        except AuditWriteError as exc:
            raise unaudited(exc) from None
        if found is None:
            log.info("agent %r refused its credentials and none were given again", self.link.slug)
            return False
        self._use(found)
        return True

    async def retry_after(self, exc: Exception, task_id: str | None = None, *, call: bool = False) -> bool:
        """True when `exc` refused the credentials and fresh ones were given: worth one retry.

        A refusal is an HTTP 401, or (`call`: not a send) JSON-RPC `-32600`, A2X's way (pitfall 28).
        """
        refused = is_unauthorized(exc) or (call and is_refused_call(exc))
        return refused and await self.refresh_credentials(task_id, None)

    @property
    def credentials(self) -> Credentials | None:
        """What to send the agent with each upstream request."""
        return self.state.auth.current

    def _use(self, credentials: Credentials | None) -> None:
        self.state.auth.current = credentials
        if credentials is not None:
            self.remember(credentials.released())

    def _auth_call(self, phase: Phase, task_id: str | None, context_id: str | None) -> AuthCall:
        return AuthCall(phase, task_id or None, context_id or None, self.state.run_id, self.caller)

    async def caller(self) -> str | None:
        """The calling process, looked up once per run and only when a value is about to be released."""
        state, callers = self.state, self.link.callers
        if not state.caller_known:
            if callers is not None:
                known, state.caller = callers.remembered(state.context)
                if not known:  # reads /proc on Linux: off the loop
                    state.caller = await asyncio.to_thread(callers.lookup, state.context)
            state.caller_known = True
        return state.caller

    def extensions(self) -> set[str]:
        """The extensions to announce upstream: the client's, and secrets once any are in play."""
        requested = set(self.state.context.requested_extensions)
        if self.state.secrets.injected or self.state.secrets.client_keys:
            requested.add(SECRETS_EXTENSION_URI)
        if self.oauth is not None:
            requested.add(OAUTH_EXTENSION_URI)
        return requested | self.model_extensions

    # What goes back to the client --------------------------------------------------------------

    async def recall(self, tasks: Iterable[str] = (), context: str = "") -> None:
        """Before asking the agent: the values released to it before this process or the last lock
        are known again (released.py's `Recall`), or, when they cannot all be, a question about a
        task or conversation from before is refused (the answer could not be cut)."""
        recall = self.link.recall
        if recall is None:
            return
        self.recall_epoch = await recall.ensure(self.link.history, self.link.slug)
        problem = recall.refusal(tasks, context)
        if problem is not None:
            log.info("agent %r: refused an answer about earlier work", self.link.slug)
            raise UnsupportedOperationError(f"agent {self.link.slug!r}: {problem}")

    def hide_earlier(self, listing: ListTasksResponse) -> None:
        """Leave out of a task list the tasks the bridge may not answer about (`recall`)."""
        recall = self.link.recall
        if recall is None:
            return
        kept = [t for t in listing.tasks if recall.refusal((t.id,), t.context_id) is None]
        if len(kept) == len(listing.tasks):
            return
        listing.total_size = max(0, listing.total_size - (len(listing.tasks) - len(kept)))
        del listing.tasks[:]
        listing.tasks.extend(kept)

    def remember(self, values: Iterable[SecretValue]) -> None:
        """Values released in this run: the agent may echo them in this answer or any later one."""
        for value in values:
            entry = self.link.released.add(value)
            if entry is not None:
                self.state.cut.own.include(entry)

    def cut(self) -> Cut:
        """What to cut from the agent's answers: every value released to it, and this run's own."""
        return self.state.cut.with_known(self.link.released)

    def clean(self, payload: ProtoMessage) -> None:
        """Mask every fulfilment (earlier ones come back in task history) and cut every released value."""
        clean_proto(payload, self.cut())

    def observe(self, event: object, *, bind: bool = True) -> None:
        """Report ids and task ends to a `TaskWatch` broker (`bind` False: a call that is not a run);
        remember the ids as seen since the last rebuild of earlier releases."""
        if self.link.recall is not None:
            for task_id, context_id, _ in task_states(event):
                self.link.recall.know(self.recall_epoch, task_id, context_id)
        if self.link.tasks is not None:
            observe(self.link.tasks, self.link.slug, event, self.state if bind else None)
        if self.link.models is not None:
            watch_model_tasks(self.link.models, self, event)

    def failure(self, exc: Exception) -> A2AError:
        """`exc` as a clean A2A error naming the agent, with nothing released in it."""
        error = upstream_error(exc, self.link.slug, self.cut())
        log.warning("agent %r: %s", self.link.slug, error.message)
        return error


def unaudited(exc: AuditWriteError) -> InternalError:
    """The client's error when the broker could not audit a release, so released nothing (fail closed)."""
    hint = f" ({exc.hint})" if exc.hint else ""
    return InternalError(f"Keybroker: {exc.message}{hint}")
