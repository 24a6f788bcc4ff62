# SPDX-License-Identifier: Apache-2.0
"""Sign-ins for agents' OAuth 2 / OpenID Connect schemes: set the client, sign in, keep the tokens
fresh, hand them to the bridge, sign out.

Longer than 300 lines because the four life stages of a sign-in (client, sign-in, use, sign-out)
share its storage and locks, and read best side by side.

Storage: the catalog row (core/catalog/signins.py) and one vault entry of values (token_set.py),
written vault first. A running instance and the CLI share both: a row's `updated` stamp tells this
process that its cached values are stale (the CLI signed in or out meanwhile).

The bridge's port (`TokenSource`, core/bridge/ports.py) is `ready()` and `token()`:
- `ready`: tokens are held, or a confidential client can fetch some (client credentials): no user;
- `token`: the cached access token while it has more than `EXPIRY_SKEW` seconds left; else (or when
  the agent refused the one it was sent) the refresh token is used silently, a rotated refresh token
  replacing the old; a refresh the server refuses (`invalid_grant`: revoked, expired, rotated away)
  forgets the tokens; then, when `interactive`, the user is asked to sign in again (the sign-in
  prompt, then the browser or the device code). Every token handed out is audited `released`
  (without a secret_id: it is not a stored secret) and every sign-in, refresh and sign-out too.
One lock per (agent, scheme): concurrent runs share a refresh or a sign-in.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
import time
import webbrowser
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from keybroker.core.audit.log import AuditLog
from keybroker.core.auth.agent_sign_in import agent_sign_in
from keybroker.core.auth.scheme_info import TOKEN_KINDS, SchemeInfo, scheme_info
from keybroker.core.auth.token_set import TokenSet
from keybroker.core.broker.sign_in_prompts import DeviceCodeNotice, SignInAsk, SignInPrompter
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.catalog.signins import SignInBook, SignInRecord, new_account
from keybroker.core.errors import KeybrokerError, NotFoundError, SignInDenied, UsageError
from keybroker.core.models import AgentRecord, AuditDecision, SecretValue
from keybroker.core.ports import AsyncVault
from keybroker.core.safe_text import one_line

if TYPE_CHECKING:  # httpx, authlib, joserfc, cryptography: loaded by the first sign-in, not at start
    import httpx

    from keybroker.core.auth.client_cert import CertificateMaterial
    from keybroker.core.auth.oauth_client import DeviceCode, OAuthClient, TokenResponse
    from keybroker.core.auth.server_info import AuthServer

__all__ = ["EXPIRY_SKEW", "FLOWS", "SignIns"]

log = logging.getLogger("keybroker.auth")

FLOWS = ("client", "code", "device")
#: An access token with fewer seconds than this left is refreshed before it is sent.
EXPIRY_SKEW = 30.0
_GRANT_FLOWS = {
    "client_credentials": "client",
    "authorization_code": "code",
    "urn:ietf:params:oauth:grant-type:device_code": "device",
}


async def _system_browser(url: str) -> None:
    """Open `url` with Python's webbrowser ($BROWSER honoured), off the loop; with no browser (headless)
    the URL goes to stderr, for the user (never to the log)."""
    if not await asyncio.to_thread(webbrowser.open, url):
        log.warning("no browser could be opened for a sign-in; the URL is on stderr")
        shown = one_line(url, 16384)  # control characters from a server's metadata never reach a terminal
        sys.stderr.write(f"Keybroker: no browser opened; to sign in, open on this machine: {shown}\n")
        sys.stderr.flush()


class SignIns:
    """The sign-ins of every agent's token schemes (module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        vault: AsyncVault,
        audit: AuditLog,
        *,
        prompter: SignInPrompter | None = None,
        open_browser: Callable[[str], Awaitable[None]] = _system_browser,
        timeout: float = 300.0,
        clock: Callable[[], float] = time.time,
        http: Callable[[], httpx.AsyncClient] | None = None,
        expiry_skew: float = EXPIRY_SKEW,
    ) -> None:
        """`timeout`: seconds a sign-in may take (the prompt, the browser, the device code);
        `expiry_skew`: an access token with fewer seconds left is refreshed before it is sent;
        `http`: makes the client for authorization servers (default: server_info's `http_client`)."""
        self.book = SignInBook(catalog)
        self._vault = vault
        self._audit = audit
        self.prompter = prompter
        self._open_browser = open_browser
        self._timeout = timeout
        self._clock = clock
        self._http = http or _http_client
        self._skew = expiry_skew
        self._cache: dict[tuple[str, str], tuple[float, TokenSet]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._tls: dict[tuple[str, str], tuple[float, ssl.SSLContext]] = {}

    # Reading ------------------------------------------------------------------------------------

    def find(self, slug: str, scheme: str) -> SignInRecord | None:
        """The sign-in row of `slug`'s `scheme`."""
        return self.book.find(slug, scheme)

    def list(self, slug: str | None = None) -> list[SignInRecord]:
        """Every sign-in row (of one agent)."""
        return self.book.list(slug)

    def forget_cached(self) -> None:
        """Drop every value held in memory (on lock); the vault still has them."""
        self._cache.clear()
        self._tls.clear()

    # The bridge's port ----------------------------------------------------------------------------

    def ready(self, agent: AgentRecord, scheme: str) -> bool:
        """True when a token can be had without the user (tokens held, or a confidential client)."""
        record = self.book.find(agent.slug, scheme)
        if record is None:
            return False
        return record.signed_in is not None or (record.client_id is not None and not record.public)

    async def token(
        self,
        agent: AgentRecord,
        scheme: str,
        *,
        refused: SecretValue | None = None,
        interactive: bool = False,
        reason: str = "",
        task_id: str | None = None,
        context_id: str | None = None,
        caller: str | None = None,
    ) -> SecretValue | None:
        """An access token to send `agent` for `scheme`, or None (module docstring).

        `refused`: the token the agent just refused (it is not used again).
        """
        async with self._lock(agent.slug, scheme):
            try:
                found = await self._fresh_token(agent, scheme, refused)
                if found is None and interactive:
                    info = scheme_info(agent, scheme)
                    _, values = await self._sign_in(agent, info, None, reason=reason, caller=caller)
                    found = values.access_token
            except KeybrokerError as exc:
                log.warning("agent %r scheme %r: no token: %s", agent.slug, scheme, exc.message)
                return None
            if found is None:
                return None
            self._audit.append(
                AuditDecision.RELEASED,
                agent=agent.slug,
                key=scheme,
                task_id=task_id,
                context_id=context_id,
                caller=caller,
                detail="access token",
            )
            return found

    async def _fresh_token(
        self, agent: AgentRecord, scheme: str, refused: SecretValue | None
    ) -> SecretValue | None:
        record = self.book.find(agent.slug, scheme)
        if record is None:
            return None
        values = await self._values(record)
        access = values.access_token
        usable = access is not None and (refused is None or access != refused)
        if usable and (values.expires_at is None or values.expires_at - self._clock() > self._skew):
            return access
        if values.refresh_token is not None:
            return await self._refresh(agent, record, values)
        if record.client_id and not record.public:
            # A confidential client fetches another: audited `refreshed` once it held one before.
            again = record.signed_in is not None
            record, values = await self._sign_in(agent, scheme_info(agent, scheme), "client", quiet=again)
            return values.access_token
        return None

    async def _refresh(
        self, agent: AgentRecord, record: SignInRecord, values: TokenSet
    ) -> SecretValue | None:
        from keybroker.core.auth.oauth_client import TokenRequestError

        info = scheme_info(agent, record.scheme)
        assert values.refresh_token is not None
        async with self._http() as http:
            server = await _discover(info, http)
            client = self._client(server, record, values, http)
            try:
                tokens = await client.refresh(values.refresh_token, info.resource)
            except TokenRequestError as exc:
                log.info(
                    "agent %r scheme %r: refresh refused (%s): signed out",
                    agent.slug,
                    record.scheme,
                    exc.error,
                )
                await self._save(self._signed_out(record), values.without_tokens())
                self._audit.append(
                    AuditDecision.SIGNED_OUT,
                    agent=agent.slug,
                    key=record.scheme,
                    detail=f"refresh refused: {exc.error}",
                )
                return None
        record, values = await self._store(record, values, tokens, server, info, flow=record.flow)
        self._audit.append(
            AuditDecision.REFRESHED, agent=agent.slug, key=record.scheme, detail=_rotated(tokens)
        )
        return values.access_token

    # The user's operations ----------------------------------------------------------------------

    async def set_client(
        self,
        agent: AgentRecord,
        scheme: str,
        client_id: str,
        secret: SecretValue | None,
        *,
        redirect_uri: str | None = None,
        caller: str | None = None,
    ) -> SignInRecord:
        """Use this client for `scheme` from now on (a secret makes it confidential); tokens held
        for another client are forgotten."""
        _token_scheme(scheme_info(agent, scheme))
        if not client_id or len(client_id) > 512 or any(ord(c) < 33 for c in client_id):
            raise UsageError("a client id is 1-512 visible characters")
        if redirect_uri is not None:
            parts = urlsplit(redirect_uri)
            if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise UsageError("a redirect URI is a loopback one: http://127.0.0.1[:PORT]/PATH (RFC 8252)")
        async with self._lock(agent.slug, scheme):
            record = self.book.find(agent.slug, scheme) or SignInRecord(agent.slug, scheme, new_account())
            values = await self._values(record)
            record = self._signed_out(record).replace(
                client_id=client_id, public=secret is None, registered=False, redirect_uri=redirect_uri
            )
            record = await self._save(record, values.without_tokens().replace(client_secret=secret))
        kind = "public" if secret is None else "confidential"
        self._audit.append(
            AuditDecision.UPDATED, agent=agent.slug, key=scheme, caller=caller, detail=f"{kind} client set"
        )
        return record

    async def login(
        self, agent: AgentRecord, scheme: str, flow: str | None = None, *, caller: str | None = None
    ) -> SignInRecord:
        """Sign in now with `flow` (None: the best the card and server offer) and keep the tokens."""
        if flow is not None and flow not in FLOWS:
            raise UsageError(f"unknown flow {flow!r}: one of {', '.join(FLOWS)}")
        info = scheme_info(agent, scheme)
        async with self._lock(agent.slug, scheme):
            record, _ = await self._sign_in(agent, info, flow, caller=caller, asked_by_user=True)
        return record

    async def logout(self, agent: AgentRecord, scheme: str, *, caller: str | None = None) -> str | None:
        """Revoke the tokens where the server offers revocation (RFC 7009), then forget them.

        Returns why they could not be revoked (they are forgotten all the same), or None."""
        async with self._lock(agent.slug, scheme):
            record = self.book.find(agent.slug, scheme)
            if record is None or record.signed_in is None:
                raise NotFoundError(f"agent {agent.slug!r} is not signed in for scheme {scheme!r}")
            values = await self._values(record)
            problem = await self._revoke(agent, record, values)
            await self._save(self._signed_out(record), values.without_tokens())
        detail = "revoked at the server" if problem is None else f"forgotten, not revoked: {problem}"
        self._audit.append(
            AuditDecision.SIGNED_OUT, agent=agent.slug, key=scheme, caller=caller, detail=detail
        )
        return problem

    async def agent_sign_in(
        self,
        agent: AgentRecord,
        url: SecretValue,
        arm: Callable[[], Awaitable[SecretValue]],
        *,
        task_id: str | None = None,
        context_id: str | None = None,
        caller: str | None = None,
    ) -> SecretValue | None:
        """A sign-in the agent runs itself (Agent Stack's OAuth extension): the user is asked, the
        browser opened, the redirect awaited (agent_sign_in.py); the callback URL, or None."""
        return await agent_sign_in(
            agent,
            url,
            arm,
            prompter=self.prompter,
            open_browser=self._open_browser,
            audit=self._audit,
            seconds=self._timeout,
            task_id=task_id,
            context_id=context_id,
            caller=caller,
        )

    # Client certificates (mutual TLS) ------------------------------------------------------------

    async def import_certificate(
        self,
        agent: AgentRecord,
        scheme: str | None,
        material: CertificateMaterial,
        *,
        caller: str | None = None,
    ) -> SignInRecord:
        """Keep `material` in the vault for `agent`'s mutual TLS scheme (the first one when None)."""
        name = _mtls_scheme(agent, scheme)
        async with self._lock(agent.slug, name):
            record = self.book.find(agent.slug, name) or SignInRecord(agent.slug, name, new_account())
            values = (await self._values(record)).replace(
                cert_pem=SecretValue(material.cert_pem),
                key_pem=material.key_pem,
                ca_pem=SecretValue(material.ca_pem) if material.ca_pem else None,
            )
            record = record.replace(cert_subject=material.subject, cert_not_after=material.not_after)
            record = await self._save(record, values)
        pinned = "; CA pinned" if material.ca_pem else ""
        self._audit.append(
            AuditDecision.UPDATED,
            agent=agent.slug,
            key=name,
            caller=caller,
            detail=f"client certificate set{pinned}",
        )
        return record

    async def client_tls(self, agent: AgentRecord) -> ssl.SSLContext | None:
        """The context presenting `agent`'s client certificate, or None; the same object while the
        certificate is unchanged (the bridge rebuilds an agent's pool when it changes)."""
        for scheme in (s.name for s in agent.schemes if s.kind == "mutualTLS"):
            record = self.book.find(agent.slug, scheme)
            if record is None or record.cert_subject is None:
                continue
            cached = self._tls.get((agent.slug, scheme))
            if cached is not None and cached[0] == record.updated:
                return cached[1]
            values = await self._values(record)
            if values.cert_pem is None or values.key_pem is None:
                continue
            from keybroker.core.auth.client_cert import client_context

            context = client_context(
                values.cert_pem.reveal(), values.key_pem, values.ca_pem.reveal() if values.ca_pem else None
            )
            self._tls[(agent.slug, scheme)] = (record.updated, context)
            return context
        return None

    async def forget_agent(self, slug: str) -> None:
        """Drop every sign-in of an agent that was removed (values and rows)."""
        for record in self.book.list(slug):
            await self._vault.adelete(record.account)
            self.book.delete(slug, record.scheme)
            self._cache.pop((slug, record.scheme), None)

    # Signing in ---------------------------------------------------------------------------------

    async def _sign_in(
        self,
        agent: AgentRecord,
        info: SchemeInfo,
        flow: str | None,
        *,
        reason: str = "",
        caller: str | None = None,
        asked_by_user: bool = False,
        quiet: bool = False,
    ) -> tuple[SignInRecord, TokenSet]:
        _token_scheme(info)
        record = self.book.find(agent.slug, info.name) or SignInRecord(agent.slug, info.name, new_account())
        values = await self._values(record)
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(self._http())
            server = await _discover(info, http)
            record, values = await self._ensure_client(record, values, server, http)
            client = self._client(server, record, values, http)
            flow = flow or _choose_flow(info, server, record)
            _check_flow(info, server, flow)
            nonce = None
            if flow == "client":
                tokens = await client.client_credentials(info.scopes, info.resource)
            elif flow == "code":
                from keybroker.core.auth.signin_flows import code_flow

                ask = self._asker(agent, info, server, "code", reason, asked_by_user)
                result = await code_flow(
                    client,
                    info,
                    redirect_uri=record.redirect_uri,
                    before_browser=ask,
                    open_browser=self._open_browser,
                    timeout=self._timeout,
                )
                tokens, nonce = result.tokens, result.nonce
            else:
                if not await self._asker(agent, info, server, "device", reason, asked_by_user)(None):
                    raise SignInDenied(f"the sign-in for {agent.slug!r} was declined")
                from keybroker.core.auth.signin_flows import device_flow

                tokens = await asyncio.wait_for(
                    device_flow(client, info, self._shower(agent, info)), self._timeout
                )
            subject = None
            if tokens.id_token is not None and (nonce is not None or flow == "device"):
                # The device flow's ID token is checked too (signature, iss, aud, exp): it sends no nonce.
                assert record.client_id is not None
                from keybroker.core.auth.id_token import verify_id_token

                identity = await verify_id_token(
                    tokens.id_token.reveal(), server, client_id=record.client_id, nonce=nonce, http=http
                )
                subject = identity.name or identity.subject
            elif info.oidc and flow == "code":
                raise SignInDenied("the OpenID Connect sign-in returned no ID token; refused")
        record, values = await self._store(record, values, tokens, server, info, flow=flow, subject=subject)
        if not quiet:
            host = urlsplit(server.issuer or server.token_endpoint or "").hostname or "?"
            self._audit.append(
                AuditDecision.SIGNED_IN,
                agent=agent.slug,
                key=info.name,
                caller=caller,
                detail=f"{flow} flow at {host}",
            )
        else:
            self._audit.append(
                AuditDecision.REFRESHED, agent=agent.slug, key=info.name, detail="client credentials"
            )
        return record, values

    def _asker(
        self,
        agent: AgentRecord,
        info: SchemeInfo,
        server: AuthServer,
        flow: str,
        reason: str,
        asked_by_user: bool,
    ) -> Callable[[str | None], Awaitable[bool]]:
        host = urlsplit(server.authorization_endpoint or server.device_authorization_endpoint or "").hostname
        ask = SignInAsk(agent.slug, agent.name or agent.slug, info.name, host or "?", flow, reason)

        async def confirm(url: str | None) -> bool:
            if asked_by_user or self.prompter is None:  # `auth login`, Sign in: the user asked already
                return asked_by_user
            shown = SignInAsk(ask.agent_slug, ask.agent_name, ask.scheme, ask.host, flow, reason, url)
            try:
                return await asyncio.wait_for(self.prompter.confirm_sign_in(shown), self._timeout)
            except TimeoutError:
                return False

        return confirm

    def _shower(self, agent: AgentRecord, info: SchemeInfo) -> Callable[[DeviceCode], Awaitable[None]]:
        async def show(device: DeviceCode) -> None:
            notice = DeviceCodeNotice(
                agent.slug,
                agent.name or agent.slug,
                info.name,
                device.user_code,
                device.verification_uri,
                device.verification_uri_complete,
                device.expires_at,
            )
            if self.prompter is None:
                await asyncio.Event().wait()  # nobody to show it to: the poll decides
            else:
                await self.prompter.show_device_code(notice)

        return show

    async def _ensure_client(
        self, record: SignInRecord, values: TokenSet, server: AuthServer, http: httpx.AsyncClient
    ) -> tuple[SignInRecord, TokenSet]:
        """The user's client, else one registered now (RFC 7591) where the server offers it."""
        if record.client_id:
            return record, values
        if not server.registration_endpoint:
            raise UsageError(
                f"scheme {record.scheme!r} of agent {record.agent!r} needs a client: "
                "the server registers none",
                hint=f"keybroker auth client {record.agent} --scheme {record.scheme} "
                "--client-id ID [--public]",
            )
        from keybroker.core.auth.registration import register_client

        registered = await register_client(server, http)
        record = record.replace(
            client_id=registered.client_id,
            public=registered.client_secret is None,
            registered=True,
            redirect_uri=registered.redirect_uri,
        )
        values = values.replace(client_secret=registered.client_secret)
        return await self._save(record, values), values

    def _client(
        self, server: AuthServer, record: SignInRecord, values: TokenSet, http: httpx.AsyncClient
    ) -> OAuthClient:
        if not record.client_id:
            raise UsageError(f"scheme {record.scheme!r} of agent {record.agent!r} has no client set")
        from keybroker.core.auth.oauth_client import OAuthClient

        return OAuthClient(server, record.client_id, values.client_secret, http, clock=self._clock)

    async def _revoke(self, agent: AgentRecord, record: SignInRecord, values: TokenSet) -> str | None:
        from keybroker.core.auth.oauth_client import TokenRequestError

        try:
            info = scheme_info(agent, record.scheme)
            async with self._http() as http:
                server = await _discover(info, http)
                if not server.revocation_endpoint:
                    return "the server offers no revocation"
                client = self._client(server, record, values, http)
                if values.refresh_token is not None:
                    await client.revoke(values.refresh_token, "refresh_token")
                if values.access_token is not None:
                    try:
                        await client.revoke(values.access_token, "access_token")
                    except TokenRequestError as exc:
                        if exc.error != "unsupported_token_type":  # RFC 7009 §2.2.1: e.g. JWTs
                            raise
        except KeybrokerError as exc:
            return exc.message
        return None

    # Storage ------------------------------------------------------------------------------------

    async def _store(
        self,
        record: SignInRecord,
        values: TokenSet,
        tokens: TokenResponse,
        server: AuthServer,
        info: SchemeInfo,
        *,
        flow: str | None,
        subject: str | None = None,
    ) -> tuple[SignInRecord, TokenSet]:
        # A rotated refresh token replaces the old one; a server that sends none keeps the old valid.
        refresh = tokens.refresh_token or (values.refresh_token if flow != "client" else None)
        values = values.replace(
            access_token=tokens.access_token,
            refresh_token=refresh,
            id_token=tokens.id_token or values.id_token,
            expires_at=tokens.expires_at,
        )
        now = self._clock()
        record = record.replace(
            flow=flow,
            issuer=server.issuer or record.issuer or server.token_endpoint,
            scopes=tokens.scope if tokens.scope is not None else " ".join(info.scopes),
            subject=subject or record.subject,
            expires=tokens.expires_at,
            refresh_held=refresh is not None,
            signed_in=record.signed_in if record.signed_in is not None else now,
        )
        return await self._save(record, values), values

    async def _save(self, record: SignInRecord, values: TokenSet) -> SignInRecord:
        if values.empty:
            await self._vault.adelete(record.account)
        else:
            await self._vault.aset(record.account, values.to_value())
        record = self.book.put(record)
        self._cache[(record.agent, record.scheme)] = (record.updated, values)
        return record

    async def _values(self, record: SignInRecord) -> TokenSet:
        key = (record.agent, record.scheme)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == record.updated:
            return hit[1]
        values = TokenSet.from_value(await self._vault.aget(record.account), record.account)
        self._cache[key] = (record.updated, values)
        return values

    @staticmethod
    def _signed_out(record: SignInRecord) -> SignInRecord:
        return record.replace(signed_in=None, expires=None, refresh_held=False, subject=None, scopes="")

    def _lock(self, slug: str, scheme: str) -> asyncio.Lock:
        return self._locks.setdefault((slug, scheme), asyncio.Lock())


def _token_scheme(info: SchemeInfo) -> None:
    if info.kind not in TOKEN_KINDS:
        raise UsageError(
            f"scheme {info.name!r} of agent {info.agent!r} is {info.kind}, not OAuth 2 or OpenID Connect"
        )


def _mtls_scheme(agent: AgentRecord, scheme: str | None) -> str:
    names = [s.name for s in agent.schemes if s.kind == "mutualTLS"]
    if scheme is None and names:
        return names[0]
    if scheme is not None and scheme in names:
        return scheme
    raise UsageError(
        f"agent {agent.slug!r} has no mutual TLS scheme" + (f" named {scheme!r}" if scheme else ""),
        hint="its card must declare one (`mutualTLS` in 0.3, `mtlsSecurityScheme` in 1.0)",
    )


def _http_client() -> httpx.AsyncClient:
    from keybroker.core.auth.server_info import http_client

    return http_client()


async def _discover(info: SchemeInfo, http: httpx.AsyncClient) -> AuthServer:
    from keybroker.core.auth.server_info import discover

    return await discover(info, http)


def _offered(info: SchemeInfo, server: AuthServer) -> list[str]:
    """The flows the card (OAuth 2) or the discovery document (OIDC) offers, in our names."""
    if info.kind == "oauth2" and info.flows:
        return [f.name for f in info.flows]
    offered = [_GRANT_FLOWS[g] for g in server.grant_types if g in _GRANT_FLOWS]
    return offered or (["code"] if server.authorization_endpoint else [])


def _choose_flow(info: SchemeInfo, server: AuthServer, record: SignInRecord) -> str:
    offered = _offered(info, server)
    if not record.public and "client" in offered:
        return "client"
    for flow, endpoint in (
        ("code", server.authorization_endpoint),
        ("device", server.device_authorization_endpoint),
    ):
        if flow in offered and endpoint:
            return flow
    raise UsageError(
        f"scheme {info.name!r} of agent {info.agent!r} offers no flow Keybroker can run here"
        + (" (client credentials need a confidential client)" if "client" in offered else "")
    )


def _check_flow(info: SchemeInfo, server: AuthServer, flow: str) -> None:
    offered = _offered(info, server)
    if flow not in offered:
        raise UsageError(
            f"scheme {info.name!r} of agent {info.agent!r} does not offer the {flow} flow "
            f"(it offers: {', '.join(offered) or 'none'})"
        )


def _rotated(tokens: TokenResponse) -> str:
    return "refresh token rotated" if tokens.refresh_token is not None else "access token renewed"
