# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/auth`: agents' sign-ins and client certificates (issue 13), never a token.

`GET /auth` lists them (what `keybroker auth list --json` prints); `DELETE /auth/{slug}/{scheme}` signs
out (`keybroker auth logout`): it revokes the scheme's tokens where the server offers revocation
(RFC 7009), then forgets them. Setting a client, signing in and importing a certificate are the CLI's
(`keybroker auth ...`) for now: they run in the CLI's process over the same catalog and vault.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from keybroker.core.api.ap_secrets import EXAMPLE_SLUG
from keybroker.core.api.context import Ctx, blocking, caller_of
from keybroker.core.api.errors import error_responses
from keybroker.core.api.fields import Text
from keybroker.core.catalog.signins import SignInBook, SignInRecord

__all__ = ["EXAMPLE_SCHEME", "SignInOut", "router"]

router = APIRouter(prefix="/auth", tags=["auth"])
#: The scheme name of the schema's examples (the fuzz test seeds a sign-in under it).
EXAMPLE_SCHEME = "sso"


class SignInOut(BaseModel):
    """One agent scheme's sign-in or client certificate, without any value."""

    agent: str
    scheme: str
    flow: str | None = Field(description="client, code or device: the last sign-in's flow.")
    issuer: str | None
    client_id: str | None
    client: str | None = Field(description="public or confidential; null when none is set.")
    registered: bool = Field(description="The client was registered by Keybroker (RFC 7591).")
    signed_in: bool
    subject: str | None = Field(description="Who signed in, from the ID token or the access token.")
    scopes: list[str]
    expires: float | None = Field(description="When the access token ends (epoch seconds).")
    refresh_token: bool = Field(description="A refresh token is held (in the vault).")
    certificate: str | None = Field(description="The client certificate's subject (mutual TLS).")
    certificate_not_after: float | None


def _out(record: SignInRecord) -> SignInOut:
    return SignInOut.model_validate(record.to_json())


@router.get("", responses=error_responses([401, 404, 422, 500]))
async def list_sign_ins(
    ctx: Ctx,
    agent: Annotated[
        Text | None, Query(min_length=1, max_length=128, description="Only this agent's.")
    ] = None,
) -> list[SignInOut]:
    """Every sign-in and client certificate (of one agent), by agent and scheme."""

    def work() -> list[SignInOut]:
        if agent is not None:
            ctx.services.catalog.get_agent(agent)  # an unknown slug is a 404
        return [_out(r) for r in SignInBook(ctx.services.catalog).list(agent)]

    return await blocking(work)


@router.delete("/{slug}/{scheme}", responses=error_responses([401, 404, 422, 500, 502, 503]))
async def sign_out(
    slug: Annotated[Text, Path(min_length=1, max_length=128, examples=[EXAMPLE_SLUG])],
    scheme: Annotated[
        Text, Path(min_length=1, max_length=128, description="The card's scheme.", examples=[EXAMPLE_SCHEME])
    ],
    request: Request,
    ctx: Ctx,
) -> SignInOut:
    """Revoke the scheme's tokens at the server where it offers revocation, then forget them (audited)."""
    from keybroker.core.auth.signins import SignIns  # authlib loads on first use, not with the API

    services = ctx.services
    agent = await blocking(services.catalog.get_agent, slug)
    signins = SignIns(services.catalog, services.vault, services.audit)
    await signins.logout(agent, scheme, caller=await caller_of(request))
    record = await blocking(SignInBook(services.catalog).find, slug, scheme)
    assert record is not None  # logout keeps the row (the client stays set)
    return _out(record)
