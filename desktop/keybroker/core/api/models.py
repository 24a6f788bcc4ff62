# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/models/...` (issue 14): providers, model grants, usage and budgets, for `keybroker models`
while an instance runs (cli/remote_models.py). Keys go in, never out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from keybroker.core.api.ap_secrets import EXAMPLE_SLUG
from keybroker.core.api.context import Ctx, blocking, caller_of
from keybroker.core.api.errors import Conflict, error_responses
from keybroker.core.api.fields import Slug, Text, Value, anchored
from keybroker.core.errors import InvalidInputError, UsageError
from keybroker.core.llm.admin import LocalModelAdmin
from keybroker.core.llm.usage import MAX_BUDGET
from keybroker.core.models import SecretValue

__all__ = ["router"]

router = APIRouter(prefix="/models", tags=["models"])

#: The names the schema's examples use (the fuzzing test stores them).
EXAMPLE_PROVIDER = "local"
EXAMPLE_MODEL = "mock-chat"
EXAMPLE_GRANT_ID = "mg_0123456789abcdef"
#: What the removing operations' examples name: others than the above, which the rest need.
SPARE_PROVIDER = "spare"
SPARE_GRANT_ID = "mg_fedcba9876543210"
_PROVIDER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ProviderName = Annotated[
    Text,
    Path(
        examples=[EXAMPLE_PROVIDER],
        min_length=1,
        max_length=64,
        pattern=_PROVIDER_NAME,
        json_schema_extra=anchored(_PROVIDER_NAME),
        description="A provider.",
    ),
]
SpareName = Annotated[
    Text,
    Path(
        examples=[SPARE_PROVIDER],
        min_length=1,
        max_length=64,
        pattern=_PROVIDER_NAME,
        json_schema_extra=anchored(_PROVIDER_NAME),
        description="A provider.",
    ),
]
GrantId = Annotated[Text, Path(min_length=1, max_length=128, examples=[SPARE_GRANT_ID])]
JsonObject = dict[str, Any]
T = TypeVar("T")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProviderIn(_In):
    """Add or replace a provider: an OpenAI-compatible base URL, its key (write-only) or none."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"base_url": "http://127.0.0.1:9/v1"}]}
    )

    base_url: Annotated[
        Text, Field(min_length=8, max_length=2048, pattern=r"^https?://[^\s/?#@]+(/[^\s?#]*)?$")
    ] = Field(description="Ends before /chat/completions, e.g. https://api.openai.com/v1.")
    preset: Annotated[Text, Field(max_length=64)] = ""
    key: Value | None = Field(default=None, description="The provider's key; write-only. None: no key.")
    allow_handover: bool = Field(
        default=False, description="Agents may be handed the real key if the user says so."
    )


class TestIn(_In):
    """Which model to try (default: the first one the provider lists)."""

    model: Annotated[Text, Field(min_length=1, max_length=256)] | None = None


class AllowIn(_In):
    """An *always* answer for an agent's model demand."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"agent": EXAMPLE_SLUG, "provider": EXAMPLE_PROVIDER, "model": EXAMPLE_MODEL}]
        },
    )

    agent: Slug
    provider: Annotated[Text, Field(min_length=1, max_length=64)]
    model: Annotated[Text, Field(min_length=1, max_length=256)]
    demand: Annotated[Text, Field(min_length=1, max_length=160)] | None = None
    handover: bool = False


class BudgetIn(_In):
    """Requests per day (null: no cap)."""

    requests_per_day: Annotated[int, Field(ge=0, le=MAX_BUDGET)] | None


def _admin(ctx: Any, caller: str | None) -> LocalModelAdmin:
    from keybroker.core.a2a.model_provider import HttpModelProvider

    svc = ctx.services
    return LocalModelAdmin(
        catalog=svc.catalog,
        vault=svc.vault,
        audit=svc.audit,
        client=ctx.provider_client or HttpModelProvider(),
        caller=caller,
        access=ctx.models,
    )


def _key(value: SecretStr | None) -> SecretValue | None:
    return SecretValue(value.get_secret_value()) if value is not None else None


_READ = error_responses([401, 404, 422, 500])
_CHANGE = error_responses([401, 404, 409, 422, 500, 502, 503])


