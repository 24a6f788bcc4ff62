"""The use case: an agent demands secrets -> policy -> the user if needed -> vault -> audit (DESIGN §2-§4).

Longer than 300 lines because the rules below are stated once, here, and `Broker` is the one facade the
bridge, the API and the app call; its steps are triage.py, prompt_request.py, desk.py, answer.py and
fulfilment.py.

`Broker.fulfil` takes every demand of one run (pre-flight from the card, or run time from an
`auth-required` status) and answers with the values it may release and the keys it declined:

- each demand goes through `policy.decide`: Allow (release on an existing grant; a ONCE grant is spent),
  Deny (a rule said no, audited with its reason) or Ask;
- every Ask of the run goes into ONE prompt. The broker owns its deadline (`BrokerConfig.prompt_timeout`)
  and cancels the prompter when it passes: every asked key is then declined and audited `timed_out`;
- coalescing: a run whose asked keys are a subset of a prompt already on screen for the same agent (and
  card) waits for that prompt instead of opening another, so 200 concurrent runs demanding the same key
  see one prompt. The waiters share the one answer: each gets the value released once (audited per
  waiter with its own task id), and the grant the answer creates is bound to the task and conversation
  of the run that opened the prompt. A ONCE answer thus lets each waiting run have the value once;
- cooldown: after `unanswered_limit` prompts from one agent in a row went unanswered, that agent's
  demands that would prompt are declined unasked (audited `denied`, detail "cooldown") for
  `cooldown_seconds`, and the `Notifier` is told once;
- declined in this run: a key the user declined (or did not answer) in a run is declined unasked when the
  same run demands it again (INTERFACES.md). Runs are keyed by `run_id`, else `task_id`;
- pre-flight has no task id yet: a TASK or CONVERSATION answer is then bound to a placeholder for the run
  and rebound to the real ids when the same `run_id` comes back with them (`bind_run`);
- granted values are cached in memory while a grant other than ONCE covers them, and dropped on `lock`,
  `forget` (value updated or removed) or when their grants end; `on_lock` listeners (the bridge's
  memory of released values) are told after each lock;
- `fulfil_if_granted` is the bridge's fast path in one call: every demand released on a grant it
  holds, or nothing at all (None: a prompt or a rule is needed, the caller takes `fulfil`'s way).
  Its events are group-committed (audit/group.py) and refused there when the catalog changed since
  the decision, so a revoke never slips between the two. Decisions read the catalog only when it
  changed (policy_inputs.py), and are remembered until it, a lock or the clock changes what they
  rest on (decision_memo.py);
- fail closed on the audit: a value is released only once its `released` event is on the disk; when
  it cannot be written (a full disk) `fulfil` raises `AuditWriteError`, nothing of the run is released,
  and the `Notifier` is told (once, until a release is audited again);
- what was released to an agent before can be read back (`released_before`, release_history.py), for
  the bridge to cut it from answers about earlier tasks after a restart or a lock;
- a "this task" grant ends when the bridge sees its task reach a terminal state (`task_ended`: completed,
  failed, canceled, rejected; audited `revoked`), and at the latest `grant_rules.TASK_GRANT_CEILING` after
  it was given, for a task that is never seen to end.

No value is ever logged, audited, raised or shown in a repr: values only travel inside `SecretValue`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from keybroker.core.audit.group import GroupCommit
from keybroker.core.audit.log import AuditLog
from keybroker.core.broker.answer import AnswerApplier, Declined, Granted, Outcome
from keybroker.core.broker.desk import OpenPrompt, PromptDesk, PromptResult, Released
from keybroker.core.broker.fulfilment import Fulfilment, RunContext, Tally
from keybroker.core.broker.grant_book import GrantBook
from keybroker.core.broker.grant_rules import grant_expired
from keybroker.core.broker.policy import Allow, Ask
from keybroker.core.broker.prompt_request import build_prompt_request, is_first_contact
from keybroker.core.broker.prompts import Phase, PromptRequest
from keybroker.core.broker.release_history import PastReleases, past_releases
from keybroker.core.broker.run_grants import RunGrants
from keybroker.core.broker.state import Cooldown, RunMemory, ValueCache
from keybroker.core.broker.triage import Triage
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import (
    AuditWriteError,
    InvalidInputError,
    KeybrokerError,
    VaultError,
    VaultLocked,
    VaultUnavailable,
)
from keybroker.core.models import (
    TERMINAL_TASK_STATES,
    AgentRecord,
    AuditDecision,
    Grant,
    GrantScope,
    SecretDemand,
    SecretValue,
)
from keybroker.core.ports import AsyncVault, Notifier, Prompter, Stores

__all__ = ["Broker", "BrokerConfig", "Fulfilment"]

log = logging.getLogger("keybroker.broker")

#: How often `fulfil_if_granted` decides again when the catalog changed under a release.
_GRANTED_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Tunables of the broker; defaults follow DESIGN §4-§5."""

    prompt_timeout: float = 300.0
    """Seconds a prompt waits for the user before every asked key is declined (`timed_out`)."""
    cooldown_seconds: float = 300.0
    """How long an agent's demands stay quiet after `unanswered_limit` unanswered prompts."""
    unanswered_limit: int = 2
    """Unanswered prompts in a row that start a cooldown."""
    max_runs: int = 1024
    """Runs remembered for "declined in this run" and for rebinding pre-flight grants."""
    allowed_insecure_hosts: frozenset[str] = frozenset()
    """Non-loopback hosts the user allowed plain http to (policy rule 1)."""

    def __post_init__(self) -> None:
        if not self.prompt_timeout > 0:
            raise ValueError("prompt_timeout must be more than 0 seconds")
        if self.cooldown_seconds < 0 or self.unanswered_limit < 1 or self.max_runs < 1:
            raise ValueError("cooldown_seconds >= 0, unanswered_limit >= 1 and max_runs >= 1")


