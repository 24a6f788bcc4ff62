# SPDX-License-Identifier: Apache-2.0
"""What a user does with models (issue 14): providers, model grants, usage, budgets.

`ModelAdmin` is the interface of `keybroker models ...` and the settings window's Models tab, like
core/admin/port.py's `Admin` for secrets. `LocalModelAdmin` works on the data home in this process
(with the running `ModelAccess` when there is one, so a revoke or a removed provider ends tokens at
once); cli/remote_models.py goes through a running instance's management API.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Protocol

from keybroker.core.audit.log import AuditLog
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import InvalidInputError, KeybrokerError, UsageError
from keybroker.core.llm.access import ModelAccess
from keybroker.core.llm.grants import ModelGrantBook, new_model_grant_id
from keybroker.core.llm.providers import ProviderBook
from keybroker.core.llm.records import ModelGrant, Provider, UsageRow
from keybroker.core.llm.usage import UsageBook
from keybroker.core.models import AgentRecord, GrantScope, ModelDemand, SecretValue
from keybroker.core.ports import ProviderClient, SyncVault

__all__ = ["LocalModelAdmin", "ModelAdmin", "ProviderAdded", "pick_demand", "split_model"]


@dataclass(frozen=True, slots=True)
class ProviderAdded:
    """A provider stored; `problem` says why its models could not be listed (it is kept anyway)."""

    provider: Provider
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {**self.provider.to_json(), "problem": self.problem}


class ModelAdmin(Protocol):
    """Every model operation a user makes (module docstring)."""

    def providers(self) -> list[Provider]: ...
    def add_provider(
        self,
        name: str,
        base_url: str | None,
        key: SecretValue | None,
        *,
        preset: str = "",
        handover: bool = False,
        refresh: bool = True,
    ) -> ProviderAdded: ...
    def refresh_provider(self, name: str) -> Provider: ...
    def remove_provider(self, name: str) -> Provider: ...
    def test_provider(self, name: str, model: str | None = None) -> dict[str, Any]: ...
    def allow(
        self, agent: str, provider: str, model: str, *, demand: str | None = None, handover: bool = False
    ) -> ModelGrant: ...
    def model_grants(self, agent: str | None = None) -> list[ModelGrant]: ...
    def revoke_model_grant(self, grant_id: str) -> ModelGrant: ...
    def usage(self, agent: str | None = None, *, by_day: bool = False) -> list[UsageRow]: ...
    def set_budget(self, agent: str, per_day: int | None) -> int | None: ...
    def budgets(self) -> dict[str, int]: ...


def split_model(text: str) -> tuple[str, str]:
    """`PROVIDER/MODEL` -> (provider, model); the model part may hold more slashes."""
    provider, _, model = text.partition("/")
    if not provider or not model:
        raise InvalidInputError(f"{text!r} is not PROVIDER/MODEL", hint="e.g. --model openai/gpt-4o")
    return provider, model


def pick_demand(agent: AgentRecord, demand: str | None) -> ModelDemand:
    """The agent's model demand `demand` names (`NAME`, or `llm:NAME` / `embedding:NAME`), or its only one."""
    demands = agent.model_demands
    if not demands:
        raise UsageError(
            f"agent {agent.slug!r}'s card demands no model", hint="`keybroker agents refresh` reads it again"
        )
    if demand is None:
        if len(demands) == 1:
            return demands[0]
        refs = ", ".join(d.ref for d in demands)
        raise UsageError(
            f"agent {agent.slug!r} demands several models: {refs}", hint="choose one with --demand"
        )
    found = [d for d in demands if demand in (d.ref, d.name)]
    if len(found) == 1:
        return found[0]
    refs = ", ".join(d.ref for d in demands)
    if found:
        raise UsageError(f"--demand {demand!r} names several demands: {refs}", hint="write it as KIND:NAME")
    raise UsageError(f"agent {agent.slug!r} has no model demand {demand!r}; it has {refs}")


