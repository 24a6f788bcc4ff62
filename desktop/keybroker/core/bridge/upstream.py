# SPDX-License-Identifier: Apache-2.0
"""One agent's upstream: a bounded httpx pool, a semaphore in front of it, a2a-sdk clients on top.
Longer than 300 lines because the pool, the admission gate in front of it and the clients on top share one
lifetime and one set of limits (the fast path's aiohttp hop goes through the same gate); split, each would
need the others' state.

DESIGN §2/§7: `trust_env=False` (no proxy may see loopback traffic or secrets), redirects never
followed, 4-16 connections per agent with an `asyncio.Semaphore` in front (httpcore's pool slows down
badly when it grows, and a waiting request must queue on the semaphore rather than time out in the
pool). A permit is held for a whole exchange, stream included. No timer runs while idle.

The a2a-sdk `ClientFactory` picks the agent's best interface (1.0 preferred, else its 0.3 compat
transport), so the bridge speaks whichever version the agent does. Errors from the SDK and httpx
become clean `A2AError`s naming the agent, never a traceback and never upstream text carrying a
value the bridge injected (`upstream_error`, from agent_errors.py). Card security credentials (API
keys, bearer tokens) ride along as a per-call marker and are applied by the transport at the wire
(credentials.py). `answers()` tells whether the agent answers at all (probe.py).

The httpx client keeps no cookies (`_UpstreamClient`): one client serves every caller of an agent, so a
cookie an agent set for one caller must not ride along with the next; cookie credentials the card
declares are applied per request by the transport instead.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from a2a.client import Client, ClientCallContext, ClientConfig, ClientFactory
from a2a.types import AgentCard, SendMessageRequest, StreamResponse, SubscribeToTaskRequest
from a2a.utils.errors import InvalidAgentResponseError

from keybroker.core.a2a.credentials import CredentialRegistry, Credentials, CredentialTransport
from keybroker.core.bridge.agent_errors import (
    AgentTimeoutError,
    is_refused_call,
    is_unauthorized,
    unreachable,
    upstream_error,
)
from keybroker.core.bridge.limits import UpstreamLimits
from keybroker.core.bridge.probe import AgentProbe
from keybroker.core.bridge.tls import context_for

__all__ = [
    "EXTENSION_HEADERS",
    "Upstream",
    "UpstreamLimits",
    "is_refused_call",
    "is_unauthorized",
    "secure_for_secrets",
    "unreachable",
    "upstream_error",
]

log = logging.getLogger("keybroker.bridge")

#: Sent under both names: 1.0 reads `A2A-Extensions`, 0.3 servers `X-A2A-Extensions` (pitfall 6).
EXTENSION_HEADERS = ("A2A-Extensions", "X-A2A-Extensions")
_HTTP_BINDINGS = ("JSONRPC", "HTTP+JSON")
#: Seconds an idle pooled connection is reused. Below the 5 s after which uvicorn (most Python agents)
#: and Node close an idle keep-alive connection: reusing one at that moment races the server's close, and
#: the send fails with "closed the connection" (seen once per full bench run with 30 s).
KEEPALIVE_EXPIRY = 4.0
_T = TypeVar("_T")


@asynccontextmanager
async def _closing(events: AsyncIterator[_T]) -> AsyncGenerator[AsyncIterator[_T], None]:
    """`contextlib.aclosing` for the SDK's streams, typed as plain AsyncIterators."""
    try:
        yield events
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def _speaks_1_0(card: AgentCard) -> bool:
    """True when the SDK will talk A2A 1.x to this agent (it prefers a 1.x interface when there is one)."""
    for interface in card.supported_interfaces:
        if interface.protocol_binding in _HTTP_BINDINGS:
            version = interface.protocol_version.strip().lstrip("v")
            major = version.split(".")[0]
            if not version or (major.isdigit() and int(major) >= 1):
                return True  # no version: the SDK speaks its current one
    return False


def _host_is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_for_secrets(url: str) -> bool:
    """True for https, or plain http to a loopback host (DESIGN §4: no secret in clear elsewhere)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme.lower() == "https":
        return True
    return parts.scheme.lower() == "http" and _host_is_loopback(parts.hostname or "")


class _NoCookies(httpx.Cookies):
    """An always-empty cookie store: what an agent sets is dropped, nothing is sent back."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        return None

    def update(self, cookies: Any = None) -> None:  # type: ignore[override]
        return None  # httpx's update writes the jar directly, past `set`


class _UpstreamClient(httpx.AsyncClient):
    """`httpx.AsyncClient` without a cookie jar.

    httpx stores every `Set-Cookie` in a client-wide jar, shared by all of the bridge's callers (see
    the module docstring); skipping it also saves wrapping each response for `http.cookiejar` (~15 us).
    """

    _NO_COOKIES = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        if cookies:
            raise ValueError("the upstream client keeps no cookies")


