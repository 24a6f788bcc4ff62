"""Prompts on screen: one task per prompt, its deadline, coalesced waiters, and cooldown accounting.

The broker opens a prompt for a run (or joins one already open for the same agent and card whose keys
cover the run's), then waits on it. Each prompt runs as its own task so the runs waiting on it can come
and go: when the last one leaves before the user answered, the prompt is withdrawn (the prompter's `ask`
is cancelled). The desk owns the deadline (`asyncio.timeout`): an unanswered prompt declines every key
as `timed_out` and counts towards the agent's cooldown. An answer is applied once (values stored, grants
created, values read) and every waiting run gets the same result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from keybroker.core.broker.answer import AnswerApplier, Declined, Granted, GrantIds, Outcome
from keybroker.core.broker.prompts import PromptRequest, WaitersListener
from keybroker.core.broker.state import Cooldown, ValueCache
from keybroker.core.errors import VaultError
from keybroker.core.models import AuditDecision, Grant, GrantScope, SecretRecord, SecretValue
from keybroker.core.ports import Clock, Notifier, Prompter

log = logging.getLogger("keybroker.broker")

ValueReader = Callable[[str, bool], Awaitable[SecretValue | None]]
"""`read(secret_id, cache)`: the value from the cache or the vault (cached when `cache`)."""
AnswerHook = Callable[[PromptRequest, Mapping[str, Outcome]], None]


@dataclass(frozen=True, slots=True)
class Released:
    """An item the answer allowed, with its value read once for every waiting run."""

    secret: SecretRecord
    grant: Grant
    value: SecretValue = field(repr=False)


PromptOutcome = Released | Declined


@dataclass(frozen=True, slots=True)
class PromptResult:
    """Per asked key, what the prompt decided."""

    outcomes: Mapping[str, PromptOutcome]
    timed_out: bool = False


@dataclass(eq=False)
class OpenPrompt:
    """A prompt on screen (or queued by the prompter) and the number of runs waiting on it."""

    request: PromptRequest
    keys: frozenset[str]
    ids: GrantIds
    future: asyncio.Future[PromptResult]
    task: asyncio.Task[None] | None = None
    waiters: int = 1
    answered: bool = False


class PromptDesk:
    """Opens, shares, times out and withdraws prompts."""

    def __init__(
        self,
        *,
        prompter: Prompter,
        applier: AnswerApplier,
        read: ValueReader,
        cache: ValueCache,
        cooldown: Cooldown,
        clock: Clock,
        timeout: float,
        notifier: Notifier | None = None,
        on_answer: AnswerHook | None = None,
    ) -> None:
        self._prompter = prompter
        self._applier = applier
        self._read = read
        self._cache = cache
        self._cooldown = cooldown
        self._clock = clock
        self.timeout = timeout
        self._notifier = notifier
        self._on_answer = on_answer
        self._open: dict[str, list[OpenPrompt]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"PromptDesk(open={len(self.pending)})"

    @property
    def pending(self) -> tuple[PromptRequest, ...]:
        """Prompts waiting for the user now."""
        return tuple(p.request for prompts in self._open.values() for p in prompts)

    def join(self, slug: str, fingerprint: str, keys: frozenset[str]) -> OpenPrompt | None:
        """Wait on an open prompt of this agent and card that asks for at least `keys`, if there is one."""
        for prompt in self._open.get(slug, ()):
            if (
                prompt.request.agent.fingerprint == fingerprint
                and keys <= prompt.keys
                and not prompt.future.done()
            ):
                prompt.waiters += 1
                log.debug("a run joins prompt %s of %s", prompt.request.prompt_id, slug)
                self._waiters_changed(prompt)
                return prompt
        return None

    def open(self, request: PromptRequest, ids: GrantIds) -> OpenPrompt:
        """Put `request` before the user; the caller is its first waiter."""
        loop = asyncio.get_running_loop()
        prompt = OpenPrompt(
            request=request, keys=frozenset(request.keys), ids=ids, future=loop.create_future()
        )
        self._open.setdefault(request.agent.slug, []).append(prompt)
        task = loop.create_task(self._run(prompt), name=f"keybroker prompt {request.prompt_id}")
        prompt.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("prompt %s: %s asks for %s", request.prompt_id, request.agent.slug, ", ".join(request.keys))
        return prompt

    async def wait(self, prompt: OpenPrompt) -> PromptResult:
        """The prompt's result; a cancelled waiter leaves without cancelling the prompt for the others."""
        return await asyncio.shield(prompt.future)

    def leave(self, prompt: OpenPrompt) -> None:
        """A waiting run is done or gone; the last one to leave an unanswered prompt withdraws it."""
        prompt.waiters -= 1
        if prompt.future.done() or prompt.answered:
            return
        if prompt.waiters > 0:
            self._waiters_changed(prompt)
            return
        self._unregister(prompt)  # nobody may join a prompt being withdrawn
        if prompt.task is not None:
            log.info("prompt %s withdrawn: no run waits for it", prompt.request.prompt_id)
            prompt.task.cancel()

    async def aclose(self) -> None:
        """Withdraw every open prompt; waiting runs see their keys declined."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # The prompt's own task ------------------------------------------------------------------------

    async def _run(self, prompt: OpenPrompt) -> None:
        """Whatever happens, every waiting run gets a result."""
        try:
            result = await self._ask_and_apply(prompt)
        except BaseException:  # cancelled (withdrawn, shutdown): the waiters see their keys declined
            if not prompt.future.done():
                prompt.future.set_result(
                    declined_all(prompt.request, f"prompt {prompt.request.prompt_id} withdrawn")
                )
            raise
        else:
            prompt.future.set_result(result)
        finally:
            self._unregister(prompt)

    async def _ask_and_apply(self, prompt: OpenPrompt) -> PromptResult:
        request = prompt.request
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                answer = await self._prompter.ask(request)
        except TimeoutError as exc:
            if deadline.expired():
                return self._unanswered(request)
            log.warning("prompt %s failed: %s", request.prompt_id, type(exc).__name__, exc_info=True)
            return declined_all(request, f"prompt {request.prompt_id} failed ({type(exc).__name__})")
        except Exception as exc:
            log.warning("prompt %s failed: %s", request.prompt_id, type(exc).__name__, exc_info=True)
            return declined_all(request, f"prompt {request.prompt_id} failed ({type(exc).__name__})")
        prompt.answered = True
        self._cooldown.answered(request.agent.slug)
        log.info("prompt %s answered: %s", request.prompt_id, "allow" if answer.allow else "deny")
        try:
            outcomes = await self._applier.apply(request, answer, prompt.ids)
            if self._on_answer is not None:
                self._on_answer(request, outcomes)
            return PromptResult(await self._resolve(outcomes))
        except Exception as exc:
            log.error(
                "prompt %s: applying the answer failed: %s",
                request.prompt_id,
                type(exc).__name__,
                exc_info=True,
            )
            return declined_all(
                request, f"prompt {request.prompt_id}: the answer could not be applied ({type(exc).__name__})"
            )

    def _unanswered(self, request: PromptRequest) -> PromptResult:
        slug = request.agent.slug
        log.info("prompt %s for %s timed out", request.prompt_id, slug)
        if self._cooldown.unanswered(slug, self._clock.now()):
            minutes = self._cooldown.seconds / 60
            log.warning(
                "%s: %d prompts unanswered; its demands are declined for %g min",
                slug,
                self._cooldown.limit,
                minutes,
            )
            self._notify(
                "Keybroker: requests paused",
                f"{request.agent.name} ({slug}) asked {self._cooldown.limit} times without an answer; "
                f"its requests are declined for {minutes:g} min.",
            )
        detail = f"prompt {request.prompt_id} not answered within {request.timeout:g} s"
        outcomes = {k: Declined(AuditDecision.TIMED_OUT, detail, remember=True) for k in request.keys}
        return PromptResult(outcomes, timed_out=True)

    async def _resolve(self, outcomes: Mapping[str, Outcome]) -> dict[str, PromptOutcome]:
        """Read (once, for every waiting run) the values of the granted items."""
        resolved: dict[str, PromptOutcome] = {}
        for key, outcome in outcomes.items():
            resolved[key] = outcome if isinstance(outcome, Declined) else await self._value_of(outcome)
        return resolved

    async def _value_of(self, granted: Granted) -> PromptOutcome:
        keep = granted.grant.scope != GrantScope.ONCE
        sid = granted.secret.secret_id
        value = granted.value
        try:
            if value is None:
                value = await self._read(sid, keep)
            elif keep:
                self._cache.put(sid, value, self._cache.generation(sid))
        except VaultError as exc:
            return Declined(AuditDecision.DENIED, f"the vault failed: {exc.message}")
        if value is None:
            return Declined(AuditDecision.DENIED, "the vault holds no value for it")
        return Released(granted.secret, granted.grant, value)

    def _waiters_changed(self, prompt: OpenPrompt) -> None:
        """Tell a prompter that shows it how many runs wait on `prompt`."""
        if not isinstance(self._prompter, WaitersListener):
            return
        try:
            self._prompter.waiters_changed(prompt.request.prompt_id, prompt.waiters)
        except Exception:  # a count on screen must never break a run
            log.warning("the prompter failed to take the waiters' count", exc_info=True)

    def _unregister(self, prompt: OpenPrompt) -> None:
        slug = prompt.request.agent.slug
        prompts = self._open.get(slug, [])
        if prompt in prompts:
            prompts.remove(prompt)
        if not prompts:
            self._open.pop(slug, None)

    def _notify(self, title: str, body: str) -> None:
        if self._notifier is None:
            return
        try:
            self._notifier.notify(title, body)
        except Exception:  # a notice must never break a release decision
            log.warning("the notifier failed", exc_info=True)


def declined_all(request: PromptRequest, detail: str) -> PromptResult:
    """Every key of `request` declined (not remembered for the run: the user did not decline)."""
    return PromptResult({k: Declined(AuditDecision.DENIED, detail) for k in request.keys})
