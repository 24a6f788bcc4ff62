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
  task (same taskId and contextId, PROTOCOL pitfall 2), a decline or timeout hands the agent's
  `auth-required` to the client unchanged;
- a refusal of the card credentials (`auth-required` without demands): asks again once
  (scheme_auth.py) and resumes with the new credentials, or hands the refusal over.
Every event the client gets is reported to a `TaskWatch` broker (task_trail.py) and cleaned: every
`secret_fulfillments` value masked and every value released to the agent cut (masking.py, cutting.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from a2a.types import Message, SendMessageRequest, StreamResponse
from a2a.utils.errors import InvalidAgentResponseError, InvalidParamsError, PushNotificationNotSupportedError

from keybroker.core.a2a.credentials import Credentials, scheme_demand
from keybroker.core.a2a.demand import SECRETS_EXTENSION_URI
from keybroker.core.bridge.agent_errors import AgentUnreachableError
from keybroker.core.bridge.cutting import clean_proto, scrub_quoted
from keybroker.core.bridge.forms import Cut
from keybroker.core.bridge.ports import CallerLookup, Phase, SecretSource, TaskWatch
from keybroker.core.bridge.released import ValueForms
from keybroker.core.bridge.run_state import RunSecrets, RunState
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
from keybroker.core.bridge.task_trail import observe
from keybroker.core.bridge.upstream import Upstream, is_unauthorized, unreachable, upstream_error
from keybroker.core.errors import InvalidDemandError, KeybrokerError
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

    @property
    def slug(self) -> str:
        """The agent's slug."""
        return self.agent.slug


@dataclass(frozen=True)
class Interrupt:
    """An `auth-required` the bridge answers: secret demands, or (`credentials`) a refusal of them."""

    demand: RuntimeDemand
    credentials: bool = False


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
        self, params: SendMessageRequest, request: SendMessageRequest, leg: Leg, *, interactive: bool
    ) -> AsyncGenerator[Event, None]:
        """The agent's events for `request`, demands answered and the task resumed on the way.

        `interactive`: a streaming client, told with a `working` status what the bridge waits for.
        """
        request.configuration.return_immediately = False
        await self.prepare(request.message)
        extensions = self.extensions()
        while True:
            pending: tuple[Event, Interrupt] | None = None
            async for event, interrupt in leg(self, request, extensions):
                if interrupt is not None:
                    pending = (event, interrupt)
                    break
                self.observe(event)
                self.clean(event)
                yield event
            if pending is None:
                return
            event, interrupt = pending
            self.observe(event)
            demand, credentials = interrupt.demand, interrupt.credentials
            if interactive:
                asked = demand.demands if credentials else tuple(self.answerable(demand))
                yield waiting_status(RuntimeDemand(demand.task_id, demand.context_id, asked))
            if credentials:
                granted: dict[str, SecretValue] = {}
                given = await self.refresh_credentials(demand.task_id, demand.context_id)
            else:
                granted = await self.answer(demand)
                given = bool(granted)
                extensions.add(SECRETS_EXTENSION_URI)
            if not given:
                self.clean(event)
                yield event  # declined, timed out or not given again: the agent's auth-required
                return
            request = self.resume(demand, granted, params, credentials=credentials)

    def interrupt(self, event: StreamResponse) -> Interrupt | None:
        """What in `event` the bridge answers itself, if anything."""
        demand = self._demand_in(event)
        if demand is None:
            return self._credential_interrupt(event)
        return Interrupt(demand) if self.answerable(demand) else None

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
        self,
        demand: RuntimeDemand,
        granted: dict[str, SecretValue],
        params: SendMessageRequest,
        *,
        credentials: bool = False,
    ) -> SendMessageRequest:
        """The message that resumes the task with `granted` (or with fresh credentials)."""
        self.state.secrets.resumes += 1
        text = CREDENTIALS_TEXT if credentials else RESUME_TEXT
        message = resume_message(demand.task_id, demand.context_id, granted, text=text)
        request = SendMessageRequest(message=message)
        request.configuration.CopyFrom(params.configuration)
        request.configuration.return_immediately = False
        return request

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
        """Before the first upstream call: the credentials at hand, and pre-flight fulfilment.

        Neither is asked for (no prompt, no value released and audited) unless the agent answers: a
        dead agent is told to the client at once (`AgentUnreachableError`, probe.py)."""
        wanted = self._preflight_demands(message)
        if wanted:
            await self._agent_answers()
        await self.ensure_credentials(message.task_id, message.context_id)
        await self._preflight(message, wanted)

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
        self._use(await self.link.auth.at_hand(self._auth_call("preflight", task_id, context_id)))

    async def refresh_credentials(self, task_id: str | None, context_id: str | None) -> bool:
        """The agent refused: ask again (once per run). True when there is something new to retry with."""
        auth = self.state.auth
        if auth.retried or not self.link.auth.active:
            return False
        auth.retried = True
        found = await self.link.auth.refresh(auth.current, self._auth_call("runtime", task_id, context_id))
        if found is None:
            log.info("agent %r refused its credentials and none were given again", self.link.slug)
            return False
        self._use(found)
        return True

    async def retry_after(self, exc: Exception, task_id: str | None = None) -> bool:
        """True when `exc` is an HTTP 401 worth one retry with fresh credentials."""
        return is_unauthorized(exc) and await self.refresh_credentials(task_id, None)

    @property
    def credentials(self) -> Credentials | None:
        """What to send the agent with each upstream request."""
        return self.state.auth.current

    def _use(self, credentials: Credentials | None) -> None:
        self.state.auth.current = credentials
        if credentials is not None:
            self.remember(value for _, value in credentials.items)

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
        return requested

    # What goes back to the client --------------------------------------------------------------

    def remember(self, values: Iterable[SecretValue]) -> None:
        """Values released in this run: the agent may echo them in this answer or any later one."""
        for value in values:
            entry = self.link.released.add(value)
            if entry is not None:
                self.state.cut.own.include(entry)

    def cut(self) -> Cut:
        """What to cut from the agent's answers: every value released to it, and this run's own."""
        return self.state.cut.with_known(self.link.released.cut())

    def clean(self, payload: ProtoMessage) -> None:
        """Mask every fulfilment (earlier ones come back in task history) and cut every released value."""
        clean_proto(payload, self.cut())

    def observe(self, event: object, *, bind: bool = True) -> None:
        """Report ids and task ends to a `TaskWatch` broker (`bind` False: a call that is not a run)."""
        if self.link.tasks is not None:
            observe(self.link.tasks, self.link.slug, event, self.state if bind else None)

    def failure(self, exc: Exception) -> A2AError:
        """`exc` as a clean A2A error naming the agent, with nothing released in it."""
        error = upstream_error(exc, self.link.slug, self.cut())
        log.warning("agent %r: %s", self.link.slug, error.message)
        return error

