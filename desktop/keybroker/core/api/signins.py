# SPDX-License-Identifier: Apache-2.0
"""`/api/v1/auth`: agents' sign-ins and client certificates (issue 13), never a token.

- `GET /auth` lists them (what `keybroker auth list --json` prints).
- `PUT /auth/{slug}/{scheme}/client` sets the client (`auth client`): its secret goes to the vault only.
- `POST /auth/{slug}/{scheme}/login` signs in (`auth login`). A code or device flow needs the user,
  so the running instance itself opens the browser or shows the device code, through the sign-in
  prompter the bridge uses (the tray's dialog; `serve`'s stderr). The request waits for the flow's end,
  bounded by the sign-in timeout (`SignIns`, 300 s), and answers the row, or the error the CLI exits
  with (declined or timed out 403 / exit 5, the server unreachable 502 / 6): one request, one answer,
  no job to poll or to leave behind. A caller that goes away ends the flow (and its loopback listener).
- `PUT /auth/{slug}/{scheme}/certificate` imports a client certificate (`auth cert`): PEM text, or
  PKCS#12 as base64 with its password; a certificate that does not read is a 422 (exit code 2: the
  API's own answers are never 400, the bridge guard's status), as is a scheme the card lacks.
- `DELETE /auth/{slug}/{scheme}` signs out (`auth logout`): it revokes the scheme's tokens where the
  server offers revocation (RFC 7009), then forgets them.
Every change is audited with the caller; no answer, error or log line holds a secret, key or token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import Awaitable, Iterator
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from keybroker.core.api.ap_secrets import EXAMPLE_SLUG
from keybroker.core.api.context import Ctx, blocking, caller_of
from keybroker.core.api.errors import error_responses
from keybroker.core.api.fields import Text
from keybroker.core.catalog.signins import SignInBook, SignInRecord
from keybroker.core.errors import InvalidInputError, SignInDenied, UsageError
from keybroker.core.models import SecretValue

__all__ = ["EXAMPLE_SCHEME", "CertificateIn", "ClientIn", "LoginIn", "SignInOut", "SignOutOut", "router"]

T = TypeVar("T")

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


class _In(BaseModel):
    """Unknown fields refused, types strict (as schemas.py's request bodies)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ClientIn(_In):
    """The OAuth client a scheme uses: a secret makes it confidential, `public: true` says there is none."""

    client_id: Text = Field(min_length=1, max_length=512, description="1-512 visible characters.")
    client_secret: Annotated[SecretStr, Field(max_length=4096)] | None = Field(
        default=None, description="Write-only: kept in the vault, never returned."
    )
    public: bool = Field(default=False, description="A public client (PKCE, no secret).")
    redirect_uri: Annotated[Text, Field(max_length=2048)] | None = Field(
        default=None,
        description="The loopback redirect the client is registered with (http://127.0.0.1[:PORT]/PATH).",
    )

    @model_validator(mode="after")
    def _secret_or_public(self) -> ClientIn:
        if (self.client_secret is None) != self.public:
            raise ValueError("give client_secret (a confidential client) or public: true, not both")
        return self


class LoginIn(_In):
    """Which flow to run; omitted: the best the card and server offer."""

    flow: Literal["code", "device", "client"] | None = Field(
        default=None,
        description="code (the browser), device (a code to type elsewhere) or client (client credentials).",
    )


class CertificateIn(_In):
    """A client certificate: PEM (the key in `key_pem` or with the certificate), or PKCS#12 in base64.
    Each file at most 32 KiB (as `auth cert` reads them), so a whole body stays under the 1 MiB limit."""

    cert_pem: Annotated[Text, Field(max_length=32768)] | None = Field(
        default=None, description="PEM, the chain may follow."
    )
    key_pem: Annotated[SecretStr, Field(max_length=32768)] | None = Field(
        default=None, description="Write-only (PEM)."
    )
    p12_base64: Annotated[SecretStr, Field(max_length=43692)] | None = Field(
        default=None, description="Write-only."
    )
    password: Annotated[SecretStr, Field(max_length=1024)] | None = Field(
        default=None, description="The key's or PKCS#12's password (read, never kept)."
    )
    ca_pem: Annotated[Text, Field(max_length=32768)] | None = Field(
        default=None, description="Pin the agent's CA (PEM)."
    )

    @model_validator(mode="after")
    def _something(self) -> CertificateIn:
        if self.cert_pem is None and self.p12_base64 is None:
            raise ValueError("give cert_pem (with key_pem, or the key in it) or p12_base64")
        if self.key_pem is not None and self.p12_base64 is not None:
            raise ValueError("give key_pem or p12_base64, not both")
        return self


class SignOutOut(SignInOut):
    """The row after a sign-out, and whether the server revoked the tokens."""

    not_revoked: str | None = Field(
        description="Why the tokens were forgotten without being revoked at the server; null: revoked."
    )


def _out(record: SignInRecord) -> SignInOut:
    return SignInOut.model_validate(record.to_json())


SlugPath = Annotated[Text, Path(min_length=1, max_length=128, examples=[EXAMPLE_SLUG])]
SchemePath = Annotated[
    Text, Path(min_length=1, max_length=128, description="The card's scheme.", examples=[EXAMPLE_SCHEME])
]


@contextlib.contextmanager
def _usage_as_invalid() -> Iterator[None]:
    """The core's plain UsageError (a scheme the card lacks, a flow it does not offer, no client) is a
    422 here: the API's own answers are never 400, which is the bridge guard's (GuardError)."""
    try:
        yield
    except UsageError as exc:
        if type(exc) is UsageError:
            raise InvalidInputError(exc.message, hint=exc.hint) from None
        raise


async def _until_done_or_gone(request: Request, work: Awaitable[T]) -> T:
    """`work`'s result; if the caller goes away first (Ctrl-C on `auth login`), `work` is cancelled,
    which ends a browser sign-in's loopback listener and a device code's dialog."""
    task = asyncio.ensure_future(work)

    async def gone() -> None:
        # Starlette has no disconnect event to wait on: is_disconnected() peeks without blocking.
        while not await request.is_disconnected():  # noqa: ASYNC110
            await asyncio.sleep(1.0)

    watch = asyncio.ensure_future(gone())
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, watch):
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
    if task.cancelled():
        raise SignInDenied("the sign-in was cancelled: the caller went away")
    return task.result()


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
async def sign_out(slug: SlugPath, scheme: SchemePath, request: Request, ctx: Ctx) -> SignOutOut:
    """Revoke the scheme's tokens at the server where it offers revocation, then forget them (audited)."""
    services = ctx.services
    agent = await blocking(services.catalog.get_agent, slug)
    problem = await ctx.sign_ins().logout(agent, scheme, caller=await caller_of(request))
    record = await blocking(SignInBook(services.catalog).find, slug, scheme)
    assert record is not None  # logout keeps the row (the client stays set)
    return SignOutOut(**_out(record).model_dump(), not_revoked=problem)