class Broker:
    """Releases secrets to agents under grants, asks the user through a `Prompter` otherwise."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        vault: AsyncVault,
        audit: AuditLog,
        grants: GrantBook,
        prompter: Prompter,
        notifier: Notifier | None = None,
        config: BrokerConfig | None = None,
    ) -> None:
        self._catalog = catalog
        self._vault = vault
        self._audit = audit
        self._grants = grants
        self.config = config or BrokerConfig()
        self._cache = ValueCache()
        self._notifier = notifier
        self._vault_trouble: VaultError | None = None
        self._runs = RunMemory(self.config.max_runs)
        self._cooldown = Cooldown(limit=self.config.unanswered_limit, seconds=self.config.cooldown_seconds)
        self._run_grants = RunGrants(catalog, max_runs=self.config.max_runs)
        self._lock_listeners: list[Callable[[], None]] = []
        self._notifier = notifier
        self._audit_failing = False
        self._triage = Triage(catalog, self._runs, allowed_insecure_hosts=self.config.allowed_insecure_hosts)
        self._group = GroupCommit(audit, catalog)
        self._desk = PromptDesk(
            prompter=prompter,
            applier=AnswerApplier(catalog, vault, audit, self.forget),
            read=self._read,
            cache=self._cache,
            cooldown=self._cooldown,
            clock=catalog.clock,
            timeout=self.config.prompt_timeout,
            notifier=notifier,
            on_answer=self._remember_run_grants,
        )

    @classmethod
    def from_services(
        cls,
        services: Stores,
        prompter: Prompter,
        *,
        notifier: Notifier | None = None,
        config: BrokerConfig | None = None,
    ) -> Broker:
        """A broker over the data home's objects (wiring/services.py's `open_services` opens them)."""
        return cls(
            catalog=services.catalog,
            vault=services.vault,
            audit=services.audit,
            grants=services.grants,
            prompter=prompter,
            notifier=notifier,
            config=config,
        )

    def __repr__(self) -> str:
        return f"Broker(prompts={len(self._desk.pending)}, cached={len(self._cache)})"

    # The use case -------------------------------------------------------------------------------

    async def fulfil(
        self,
        agent: AgentRecord,
        demands: Sequence[SecretDemand],
        *,
        phase: Phase,
        task_id: str | None,
        context_id: str | None,
        run_id: str | None = None,
        caller: str | None = None,
        stale: Collection[str] = (),
    ) -> Fulfilment:
        """Release what `agent` may have of `demands`, asking the user (once) for the rest.

        `stale`: keys whose value the agent just refused (HTTP 401, or `auth-required` without a
        demand): each is audited `refused` and asked for again even under a grant, since the stored
        value may be out of date (the answer may keep it, or replace it).
        """
        run = RunContext(agent, phase, task_id, context_id, run_id, caller)
        refused = frozenset(stale)
        for key in sorted(refused & {d.key for d in demands}):
            self._audit.append(
                AuditDecision.REFUSED,
                agent=agent.slug,
                key=key,
                task_id=task_id,
                context_id=context_id,
                caller=caller,
                detail=f"{phase}: the agent refused the credential sent (or its absence); asking again",
            )
        if run_id and (task_id or context_id):
            self.bind_run(run_id, task_id=task_id, context_id=context_id)
        self._sweep_cache()
        tally = Tally(self._catalog, self._audit, run)
        allows: list[tuple[str, Allow]] = []
        asks: list[tuple[SecretDemand, Ask]] = []
        for demand in _unique(demands):
            decision = self._triage.classify(run, demand, tally, demand.key in refused)
            if isinstance(decision, Allow):
                allows.append((demand.key, decision))
            elif isinstance(decision, Ask):
                asks.append((demand, decision))
        prompt: OpenPrompt | None = None
        if asks and self._cooldown.active(agent.slug, self._now):
            for demand, ask in asks:
                secret_id = ask.secret.secret_id if ask.secret else None
                tally.decline(demand.key, secret_id, AuditDecision.DENIED, "cooldown")
            asks = []
        elif asks:
            # No await since the decisions were taken, so none went stale before the prompt opens.
            keys = frozenset(demand.key for demand, _ in asks)
            prompt = self._desk.join(agent.slug, agent.fingerprint, keys)
            if prompt is None:
                request = build_prompt_request(
                    run,
                    asks,
                    now=self._now,
                    timeout=self.config.prompt_timeout,
                    first_contact=is_first_contact(self._catalog, agent.slug),
                )
                prompt = self._desk.open(request, run.grant_ids)
        try:
            while allows:
                key, allow = allows[0]
                await self._release_allowed(run, tally, key, allow)
                allows.pop(0)
            if prompt is not None:
                result = await self._desk.wait(prompt)
                self._settle(run, tally, [d.key for d, _ in asks], prompt.request.prompt_id, result)
        except AuditWriteError as exc:
            self._unaudited(run, exc)
            raise
        finally:
            for _, allow in allows[1:]:  # cancelled before these were released: their ONCE grants stand
                if allow.consume:
                    self._catalog.add_grant(allow.grant)
            if prompt is not None:
                self._desk.leave(prompt)
        if tally.values:
            self._audit_failing = False
        return tally.result()

    async def fulfil_if_granted(
        self,
        agent: AgentRecord,
        demands: Sequence[SecretDemand],
        *,
        phase: Phase,
        task_id: str | None,
        context_id: str | None,
        run_id: str | None = None,
        caller: str | None = None,
    ) -> Fulfilment | None:
        """Every value of `demands`, released on grants `agent` holds now, or None (nothing released,
        audited or spent) when one needs a prompt, a rule declines it, a ONCE grant would be spent,
        or the vault does not give it: the caller then takes `fulfil`'s way.

        One call for the bridge's fast path instead of `releasable` then `fulfil`: the decision and
        the release cannot be told apart by a revoke (module docstring). Raises `AuditWriteError` as
        `fulfil` does when the events cannot be written (nothing released).
        """
        run = RunContext(agent, phase, task_id, context_id, run_id, caller)
        wanted = list(_unique(demands))
        if not wanted:
            return Fulfilment(values=MappingProxyType({}), declined=frozenset())
        for attempt in range(_GRANTED_ATTEMPTS):
            stamp = self._refresh(wait=attempt > 0)
            allows: list[tuple[str, Allow]] = []
            for demand in wanted:
                try:  # remembered while nothing it rests on changed (decision_memo.py)
                    decision = self._triage.remembered(run, demand)
                except InvalidInputError:
                    return None
                if not isinstance(decision, Allow) or decision.consume:
                    return None
                allows.append((demand.key, decision))
            values: dict[str, SecretValue] = {}
            for key, allow in allows:
                try:
                    value = await self._read(allow.secret.secret_id, True)
                except VaultError as exc:
                    self._tell_vault_failed(exc)
                    return None
                if value is None:
                    return None
                values[key] = value
            entries = [
                {
                    "decision": AuditDecision.RELEASED.value,
                    "agent": agent.slug,
                    "key": key,
                    "secret_id": allow.secret.secret_id,
                    "scope": allow.grant.scope.value,
                    "task_id": task_id,
                    "context_id": context_id,
                    "caller": caller,
                    "detail": phase,
                }
                for key, allow in allows
            ]
            try:
                events = await self._group.append(
                    entries, uses=[a.secret.secret_id for _, a in allows], stamp=stamp
                )
            except KeybrokerError as exc:
                keys = ", ".join(repr(k) for k, _ in allows)
                error = AuditWriteError(
                    f"the audit log could not record the release of {keys} to agent {agent.slug!r}, "
                    "so nothing was released",
                    hint=f"{exc.message}; {exc.hint}" if exc.hint else exc.message,
                )
                self._unaudited(run, error)
                raise error from None
            if events is None:
                continue  # the catalog changed since the decision: decide again on what it holds now
            if values:
                self._audit_failing = False
            return Fulfilment(values=MappingProxyType(values), declined=frozenset())
        return None

    def _refresh(self, *, wait: bool = True, local: bool = False) -> tuple[int, int]:
        """The policy inputs brought up to date; values whose record changed leave the cache."""
        stamp, changed = self._triage.refresh(wait=wait, local=local)
        for secret_id in changed:
            self._cache.forget(secret_id)
        return stamp

    def _unaudited(self, run: RunContext, exc: AuditWriteError) -> None:
        """A release could not be audited, so nothing was released: tell the tray (once until one is)."""
        log.error("%s: %s (%s)", run.agent.slug, exc.message, exc.hint)
        if self._audit_failing or self._notifier is None:
            self._audit_failing = True
            return
        self._audit_failing = True
        body = (
            f"{run.agent.name} ({run.agent.slug}) asked for its secrets and nothing was released: the "
            f"audit log cannot be written, and no value leaves without its record. {exc.hint or ''}"
        )
        try:
            self._notifier.notify("Keybroker: nothing was released", body.strip())
        except Exception:  # a notice must never change the outcome
            log.warning("the notifier failed", exc_info=True)

    async def released_before(self, agent_slug: str, *, limit: int) -> PastReleases:
        """The values released to `agent_slug` so far, read again from the vault (release_history.py):
        the bridge cuts them from answers about earlier tasks after a restart or a lock. Nothing is
        audited or released: the values only go to the bridge's memory of what to cut."""
        return await past_releases(self._catalog, self._vault, agent_slug, limit=limit)

    def releasable(self, agent: AgentRecord, demands: Sequence[SecretDemand]) -> frozenset[str]:
        """The keys of `demands` that `fulfil` would release now without asking anyone.

        Nothing is audited, spent or prompted: the bridge uses it to pick the first security
        requirement whose credentials are all at hand. A ONCE grant counts (`fulfil` spends it).
        """
        return self._triage.releasable(agent, demands)

    async def _release_allowed(self, run: RunContext, tally: Tally, key: str, allow: Allow) -> None:
        secret, grant = allow.secret, allow.grant
        problem: str | None = None
        try:
            value = await self._read(secret.secret_id, grant.scope != GrantScope.ONCE)
            if value is None:
                problem = "the vault holds no value for it"
        except VaultError as exc:
            value, problem = None, f"the vault failed: {exc.message}"
            self._tell_vault_failed(exc)
        except BaseException:
            if allow.consume:
                self._catalog.add_grant(grant)  # not released after all: the ONCE grant is not spent
            raise
        if value is None:
            if allow.consume:
                self._catalog.add_grant(grant)
            log.warning("%s for %s not released: %s", key, run.agent.slug, problem)
            tally.decline(key, secret.secret_id, AuditDecision.DENIED, problem or "no value")
            return
        detail = "once grant spent" if allow.consume else None
        try:
            tally.release(key, secret, grant.scope, value, detail)
        except AuditWriteError:
            if allow.consume:  # not released after all: the ONCE grant is not spent
                with contextlib.suppress(KeybrokerError):
                    self._catalog.add_grant(grant)
            raise

    # Prompts ------------------------------------------------------------------------------------

    def _settle(
        self, run: RunContext, tally: Tally, keys: list[str], prompt_id: str, result: PromptResult
    ) -> None:
        """Release or decline this run's asked keys from the shared prompt result."""
        for key in keys:
            outcome = result.outcomes.get(key)
            if outcome is None:
                outcome = Declined(AuditDecision.DENIED, f"prompt {prompt_id} gave no answer for it")
            if isinstance(outcome, Released):
                secret, grant = outcome.secret, outcome.grant
                tally.release(key, secret, grant.scope, outcome.value, f"prompt {prompt_id}")
                continue
            tally.decline(key, None, outcome.decision, outcome.detail)
            if outcome.remember:
                self._runs.decline(run.run_key, [key])
            tally.timed_out = tally.timed_out or outcome.decision == AuditDecision.TIMED_OUT

    @property
    def pending_prompts(self) -> tuple[PromptRequest, ...]:
        """Prompts waiting for the user now (the tray lists them)."""
        return self._desk.pending

    async def aclose(self) -> None:
        """Withdraw every open prompt (at shutdown); waiting runs see their keys declined."""
        await self._desk.aclose()

    # Grants, cache and cooldown -----------------------------------------------------------------

    def lock(self, *, caller: str | None = None) -> list[Grant]:
        """Drop every value held in memory, then end every grant short of ALWAYS (audited `locked`).

        Memory goes first: ending the grants writes the catalog and the audit, and a full disk or a
        locked vault that makes those fail (the error propagates) must not leave values behind."""
        self._cache.clear()
        self._run_grants.clear()
        for listener in list(self._lock_listeners):
            try:
                listener()
            except Exception as exc:  # one failing listener must not keep the others holding values
                log.warning("lock listener failed: %s", type(exc).__name__)
        try:
            ended = self._grants.lock(caller=caller)
        except Exception:
            self._triage.lock_failed_at = self._now
            log.warning("locked in memory only: the grants could not be ended in the catalog")
            raise
        self._triage.lock_failed_at = None
        log.info("locked: %d grant(s) ended, cached values dropped", len(ended))
        return ended

    def on_lock(self, listener: Callable[[], None]) -> None:
        """Call `listener()` at every `lock`, on the locking thread (drops values held elsewhere)."""
        self._lock_listeners.append(listener)

    def forget(self, secret_id: str) -> None:
        """A secret's value was updated or removed: drop its cached value (the API and store call this)."""
        self._cache.forget(secret_id)

    def bind_run(self, run_id: str, *, task_id: str | None = None, context_id: str | None = None) -> int:
        """Rebind the grants a pre-flight answer gave this run to its real task/context ids.

        `fulfil` does it by itself when the same `run_id` comes back with ids; the bridge may also call it
        as soon as it learns them. Returns the number of grants rebound.
        """
        return self._run_grants.bind(run_id, task_id=task_id, context_id=context_id)

    def task_ended(
        self, agent_slug: str, task_id: str, *, state: str, run_id: str | None = None
    ) -> list[Grant]:
        """`agent_slug`'s task `task_id` reached `state`; a terminal one ends the task's TASK grants.

        `state` in 0.3 spelling (`completed`; the bridge reads 1.0's `TASK_STATE_COMPLETED` with
        core/a2a/task_state.py); any other state (`input-required`, `working`...) changes nothing.
        `run_id`: the bridge run that saw it, whose pre-flight grants still carry the run's placeholder:
        they belong to this task too. Each grant ended is audited `revoked`; values only they covered
        leave the cache. Returns them.
        """
        ended_as = state if state in TERMINAL_TASK_STATES else None
        if ended_as is None or not task_id:
            return []
        if run_id:
            self.bind_run(run_id, task_id=task_id)
        # After the rebinding. Task grants are given in this process alone: no wait for a group commit's
        # sync, and no look at other processes' changes when this one made none since the last read (a
        # grant revoked elsewhere meanwhile is ended again, which ends nothing).
        self._refresh(wait=False, local=True)
        held = self._triage.inputs.grants_of(agent_slug)
        if any(g.scope is GrantScope.TASK and g.task_id == task_id for g in held):
            ended = self._grants.end_task(agent_slug, task_id, state=ended_as)
        else:
            ended = []
        self._runs.forget_run(f"task:{task_id}")
        if ended:
            self._sweep_cache()
            log.info("%s: task %s %s, %d task grant(s) ended", agent_slug, task_id, ended_as, len(ended))
        return ended

    def forget_run(self, run_id: str) -> None:
        """The run ended: forget its declines (its grants stay, bound or not)."""
        self._runs.forget_run(f"run:{run_id}")
        self._run_grants.forget(run_id)

    def cooldown_until(self, agent: str) -> float | None:
        """When `agent`'s cooldown ends, or None when it is not cooling down."""
        return self._cooldown.until(agent) if self._cooldown.active(agent, self._now) else None

    def end_cooldown(self, agent: str | None = None) -> None:
        """Let one agent (or every agent) prompt again now."""
        self._cooldown.reset(agent)

    def _remember_run_grants(self, request: PromptRequest, outcomes: Mapping[str, Outcome]) -> None:
        if request.run_id:
            grants = [o.grant for o in outcomes.values() if isinstance(o, Granted)]
            self._run_grants.remember(request.run_id, (g for g in grants if g.scope != GrantScope.ONCE))

    @property
    def vault_trouble(self) -> str | None:
        """Why values not yet cached cannot be released right now (the vault refused Keybroker's
        credentials or cannot be reached), with the fix; None once the vault answers again. The tray
        shows it (cached values keep serving meanwhile)."""
        exc = self._vault_trouble
        if exc is None:
            return None
        return f"{exc.message}. Fix: {exc.hint}" if exc.hint else exc.message

    def note_vault(self, failure: KeybrokerError | None) -> None:
        """What a call outside a release found (the runtime's keep-alive): the vault answered (None:
        trouble over), or refused Keybroker's credentials or could not be reached (told as a release's
        failure is)."""
        if failure is None:
            self._vault_trouble = None
        elif isinstance(failure, VaultError):
            self._tell_vault_failed(failure)

    def _tell_vault_failed(self, exc: VaultError) -> None:
        """Tell the user (tray notice, and `vault_trouble` for the tray's state) when a release fails
        because the vault refused Keybroker's credentials or cannot be reached: once per kind of
        trouble, not once per demand."""
        if not isinstance(exc, VaultLocked | VaultUnavailable):
            return
        known = self._vault_trouble
        self._vault_trouble = exc
        if (known is not None and type(known) is type(exc)) or self._notifier is None:
            return
        fix = f" ({exc.hint})" if exc.hint else ""
        try:
            self._notifier.notify("Keybroker: a value could not be read from the vault", exc.message + fix)
        except Exception:  # a notice that cannot be shown must not stop the release path
            log.warning("the notifier failed", exc_info=True)

    def _sweep_cache(self) -> None:
        """Drop cached values no live grant (short of ONCE) covers any more."""
        self._refresh()
        if not len(self._cache):
            return
        now = self._now
        live = {
            g.secret_id
            for g in self._triage.inputs.all_grants()
            if g.scope != GrantScope.ONCE and not grant_expired(g, now)
        }
        self._cache.retain(live)

    async def _read(self, secret_id: str, cache: bool) -> SecretValue | None:
        cached = self._cache.get(secret_id)
        if cached is not None:
            return cached
        generation = self._cache.generation(secret_id)
        value = await self._vault.aget(secret_id)
        self._vault_trouble = None  # the vault answered: a later failure is news again
        if value is not None and cache:
            self._cache.put(secret_id, value, generation)
        return value

    @property
    def _now(self) -> float:
        return self._catalog.clock.now()


def _unique(demands: Sequence[SecretDemand]) -> Iterator[SecretDemand]:
    seen: set[str] = set()
    for demand in demands:
        if demand.key not in seen:
            seen.add(demand.key)
            yield demand
