# SPDX-License-Identifier: Apache-2.0
"""`ModelAccess`: an agent's model demands -> a grant or the user's answer -> a model, audited.

Longer than 300 lines because the fulfilment, its prompt and the gateway's side (tokens, keys, usage,
budgets, a provider refusing its key) share the same state and read best together.

- `fulfil_models` answers each demand from a live model grant for that agent, demand and card
  (grants.py), else asks the user: one prompt for every demand asked in the call (concurrent runs
  asking for the same demands share it), with every configured model, the best match first
  (matching.py). The answer becomes a grant for the chosen scope.
- A release through the gateway (the default) mints a token (tokens.py) for the agent and grant; a
  handover, which the provider must allow, releases the provider's key itself. Each release is
  audited `released` with the demand as the key (`llm:default`) and never a value.
- The gateway asks `route(token, slug)` on every request, `key_for` for the provider's key (kept in
  memory until a lock), `budget_refusal` before forwarding and `record` after.
- A lock (the broker's `on_lock`) ends every token, forgets every key and ends every model grant
  short of *always*; a revoke ends that grant's tokens at once; a task's end ends its tokens.
"""

from __future__ import annotations

import asyncio
import logging
import secrets as _random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from keybroker.core.audit.log import AuditLog
from keybroker.core.broker.prompts import (
    SCOPE_ORDER,
    ModelItem,
    ModelPick,
    PromptAnswer,
    PromptRequest,
)
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import AuditWriteError, KeybrokerError
from keybroker.core.llm.grants import ModelGrantBook, model_grant_live, new_model_grant_id
from keybroker.core.llm.matching import options_for
from keybroker.core.llm.providers import ProviderBook, audit_key
from keybroker.core.llm.records import ModelGrant, Provider
from keybroker.core.llm.tokens import TOKEN_CEILING, GatewayTokens, TokenGrant
from keybroker.core.llm.usage import Tokens, UsageBook, day_of
from keybroker.core.models import AgentRecord, AuditDecision, GrantScope, ModelDemand, SecretValue
from keybroker.core.ports import AsyncVault, Notifier, Prompter, SyncVault

__all__ = ["GatewayRoute", "ModelAccess", "ModelAnswer", "ModelRelease"]

log = logging.getLogger("keybroker.models")

#: What an agent gets as `api_key` for a provider that needs none (agentstack requires a string).
NO_KEY = "no-key-needed"


class Vault(SyncVault, AsyncVault, Protocol):
    """The vault, blocking and awaited (core/vault/vault.py's `Vault` fits)."""