@router.put("/{slug}/{scheme}/client", responses=error_responses([401, 404, 422, 500, 503]))
async def set_client(
    slug: SlugPath, scheme: SchemePath, body: ClientIn, request: Request, ctx: Ctx
) -> SignInOut:
    """Use this client for the scheme from now on (`auth client`); tokens held for another are forgotten."""
    agent = await blocking(ctx.services.catalog.get_agent, slug)
    secret = None if body.client_secret is None else SecretValue(body.client_secret.get_secret_value())
    caller = await caller_of(request)
    with _usage_as_invalid():
        record = await ctx.sign_ins().set_client(
            agent, scheme, body.client_id, secret, redirect_uri=body.redirect_uri, caller=caller
        )
    return _out(record)


@router.post("/{slug}/{scheme}/login", responses=error_responses([401, 404, 422, 500, 502, 503]))
async def log_in(slug: SlugPath, scheme: SchemePath, body: LoginIn, request: Request, ctx: Ctx) -> SignInOut:
    """Sign in now (`auth login`) and keep the tokens in the vault. A code or device flow is shown to the
    user by this instance (the browser; the device code's dialog); the answer comes when the flow ends
    (at most the sign-in timeout). Declined or timed out: 403 (exit code 5)."""
    agent = await blocking(ctx.services.catalog.get_agent, slug)
    caller = await caller_of(request)
    with _usage_as_invalid():
        record = await _until_done_or_gone(
            request, ctx.sign_ins().login(agent, scheme, body.flow, caller=caller)
        )
    return _out(record)


@router.put("/{slug}/{scheme}/certificate", responses=error_responses([401, 404, 422, 500, 503]))
async def import_certificate(
    slug: SlugPath, scheme: SchemePath, body: CertificateIn, request: Request, ctx: Ctx
) -> SignInOut:
    """Import a client certificate for a mutual TLS scheme (`auth cert`); the key goes to the vault only.
    One that does not read (wrong password, key not matching) is a 422 saying why (exit code 2)."""
    from keybroker.core.auth.client_cert import read_certificate  # cryptography: on first use

    def text(value: str | None) -> bytes | None:
        return None if value is None else value.encode()

    def secret(value: SecretStr | None) -> bytes | None:
        return None if value is None else value.get_secret_value().encode()

    p12 = None
    if body.p12_base64 is not None:
        try:
            p12 = base64.b64decode(body.p12_base64.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError("p12_base64 is not base64") from None
    agent = await blocking(ctx.services.catalog.get_agent, slug)
    caller = await caller_of(request)
    with _usage_as_invalid():
        material = await blocking(
            read_certificate,
            text(body.cert_pem),
            key=secret(body.key_pem),
            p12=p12,
            password=secret(body.password),
            ca=text(body.ca_pem),
        )
        record = await ctx.sign_ins().import_certificate(agent, scheme, material, caller=caller)
    return _out(record)
