# SPDX-License-Identifier: Apache-2.0
"""The interactive flows: authorization code with PKCE through the system browser, and device code.

- `code_flow`: a loopback listener for the flow's lifetime (loopback.py), a fresh `state`, PKCE
  verifier and (for OIDC) `nonce`; the browser opens the authorization URL; the redirect must carry
  our `state` (else the sign-in is refused: a forged or stale redirect), and `iss` must be the
  issuer when sent, or when the server says it always sends it (RFC 9207); an `error` (the user
  denied) refuses the sign-in; else the code is redeemed with the verifier.
- `device_flow`: RFC 8628: the user is shown the code (until the poll ends, or they cancel) while
  the token endpoint is polled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

from authlib.common.security import generate_token

from keybroker.core.auth.loopback import LoopbackRedirect
from keybroker.core.auth.oauth_client import DeviceCode, OAuthClient, TokenResponse, new_verifier
from keybroker.core.auth.scheme_info import SchemeInfo
from keybroker.core.errors import PromptTimeout, SignInDenied

__all__ = ["CodeFlowResult", "code_flow", "device_flow", "loopback_target"]


def loopback_target(redirect_uri: str | None) -> tuple[str | None, int]:
    """(path, port) to listen on for a client registered with `redirect_uri` (port 0: any free)."""
    if not redirect_uri:
        return None, 0
    parts = urlsplit(redirect_uri)
    return (parts.path or "/"), (parts.port or 0)


class CodeFlowResult:
    """The tokens, and the `nonce` the ID token must carry."""

    def __init__(self, tokens: TokenResponse, nonce: str | None) -> None:
        self.tokens = tokens
        self.nonce = nonce


async def code_flow(
    client: OAuthClient,
    info: SchemeInfo,
    *,
    redirect_uri: str | None,
    before_browser: Callable[[str], Awaitable[bool]],
    open_browser: Callable[[str], Awaitable[None]],
    timeout: float,  # noqa: ASYNC109 - the redirect's deadline, not the whole call's
) -> CodeFlowResult:
    """Run the authorization code flow (module docstring). `before_browser(url)` may decline it."""
    path, port = loopback_target(redirect_uri)
    nonce = generate_token(32) if info.oidc else None
    async with LoopbackRedirect(path, port=port) as listener:
        state, verifier = generate_token(32), new_verifier()
        url = client.authorization_url(
            redirect_uri=listener.uri,
            state=state,
            verifier=verifier,
            scopes=info.scopes,
            resource=info.resource,
            nonce=nonce,
        )
        if not await before_browser(url):
            raise SignInDenied(f"the sign-in for {info.agent!r} was declined")
        await open_browser(url)
        try:
            redirected = await asyncio.wait_for(listener.wait(), timeout)
        except TimeoutError:
            raise PromptTimeout(f"no sign-in came back within {timeout:g} s") from None
        sent_to = listener.uri
    params = dict(parse_qsl(urlsplit(redirected).query))
    if params.get("state") != state:
        raise SignInDenied(
            "the sign-in's redirect carried a wrong state; refused (a forged or stale redirect)"
        )
    issuer = client.server.issuer
    iss = params.get("iss")
    if (iss is not None and issuer is not None and iss != issuer) or (
        iss is None and client.server.iss_in_response
    ):
        raise SignInDenied("the sign-in's redirect came from another issuer; refused (RFC 9207)")
    if "error" in params:
        raise SignInDenied(f"the authorization server did not sign you in: {params['error'][:80]}")
    code = params.get("code")
    if not code:
        raise SignInDenied("the sign-in's redirect carried no code")
    tokens = await client.exchange_code(code, redirect_uri=sent_to, verifier=verifier, resource=info.resource)
    return CodeFlowResult(tokens, nonce)


async def device_flow(
    client: OAuthClient, info: SchemeInfo, show: Callable[[DeviceCode], Awaitable[None]]
) -> TokenResponse:
    """Run RFC 8628's flow; `show(device)` displays the code until cancelled (returns: user cancelled)."""
    device = await client.device_authorization(info.scopes, info.resource)
    poll = asyncio.ensure_future(client.poll_device(device, info.resource))
    shown = asyncio.ensure_future(show(device))
    try:
        await asyncio.wait({poll, shown}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (poll, shown):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    if poll.done() and not poll.cancelled():
        return poll.result()
    raise SignInDenied(f"the device sign-in for {info.agent!r} was cancelled")
