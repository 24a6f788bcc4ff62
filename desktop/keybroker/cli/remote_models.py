# SPDX-License-Identifier: Apache-2.0
"""`ModelAdmin` through a running instance's management API (`/api/v1/models/...`, issue 14).

While an instance runs, `keybroker models ...` goes through it, so a revoke or a removed provider ends
the instance's gateway tokens at once. A provider's key goes in (PUT), never out.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from keybroker.cli.api_client import ApiClient
from keybroker.core.errors import KeybrokerError
from keybroker.core.llm.admin import ProviderAdded
from keybroker.core.llm.records import ModelGrant, Provider, UsageRow
from keybroker.core.models import SecretValue

__all__ = ["RemoteModelAdmin"]


def _part(text: str) -> str:
    return quote(text, safe="")


class RemoteModelAdmin:
    """`ModelAdmin` over the management API of the instance `api` talks to."""

    def __init__(self, api: ApiClient) -> None:
        self._api = api

    def __repr__(self) -> str:
        return f"RemoteModelAdmin({self._api!r})"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._api._call(method, "/models" + path, **kwargs)

    def providers(self) -> list[Provider]:
        """`GET /models/providers`."""
        return [Provider.from_json(d) for d in self._call("GET", "/providers")]

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
        """`PUT /models/providers/{name}`, then (`refresh`) `POST .../refresh`."""
        from keybroker.core.llm.presets import preset as find_preset

        body: dict[str, Any] = {
            "base_url": base_url or find_preset(preset).base_url,
            "preset": preset,
            "allow_handover": handover,
        }
        if key is not None:
            body["key"] = key.reveal()
        provider = Provider.from_json(self._call("PUT", f"/providers/{_part(name)}", json=body))
        if not refresh:
            return ProviderAdded(provider)
        try:
            return ProviderAdded(self.refresh_provider(name))
        except KeybrokerError as exc:
            return ProviderAdded(provider, exc.message)

    def refresh_provider(self, name: str) -> Provider:
        """`POST /models/providers/{name}/refresh`."""
        return Provider.from_json(self._call("POST", f"/providers/{_part(name)}/refresh"))

    def remove_provider(self, name: str) -> Provider:
        """`DELETE /models/providers/{name}`."""
        return Provider.from_json(self._call("DELETE", f"/providers/{_part(name)}"))

    def test_provider(self, name: str, model: str | None = None) -> dict[str, Any]:
        """`POST /models/providers/{name}/test`."""
        out: dict[str, Any] = self._call("POST", f"/providers/{_part(name)}/test", json={"model": model})
        return out

    def allow(
        self, agent: str, provider: str, model: str, *, demand: str | None = None, handover: bool = False
    ) -> ModelGrant:
        """`POST /models/grants`."""
        body = {"agent": agent, "provider": provider, "model": model, "demand": demand, "handover": handover}
        return ModelGrant.from_json(self._call("POST", "/grants", json=body))

    def model_grants(self, agent: str | None = None) -> list[ModelGrant]:
        """`GET /models/grants`."""
        params = {"agent": agent} if agent else None
        return [ModelGrant.from_json(d) for d in self._call("GET", "/grants", params=params)]

    def revoke_model_grant(self, grant_id: str) -> ModelGrant:
        """`DELETE /models/grants/{grant_id}`."""
        return ModelGrant.from_json(self._call("DELETE", f"/grants/{_part(grant_id)}"))

    def usage(self, agent: str | None = None, *, by_day: bool = False) -> list[UsageRow]:
        """`GET /models/usage`."""
        params: dict[str, Any] = {"by_day": "true" if by_day else "false"}
        if agent:
            params["agent"] = agent
        return [UsageRow.from_json(d) for d in self._call("GET", "/usage", params=params)]

    def set_budget(self, agent: str, per_day: int | None) -> int | None:
        """`PUT /models/budgets/{slug}`."""
        out = self._call("PUT", f"/budgets/{_part(agent)}", json={"requests_per_day": per_day})
        cap = out.get("requests_per_day")
        return int(cap) if cap is not None else None

    def budgets(self) -> dict[str, int]:
        """`GET /models/budgets`."""
        return {str(k): int(v) for k, v in self._call("GET", "/budgets").items()}