class Upstream:
    """The way to one agent. Use as an async context manager or call `aclose()`."""

    def __init__(
        self,
        card: AgentCard,
        *,
        slug: str,
        limits: UpstreamLimits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        follow_streams: bool = False,
        probe_url: str | None = None,
        client_tls: ssl.SSLContext | None = None,
    ) -> None:
        """`follow_streams`: serve blocking sends by following a stream even for 1.0 agents.
        `probe_url`: a URL that answers while the agent runs (its card's), for `answers()`.
        `client_tls`: a context presenting the agent's client certificate (mutual TLS), used for
        every connection to it instead of the shared one."""
        self.slug = slug
        self.limits = limits or UpstreamLimits()
        n = self.limits.connections
        pool = httpx.Limits(max_connections=n, max_keepalive_connections=n, keepalive_expiry=KEEPALIVE_EXPIRY)
        self._credentials = CredentialRegistry()
        urls = [i.url for i in card.supported_interfaces if i.protocol_binding in _HTTP_BINDINGS]
        # Card security credentials are added by this transport, right before the wire (credentials.py).
        # One shared TLS context for every https agent, none loaded for plain http (tls.py).
        verify = client_tls or context_for(urls)
        wire = transport or httpx.AsyncHTTPTransport(verify=verify, limits=pool, trust_env=False)
        self._http = _UpstreamClient(
            trust_env=False,
            follow_redirects=False,
            limits=pool,
            timeout=httpx.Timeout(connect=self.limits.connect_timeout, read=None, write=30.0, pool=None),
            transport=CredentialTransport(wire, self._credentials),
        )
        bindings = list(_HTTP_BINDINGS)
        self._streaming = ClientFactory(
            ClientConfig(httpx_client=self._http, streaming=True, supported_protocol_bindings=bindings)
        ).create(card)
        self._plain = ClientFactory(
            ClientConfig(httpx_client=self._http, streaming=False, supported_protocol_bindings=bindings)
        ).create(card)
        self.streams = bool(card.capabilities.streaming)
        #: The agent speaks only A2A 0.3 (params.py lets a resume without parts through to it).
        self.legacy = not _speaks_1_0(card)
        #: The agent's card declares an extended card (else the bridge answers for it: handler.py).
        self.extended_card = bool(card.capabilities.extended_agent_card)
        self.follow_streams = self.streams and (follow_streams or self.legacy)
        self.secrets_allowed = bool(urls) and all(secure_for_secrets(u) for u in urls)
        self._gate = asyncio.Semaphore(n)
        self._probe = (
            AgentProbe(probe_url, verify=client_tls or context_for([*urls, probe_url]), transport=transport)
            if probe_url
            else None
        )

    @property
    def gate(self) -> asyncio.Semaphore:
        """The FIFO admission limit for this agent, held for each whole exchange (the fast path's too)."""
        return self._gate

    async def answers(self) -> bool:
        """True when the agent answers at all (probe.py); always True without a `probe_url`."""
        return self._probe is None or await self._probe.answers()

    def _context(
        self, extensions: Collection[str], marker: Mapping[str, str], *, timeout: float | None
    ) -> ClientCallContext:
        headers: dict[str, str] = dict(marker)
        if extensions:
            joined = ",".join(sorted(set(extensions)))
            headers.update({name: joined for name in EXTENSION_HEADERS})
        return ClientCallContext(service_parameters=headers or None, timeout=timeout)

    async def stream(
        self,
        request: SendMessageRequest,
        extensions: Collection[str] = (),
        *,
        credentials: Credentials | None = None,
    ) -> AsyncGenerator[StreamResponse, None]:
        """Send `request`, streaming when the agent can; yields events. Raises the SDK's errors."""
        with self._credentials.registered(credentials) as marker:
            context = self._context(extensions, marker, timeout=None)
            async with self._gate, _closing(self._streaming.send_message(request, context=context)) as events:
                async for event in events:
                    yield event

    async def send(
        self,
        request: SendMessageRequest,
        extensions: Collection[str] = (),
        *,
        wait: bool = False,
        credentials: Credentials | None = None,
    ) -> StreamResponse:
        """A plain (non-streaming) send: one Task or Message. `wait`: no time limit (a blocking send)."""
        with self._credentials.registered(credentials) as marker:
            context = self._context(extensions, marker, timeout=None if wait else self.limits.call_timeout)
            async with self._gate, _closing(self._plain.send_message(request, context=context)) as events:
                async for event in events:
                    return event
        raise InvalidAgentResponseError(f"agent {self.slug!r} sent no answer")

    async def subscribe(
        self,
        request: SubscribeToTaskRequest,
        extensions: Collection[str] = (),
        *,
        credentials: Credentials | None = None,
    ) -> AsyncGenerator[StreamResponse, None]:
        """Resubscribe to a task's events."""
        with self._credentials.registered(credentials) as marker:
            context = self._context(extensions, marker, timeout=None)
            async with self._gate, _closing(self._streaming.subscribe(request, context=context)) as events:
                async for event in events:
                    yield event

    async def call(
        self,
        fn: Callable[[Client, ClientCallContext], Awaitable[_T]],
        extensions: Collection[str] = (),
        *,
        credentials: Credentials | None = None,
    ) -> _T:
        """A unary call (get, cancel, list, push config, extended card) under the semaphore.

        It waits for a free connection at most `call_timeout` seconds (long streams may hold them
        all), then fails with `AgentTimeoutError` saying the agent is busy."""
        with self._credentials.registered(credentials) as marker:
            context = self._context(extensions, marker, timeout=self.limits.call_timeout)
            try:
                await asyncio.wait_for(self._gate.acquire(), self.limits.call_timeout)
            except TimeoutError:
                raise AgentTimeoutError(
                    f"agent {self.slug!r} is busy: its {self.limits.connections} connections stayed in use "
                    f"for {self.limits.call_timeout:g} s"
                ) from None
            try:
                return await fn(self._plain, context)
            finally:
                self._gate.release()

    async def aclose(self) -> None:
        """Close the pool (the a2a clients share it) and the probe's."""
        if self._probe is not None:
            await self._probe.aclose()
        await self._http.aclose()

    async def __aenter__(self) -> Upstream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