class LocalModelAdmin:
    """`ModelAdmin` in this process; blocking calls (the CLI, the API's thread pool, a UI worker)."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        vault: SyncVault,
        audit: AuditLog,
        client: ProviderClient,
        caller: str | None,
        access: ModelAccess | None = None,
    ) -> None:
        self._catalog = catalog
        self._client = client
        self._caller = caller
        self._access = access
        self._providers = access.providers if access else ProviderBook(catalog, vault, audit)
        self._grants = access.grants if access else ModelGrantBook(catalog, audit)
        self._usage = access.usage if access else UsageBook(catalog)

    def __repr__(self) -> str:
        return f"LocalModelAdmin(caller={self._caller!r})"

    def with_caller(self, caller: str | None) -> LocalModelAdmin:
        """The same admin acting for someone else."""
        clone = copy.copy(self)
        clone._caller = caller
        return clone

    # providers ---------------------------------------------------------------------------------

    def providers(self) -> list[Provider]:
        """Every provider, by name."""
        return self._providers.all()

    def add_provider(
        self,
        name: str,
        base_url: str | None,
        key: SecretValue | None,
        *,
        preset: str = "",
        handover: bool = False,
        refresh: bool = True,
    ) -> ProviderAdded:
        """Store a provider (its key in the vault), then (`refresh`) read its models (a failure is only
        reported)."""
        old = self._providers.find(name)
        provider = self._providers.add(
            name, base_url, key, preset_name=preset, handover=handover, caller=self._caller
        )
        if self._access is not None:
            self._access.forget_provider(name, old.key_account if old else None)
        if not refresh:
            return ProviderAdded(provider)
        try:
            return ProviderAdded(self.refresh_provider(name))
        except KeybrokerError as exc:
            return ProviderAdded(provider, exc.message)

    def refresh_provider(self, name: str) -> Provider:
        """Read the provider's models again (`GET /models`)."""
        provider = self._providers.get(name)
        try:
            models = self._client.list_models(name, provider.base_url, self._providers.key(provider))
        except KeybrokerError as exc:
            self._providers.set_status(name, exc.message)
            raise
        return self._providers.set_models(name, models)

    def remove_provider(self, name: str) -> Provider:
        """Drop the provider, its key and its grants; its tokens end."""
        provider = self._providers.remove(name, caller=self._caller)
        if self._access is not None:
            self._access.forget_provider(name, provider.key_account)
        return provider

    def test_provider(self, name: str, model: str | None = None) -> dict[str, Any]:
        """One tiny call (the first model listed unless `model` is given)."""
        provider = self._providers.get(name)
        chosen = model or (provider.models[0] if provider.models else None)
        if chosen is None:
            raise UsageError(f"provider {name!r} lists no model yet", hint="give one with --model")
        kind = "embedding" if "embed" in chosen.lower() else "llm"
        try:
            result = self._client.try_model(
                name, provider.base_url, self._providers.key(provider), chosen, kind
            )
        except KeybrokerError as exc:
            self._providers.set_status(name, exc.message)
            raise
        self._providers.set_status(name, None)
        return {
            "provider": name,
            "model": chosen,
            "status": result.status,
            "seconds": result.seconds,
            "reply": result.reply,
        }

    # grants ------------------------------------------------------------------------------------

    def allow(
        self, agent: str, provider: str, model: str, *, demand: str | None = None, handover: bool = False
    ) -> ModelGrant:
        """An *always* answer for `agent`'s model demand (the gateway, unless `handover`)."""
        record = self._catalog.get_agent(agent)
        chosen = pick_demand(record, demand)
        found = self._providers.get(provider)
        if found.models and model not in found.models:
            raise UsageError(
                f"provider {provider!r} does not list model {model!r}",
                hint=f"`keybroker models refresh {provider}` reads its models again",
            )
        if handover and not found.handover:
            raise UsageError(
                f"provider {provider!r} does not allow handing its key over",
                hint=f"add it again with `keybroker models add {provider} ... --allow-handover`",
            )
        grant = ModelGrant(
            grant_id=new_model_grant_id(),
            agent=record.slug,
            demand=chosen.ref,
            provider=provider,
            model=model,
            handover=handover,
            scope=GrantScope.ALWAYS,
            created=self._catalog.clock.now(),
            card_fingerprint=record.fingerprint,
        )
        self._grants.add(grant, caller=self._caller, detail="set by the user")
        return grant

    def model_grants(self, agent: str | None = None) -> list[ModelGrant]:
        """Stored model grants (of one agent)."""
        if agent is not None:
            self._catalog.get_agent(agent)
        return self._grants.all(agent=agent)

    def revoke_model_grant(self, grant_id: str) -> ModelGrant:
        """End one model grant; its tokens end at once (in a running instance)."""
        if self._access is not None:
            return self._access.revoke(grant_id, caller=self._caller)
        return self._grants.revoke(grant_id, caller=self._caller)

    # usage and budgets -------------------------------------------------------------------------

    def usage(self, agent: str | None = None, *, by_day: bool = False) -> list[UsageRow]:
        """Requests and tokens per agent and model."""
        return self._usage.rows(agent=agent, by_day=by_day)

    def set_budget(self, agent: str, per_day: int | None) -> int | None:
        """Cap `agent`'s model requests per day (None: no cap); answers the cap."""
        self._catalog.get_agent(agent)
        self._usage.set_budget(agent, per_day)
        return per_day

    def budgets(self) -> dict[str, int]:
        """Every agent's cap."""
        return self._usage.budgets()