async def _run(work: Callable[[], T]) -> T:
    """`work` off the loop; a usage error (the request was fine, what is stored disagrees) is a 409."""

    def guarded() -> T:
        try:
            return work()
        except UsageError as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise Conflict(exc) from None

    return await blocking(guarded)


@router.get("/providers", responses=_READ)
async def list_providers(ctx: Ctx) -> list[JsonObject]:
    """Every provider (never its key)."""
    admin = _admin(ctx, None)
    return await _run(lambda: [p.to_json() for p in admin.providers()])


@router.put("/providers/{name}", responses=_CHANGE)
async def put_provider(name: ProviderName, body: ProviderIn, request: Request, ctx: Ctx) -> JsonObject:
    """Add or replace a provider (audited); `POST .../refresh` reads its models."""
    admin = _admin(ctx, await caller_of(request))
    key = _key(body.key)
    return await _run(
        lambda: admin.add_provider(
            name, body.base_url, key, preset=body.preset, handover=body.allow_handover, refresh=False
        ).to_json()
    )


@router.delete("/providers/{name}", responses=_CHANGE)
async def remove_provider(name: SpareName, request: Request, ctx: Ctx) -> JsonObject:
    """Remove a provider, its key and its grants (audited)."""
    admin = _admin(ctx, await caller_of(request))
    return await _run(lambda: admin.remove_provider(name).to_json())


@router.post("/providers/{name}/refresh", responses=_CHANGE)
async def refresh_provider(name: ProviderName, ctx: Ctx) -> JsonObject:
    """Read the provider's models again."""
    admin = _admin(ctx, None)
    return await _run(lambda: admin.refresh_provider(name).to_json())


@router.post("/providers/{name}/test", responses=_CHANGE)
async def test_provider(name: ProviderName, body: TestIn, ctx: Ctx) -> JsonObject:
    """One tiny call to the provider."""
    admin = _admin(ctx, None)
    return await _run(lambda: admin.test_provider(name, body.model))


@router.get("/grants", responses=_READ)
async def list_model_grants(
    ctx: Ctx, agent: Annotated[Text | None, Query(min_length=1, max_length=128)] = None
) -> list[JsonObject]:
    """Stored model grants."""
    admin = _admin(ctx, None)
    return await _run(lambda: [g.to_json() for g in admin.model_grants(agent)])


@router.post("/grants", status_code=201, responses=_CHANGE)
async def allow_model(body: AllowIn, request: Request, ctx: Ctx) -> JsonObject:
    """An *always* answer for an agent's model demand (audited)."""
    admin = _admin(ctx, await caller_of(request))
    return await _run(
        lambda: admin.allow(
            body.agent, body.provider, body.model, demand=body.demand, handover=body.handover
        ).to_json()
    )


@router.delete("/grants/{grant_id}", responses=_CHANGE)
async def revoke_model_grant(grant_id: GrantId, request: Request, ctx: Ctx) -> JsonObject:
    """End a model grant; its gateway tokens end at once (audited)."""
    admin = _admin(ctx, await caller_of(request))
    return await _run(lambda: admin.revoke_model_grant(grant_id).to_json())


@router.get("/usage", responses=_READ)
async def model_usage(
    ctx: Ctx,
    agent: Annotated[Text | None, Query(min_length=1, max_length=128)] = None,
    by_day: bool = False,
) -> list[JsonObject]:
    """Requests and tokens per agent and model (and day)."""
    admin = _admin(ctx, None)
    return await _run(lambda: [r.to_json() for r in admin.usage(agent, by_day=by_day)])


@router.get("/budgets", responses=_READ)
async def model_budgets(ctx: Ctx) -> dict[str, int]:
    """Every agent's cap on model requests per day."""
    admin = _admin(ctx, None)
    return await _run(admin.budgets)


@router.put("/budgets/{slug}", responses=_CHANGE)
async def set_model_budget(
    slug: Annotated[Text, Path(min_length=1, max_length=128, examples=[EXAMPLE_SLUG])],
    body: BudgetIn,
    ctx: Ctx,
) -> JsonObject:
    """Cap an agent's model requests per day (null: no cap)."""
    admin = _admin(ctx, None)
    per_day = body.requests_per_day
    return await _run(lambda: {"agent": slug, "requests_per_day": admin.set_budget(slug, per_day)})