class RouteLike(Protocol):
    """A gateway route as the gateway hands it back (`GatewayRoute` fits)."""

    @property
    def agent(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def key_account(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ModelRelease:
    """What one model demand is fulfilled with. `gateway`: the bridge builds `api_base` itself."""

    demand: ModelDemand
    provider: str
    api_model: str
    identifier: str
    api_key: SecretValue = field(repr=False)
    gateway: bool
    api_base: str | None = None


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """Per demand ref (`llm:default`), what was released; the refs declined."""

    releases: Mapping[str, ModelRelease]
    declined: frozenset[str]


@dataclass(frozen=True, slots=True)
class GatewayRoute:
    """Where a gateway request goes: one provider's model, for one agent and grant."""

    agent: str
    grant_id: str
    demand: str
    provider: str
    model: str
    base_url: str
    key_account: str | None

    def __repr__(self) -> str:
        return f"GatewayRoute({self.agent!r} -> {self.provider}/{self.model})"


class ModelAccess:
    """Model demands, their prompt, grants, tokens and the gateway's bookkeeping (module docstring)."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        vault: Vault,
        audit: AuditLog,
        prompter: Prompter,
        notifier: Notifier | None = None,
        prompt_timeout: float = 300.0,
    ) -> None:
        self._catalog = catalog
        self._vault = vault
        self._audit = audit
        self._prompter = prompter
        self._notifier = notifier
        self.prompt_timeout = prompt_timeout
        self.providers = ProviderBook(catalog, vault, audit)
        self.grants = ModelGrantBook(catalog, audit)
        self.usage = UsageBook(catalog)
        self.tokens = GatewayTokens()
        self._keys: dict[str, SecretValue] = {}
        self._prompts: dict[tuple[str, str, frozenset[str]], asyncio.Task[dict[str, ModelGrant | None]]] = {}
        self._refusing: set[str] = set()
        self._over_budget: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"ModelAccess({self.tokens!r}, {len(self._prompts)} prompts)"

    @property
    def _now(self) -> float:
        return self._catalog.clock.now()

    # Fulfilment --------------------------------------------------------------------------------

    async def fulfil_models(
        self,
        agent: AgentRecord,
        demands: Sequence[ModelDemand],
        *,
        phase: str,
        task_id: str | None,
        context_id: str | None,
        run_id: str | None = None,
        caller: str | None = None,
    ) -> ModelAnswer:
        """Release a model for each demand, asking the user (once) where no grant answers it."""
        releases: dict[str, ModelRelease] = {}
        declined: set[str] = set()
        grants = self.grants.all(agent=agent.slug)
        asks: list[ModelDemand] = []
        for demand in demands:
            found = [
                g
                for g in grants
                if g.demand == demand.ref
                and model_grant_live(g, self._now, context_id=context_id, fingerprint=agent.fingerprint)
            ]
            if found:
                grant = min(found, key=lambda g: (g.scope != GrantScope.ALWAYS, g.created))
                release = await self._release(
                    agent, demand, grant, phase, task_id, context_id, run_id, caller
                )
                if release is None:
                    declined.add(demand.ref)
                else:
                    releases[demand.ref] = release
            else:
                asks.append(demand)
        if asks:
            answered = await self._asked(agent, asks, phase, task_id, context_id, run_id, caller)
            for demand in asks:
                chosen = answered.get(demand.ref)
                release = None
                if chosen is not None:
                    release = await self._release(
                        agent, demand, chosen, phase, task_id, context_id, run_id, caller
                    )
                if release is None:
                    declined.add(demand.ref)
                else:
                    releases[demand.ref] = release
        return ModelAnswer(MappingProxyType(releases), frozenset(declined))

    async def _release(
        self,
        agent: AgentRecord,
        demand: ModelDemand,
        grant: ModelGrant,
        phase: str,
        task_id: str | None,
        context_id: str | None,
        run_id: str | None,
        caller: str | None,
    ) -> ModelRelease | None:
        from keybroker.core.llm.matching import identifier_for

        provider = self.providers.find(grant.provider)
        problem = None
        if provider is None:
            problem = f"provider {grant.provider!r} was removed"
        elif grant.handover and not provider.handover:
            problem = f"provider {provider.name!r} no longer allows handing its key over"
        if problem is not None or provider is None:
            self._audit.append(
                AuditDecision.DENIED,
                agent=agent.slug,
                key=demand.ref,
                task_id=task_id,
                context_id=context_id,
                caller=caller,
                detail=f"{phase}: {problem}",
            )
            return None
        how = "the provider key handed over" if grant.handover else "through the gateway (a token)"
        try:
            self._audit.append(
                AuditDecision.RELEASED,
                agent=agent.slug,
                key=demand.ref,
                scope=grant.scope.value,
                task_id=task_id,
                context_id=context_id,
                caller=caller,
                detail=f"{phase}: {provider.name}/{grant.model} {how}",
            )
        except KeybrokerError as exc:
            raise AuditWriteError(
                f"the audit log could not record the model released to agent {agent.slug!r}, so none was",
                hint=exc.message,
            ) from None
        identifier = identifier_for(provider, grant.model)
        if grant.handover:
            key = await self.key_for(provider)
            return ModelRelease(
                demand,
                provider.name,
                grant.model,
                identifier,
                key or SecretValue(NO_KEY),
                False,
                provider.base_url,
            )
        expires = self._now + TOKEN_CEILING
        if grant.expires is not None:
            expires = min(expires, grant.expires)
        token = self.tokens.mint(
            TokenGrant(agent.slug, grant.grant_id, demand.ref, provider.name, grant.model, expires, run_id)
        )
        return ModelRelease(demand, provider.name, grant.model, identifier, token, True)

    # The prompt --------------------------------------------------------------------------------

    async def _asked(
        self,
        agent: AgentRecord,
        asks: list[ModelDemand],
        phase: str,
        task_id: str | None,
        context_id: str | None,
        run_id: str | None,
        caller: str | None,
    ) -> dict[str, ModelGrant | None]:
        """The grants the user's answer made, per ref (None: declined); one prompt for concurrent runs."""
        key = (agent.slug, agent.fingerprint, frozenset(d.ref for d in asks))
        task = self._prompts.get(key)
        if task is None:
            request = self._request(agent, asks, phase, task_id, context_id, run_id, caller)
            task = asyncio.get_running_loop().create_task(self._ask(request, asks, context_id))
            self._prompts[key] = task
            task.add_done_callback(lambda _: self._prompts.pop(key, None))
        return await asyncio.shield(task)

    def _request(
        self,
        agent: AgentRecord,
        asks: list[ModelDemand],
        phase: str,
        task_id: str | None,
        context_id: str | None,
        run_id: str | None,
        caller: str | None,
    ) -> PromptRequest:
        providers = self.providers.all()
        items = []
        for demand in asks:
            options = options_for(demand, providers)
            if not providers:
                reason = "no model provider is configured yet: add one in Settings → Models"
            elif options and options[0].matched:
                reason = f"best match for {options[0].matched}: {options[0].label}"
            else:
                reason = f"none of the agent's suggestions is configured: pick a {demand.kind} model"
            items.append(
                ModelItem(
                    demand.ref,
                    demand.kind,
                    demand.name,
                    demand.description,
                    demand.suggested,
                    options,
                    reason,
                )
            )
        now = self._now
        scopes = tuple(
            s for s in SCOPE_ORDER if s != GrantScope.TASK and (s != GrantScope.CONVERSATION or context_id)
        )
        return PromptRequest(
            prompt_id="pr_" + _random.token_hex(6),
            agent=agent,
            items=(),
            phase="runtime" if phase == "runtime" else "preflight",
            task_id=task_id,
            context_id=context_id,
            run_id=run_id,
            caller=caller,
            scopes=scopes,
            default_scope=GrantScope.ONCE,
            models=tuple(items),
            created=now,
            deadline=now + self.prompt_timeout,
            timeout=self.prompt_timeout,
        )

    async def _ask(
        self, request: PromptRequest, asks: list[ModelDemand], context_id: str | None
    ) -> dict[str, ModelGrant | None]:
        try:
            async with asyncio.timeout(self.prompt_timeout):
                answer = await self._prompter.ask(request)
        except TimeoutError:
            self._declined(request, AuditDecision.TIMED_OUT, f"prompt {request.prompt_id} not answered")
            return {}
        except Exception as exc:
            log.warning("model prompt %s failed: %s", request.prompt_id, type(exc).__name__)
            self._declined(request, AuditDecision.DENIED, f"prompt {request.prompt_id} failed")
            return {}
        if not answer.allow:
            self._declined(request, AuditDecision.DENIED, answer.reason or "declined by the user")
            return {}
        return {item.ref: self._grant_from(request, item, answer, context_id) for item in request.models}

    def _grant_from(
        self, request: PromptRequest, item: ModelItem, answer: PromptAnswer, context_id: str | None
    ) -> ModelGrant | None:
        choice = answer.model_for(item)
        agent = request.agent
        offered = {(o.provider, o.model): o for o in item.options}
        if not isinstance(choice, ModelPick) or (choice.provider, choice.model) not in offered:
            why = (
                "skipped by the user"
                if not isinstance(choice, ModelPick)
                else "a model the prompt did not offer"
            )
            self._audit.append(
                AuditDecision.DENIED, agent=agent.slug, key=item.ref, caller=request.caller, detail=why
            )
            return None
        option = offered[(choice.provider, choice.model)]
        scope = answer.scope if answer.scope in request.scopes else GrantScope.ONCE
        now = self._now
        minutes = answer.minutes if answer.minutes and answer.minutes > 0 else 15.0
        grant = ModelGrant(
            grant_id=new_model_grant_id(),
            agent=agent.slug,
            demand=item.ref,
            provider=option.provider,
            model=option.model,
            handover=choice.handover and option.handover_allowed,
            scope=scope,
            created=now,
            expires=now + min(minutes, 7 * 24 * 60) * 60 if scope == GrantScope.MINUTES else None,
            context_id=context_id if scope == GrantScope.CONVERSATION else None,
            card_fingerprint=agent.fingerprint,
        )
        self.grants.add(grant, caller=request.caller, detail=f"prompt {request.prompt_id}")
        return grant

    def _declined(self, request: PromptRequest, decision: AuditDecision, detail: str) -> None:
        for item in request.models:
            self._audit.append(
                decision,
                agent=request.agent.slug,
                key=item.ref,
                task_id=request.task_id,
                context_id=request.context_id,
                caller=request.caller,
                detail=detail,
            )

    # The gateway's side ------------------------------------------------------------------------

    def route(self, token: str, slug: str) -> GatewayRoute | None:
        """Where a request with `token` for agent `slug` goes; None for a dead or foreign token."""
        found = self.tokens.find(token, self._now)
        if found is None or found.agent != slug:
            return None
        provider = self.providers.find(found.provider)
        if provider is None:
            return None
        return GatewayRoute(
            slug,
            found.grant_id,
            found.demand,
            provider.name,
            found.model,
            provider.base_url,
            provider.key_account,
        )

    async def key_for(self, provider: Provider | RouteLike) -> SecretValue | None:
        """The provider's key (read from the vault once, kept until a lock or a change)."""
        account = provider.key_account
        if account is None:
            return None
        key = self._keys.get(account)
        if key is None:
            key = await self._vault.aget(account)
            if key is not None:
                self._keys[account] = key
        return key

    def budget_refusal(self, agent: str) -> str | None:
        """Why `agent` may not make another model request today, or None."""
        budget = self.usage.budget(agent)
        if budget is None:
            return None
        used = self.usage.requests_today(agent)
        if used < budget:
            return None
        why = f"Keybroker: agent {agent!r} has used its budget of {budget} model requests for today"
        day = day_of(self._now)
        if (agent, day) not in self._over_budget:  # audited once a day, not per refused request
            self._over_budget.add((agent, day))
            self._audit_quietly(AuditDecision.DENIED, agent=agent, key="models", detail=why)
        return why

    def _audit_quietly(self, decision: AuditDecision, **fields: str | None) -> None:
        """An audit event about gateway use; a failing audit never breaks a request (logged)."""
        try:
            self._audit.append(decision, **fields)
        except KeybrokerError as exc:
            log.warning("gateway use not audited: %s", exc.message)

    def record(self, route: RouteLike, status: int, usage: object) -> None:
        """Count one forwarded request (`usage`: the answer's OpenAI `usage` object, if any); a provider
        answering 401 or 403 refuses its key (the tray says)."""
        tokens = Tokens.of(usage)
        try:
            self.usage.record(route.agent, route.provider, route.model, tokens, error=status >= 400)
            if status in (401, 403):
                self._refused(route.provider, status)
            elif status < 400 and route.provider in self._refusing:
                self._refusing.discard(route.provider)
                self.providers.set_status(route.provider, None)
        except KeybrokerError as exc:
            log.warning("model usage of %s not counted: %s", route.agent, exc.message)

    def _refused(self, provider: str, status: int) -> None:
        found = self.providers.find(provider)
        if found is not None and found.key_account:
            self._keys.pop(found.key_account, None)  # read again: the user may have replaced it
        self.providers.set_status(provider, f"refuses its key (HTTP {status})")
        if provider in self._refusing:
            return
        self._refusing.add(provider)
        log.warning("model provider %s refuses its key (HTTP %d)", provider, status)
        detail = f"the provider refused its key (HTTP {status})"
        self._audit_quietly(AuditDecision.REFUSED, key=audit_key(provider), detail=detail)
        if self._notifier is not None:
            try:
                self._notifier.notify(
                    "Keybroker: a model provider refuses its key",
                    f"{provider} answered HTTP {status}: update its key in Settings → Models.",
                )
            except Exception:  # a notice must never break a request
                log.warning("the notifier failed", exc_info=True)

    def refusing(self) -> list[str]:
        """Providers whose key was refused since it last worked (the tray shows them)."""
        return sorted(p.name for p in self.providers.all() if p.status)

    # Ends --------------------------------------------------------------------------------------

    def locked(self) -> None:
        """Keybroker locked: every token ends, keys are forgotten, grants short of *always* end."""
        self.tokens.clear()
        self._keys = {}
        try:
            self.grants.end(keep_always=True, caller=None, why="Keybroker locked")
        except KeybrokerError as exc:
            log.warning("model grants not ended at the lock: %s", exc.message)

    def end_session(self) -> list[ModelGrant]:
        """At start-up: grants short of *always* from the last run end."""
        return self.grants.end(keep_always=True, caller=None, why="Keybroker restarted")

    def revoke(self, grant_id: str, *, caller: str | None) -> ModelGrant:
        """End one grant and its tokens at once."""
        grant = self.grants.revoke(grant_id, caller=caller)
        self.tokens.drop(grant_id=grant_id)
        return grant

    def forget_provider(self, name: str, account: str | None) -> None:
        """A provider changed or went: its tokens end (when gone) and its key is read again."""
        if account is not None:
            self._keys.pop(account, None)
        if self.providers.find(name) is None:
            self.tokens.drop(provider=name)
        self._refusing.discard(name)

    def bind_run(self, run_id: str, *, task_id: str | None = None, context_id: str | None = None) -> int:
        """The run's tokens now belong to its task (they end with it)."""
        if task_id:
            self.tokens.bind(run_id, task_id)
        return 0

    def task_ended(
        self, agent_slug: str, task_id: str, *, state: str, run_id: str | None = None
    ) -> list[object]:
        """The task's tokens end."""
        if run_id:
            self.tokens.bind(run_id, task_id)
        dropped = self.tokens.drop(task_id=task_id)
        if dropped:
            log.info("%s: task %s %s, %d gateway token(s) ended", agent_slug, task_id, state, dropped)
        return []
