# SPDX-License-Identifier: Apache-2.0
"""The bridge as one ASGI app: `/agents/<slug>/...` for every agent the directory knows.
Longer than 300 lines because it routes all of the bridge's paths (the model gateway's too), and the
router, the channel cache and the two ways in (the shared port, an agent's own port) share one request
count and one set of channels; apart they would need both.

    app = BridgeApp(lookup, broker, api_token=token)
    async with running_bridge(app, 7411) as port:
        ...
    await app.aclose()

Layers, outermost first: `LocalhostGuard` (Host, Origin, OPTIONS, body size and time), `SseKeepAlive`,
then the router here: it caps the agent requests in flight (503 past `max_agent_requests`, so the
management API keeps connections to answer on), looks the slug up (`lookup(slug) -> AgentRecord |
None`, so no catalog is needed), answers 404 JSON for an unknown one, checks the API token for agents
added with `--require-token` (the card stays public), and hands the request to that agent's channel
(agent_app.py) with the prefix moved into `root_path`; a client that goes away cancels its request
(disconnect.py). `POST /agents/<slug>` and `POST /agents/<slug>/` both reach JSON-RPC, with no
redirect. Anything outside `/agents/` goes to `fallback` (the management API mounts there) or gets a
404.

`agent_root(slug)` is the app for an agent's own loopback port (issue 18, the runtime listens for it):
that agent alone, at the root (`/.well-known/agent-card.json`, `POST /`, `/message:send`...), behind
the same guard, token check and channels; its card points at that port's root. Nothing else is
served there (no management API, no other agent).

Channels are built on first use and rebuilt when the agent's record changes (new card, URL, token
requirement); a replaced channel's connection pool closes once its last request ends. What the
bridge released to an agent (released.py) is kept per slug here, so a rebuilt channel still cuts
it from answers about earlier tasks; it is dropped whenever the broker locks (`LockWatch`), and
rebuilt from the broker before the agent's next answer (`ReleaseHistory`).

Nothing of a2a-sdk is imported until a request first needs a channel (DESIGN §7: the app idles
without it, ~20 MB and ~0.7 s of imports saved at start). The guard, the 404s, the token check and
`fallback` answer without it. The first such request imports the stack on a worker thread (the loop,
and the tray's UI on it, keep running), under a lock so concurrent first requests import and build
once; it is kept from then on. `load_agent_stack()` does the import, for a caller that wants it early.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from keybroker.core.bridge.caller import PEER_CALLERS
from keybroker.core.bridge.connections import ConnectionLimits
from keybroker.core.bridge.disconnect import cancel_on_disconnect
from keybroker.core.bridge.guard import (
    BODY_TIMEOUT_SECONDS,
    LocalhostGuard,
    bearer_ok,
    replay_body,
    send_json_error,
)
from keybroker.core.bridge.keepalive import DEFAULT_KEEPALIVE_SECONDS, SseKeepAlive, kept_alive
from keybroker.core.bridge.limits import UpstreamLimits
from keybroker.core.bridge.ports import (
    GATEWAY_PREFIX,
    AgentLookup,
    CallerLookup,
    LockWatch,
    ModelSource,
    SecretSource,
    TokenSource,
)
from keybroker.core.bridge.released import ReleasedBook
from keybroker.core.bridge.rpc_route import serve_rpc
from keybroker.core.errors import InvalidCardError, KeybrokerError
from keybroker.core.models import AgentRecord, SecretValue

if TYPE_CHECKING:
    import httpx

    from keybroker.core.bridge.agent_app import AgentChannel
    from keybroker.core.bridge.gateway import ModelGateway

__all__ = ["AGENTS_PREFIX", "CARD_PATH", "BridgeApp", "load_agent_stack"]

log = logging.getLogger("keybroker.bridge")

AGENTS_PREFIX = "/agents/"
CARD_PATH = "/.well-known/agent-card.json"


def load_agent_stack() -> Callable[..., AgentChannel]:
    """Import a2a-sdk and the bridge's routes and handler (blocking, ~0.7 s); returns `build_channel`."""
    # a2a-sdk traces every request by default; keep requests (and their bodies) out of any exporter a
    # user configured, and save ~10% of the bridge's time. Must be set before a2a is imported.
    os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")
    from keybroker.core.bridge.agent_app import build_channel

    return build_channel


class BridgeApp:
    """The bridge's ASGI application (see the module docstring)."""

    def __init__(
        self,
        lookup: AgentLookup,
        secrets: SecretSource,
        *,
        api_token: SecretValue | None = None,
        limits: UpstreamLimits | None = None,
        caller: CallerLookup | None = PEER_CALLERS,
        fallback: ASGIApp | None = None,
        keepalive: float = DEFAULT_KEEPALIVE_SECONDS,
        follow_streams: bool = False,
        agent_apps: Mapping[str, ASGIApp] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_agent_requests: int | None = None,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
        tokens: TokenSource | None = None,
        models: ModelSource | None = None,
        after_stack_loaded: Callable[[], None] | None = None,
    ) -> None:
        """Build the app; nothing is served or connected until requests come.

        `caller` names the calling process for the audit (None: don't look). `fallback` serves
        paths outside `/agents/`. `keepalive`: seconds of SSE silence before a comment ping.
        `follow_streams`: serve blocking sends by following a stream for 1.x agents too (it always
        is for 0.3 agents; see upstream.py). `agent_apps` maps a sub-path prefix to an app serving
        it for every agent slug, e.g. `{"/ap/": ap_secrets_app}` for
        `/agents/<slug>/ap/v1/agent/secrets`: it gets the full path, `root_path` set to
        `/agents/<slug>` and the agent's record as `scope["keybroker.agent"]` (None for an unknown
        slug), and does its own authentication, then answers unknown slugs itself (a 401 comes
        before a 404, so an anonymous caller learns nothing about which agents exist).
        `transport` replaces the network for every upstream (tests: `httpx.ASGITransport`).
        `max_agent_requests`: requests under `/agents/` served at once, 503 past it (default: below
        the server's connection cap, connections.py, so the management API stays reachable).
        `body_timeout`: seconds a request body may take to arrive (408 past it).
        `tokens`: OAuth 2 / OIDC sign-ins and client certificates (issue 13); none: those schemes
        are not met.
        `models`: who answers agents' model demands (issue 14); the model gateway is then served at
        `/models/<slug>/v1/...` (gateway.py).
        `after_stack_loaded`: called once, on a worker thread, when the first request that needs one
        has imported the A2A stack (the app freezes its objects out of later collections: heap.py).
        """
        self._lookup = lookup
        self._secrets = secrets
        self._token = api_token
        self._limits = limits or UpstreamLimits()
        self._caller = caller
        self._fallback = fallback
        self._transport = transport
        self._follow_streams = follow_streams
        self._agent_apps = dict(agent_apps or {})
        self._tokens = tokens
        self._models = models
        self._gateway: ASGIApp | None = None
        self.released = ReleasedBook()
        if isinstance(secrets, LockWatch):
            secrets.on_lock(self.released.clear)
        self._channels: dict[tuple[str, bool], AgentChannel] = {}  # by (slug, served at a port's root)
        self._retired: set[AgentChannel] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._closers: list[ModelGateway] = []
        self._build: Callable[..., AgentChannel] | None = None
        self._after_stack_loaded = after_stack_loaded
        self._building = asyncio.Lock()
        self._max_agent_requests = max_agent_requests or ConnectionLimits().agent_requests
        self._agent_requests = 0
        self._keepalive = keepalive
        self._body_timeout = body_timeout
        self._agents = SseKeepAlive(self._route, interval=keepalive)
        self._guard = LocalhostGuard(self._first, body_timeout=body_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith(AGENTS_PREFIX):
                slug, _, tail = path[len(AGENTS_PREFIX) :].partition("/")
                if slug and not tail:  # an agent's JSON-RPC URL: the short route (rpc_route.py)
                    await self._rpc(self._guard, scope, receive, send, slug, AGENTS_PREFIX + slug)
                    return
        await self._guard(scope, receive, send)

    @property
    def agent_stack_loaded(self) -> bool:
        """True once a request has needed (and imported) the a2a-sdk stack."""
        return self._build is not None

    def agent_root(self, slug: str) -> ASGIApp:
        """The app serving agent `slug` alone at the root of its own port (module docstring)."""

        async def rooted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            await self._counted(scope, receive, send, slug, scope["path"][1:], prefix="")

        guard = LocalhostGuard(
            SseKeepAlive(rooted, interval=self._keepalive), body_timeout=self._body_timeout
        )

        async def root(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/":
                await self._rpc(guard, scope, receive, send, slug, "")
                return
            await guard(scope, receive, send)

        return root

    def set_api_token(self, token: SecretValue | None) -> None:
        """Use a new API token (after `keybroker token --rotate`)."""
        self._token = token

    async def aclose(self) -> None:
        """Close every agent's connection pool."""
        for closer in self._closers:
            await closer.aclose()
        channels = [*self._channels.values(), *self._retired]
        self._channels.clear()
        self._retired.clear()
        for channel in channels:
            await channel.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # Routing -------------------------------------------------------------------------------------

    async def _rpc(
        self, guard: LocalhostGuard, scope: Scope, receive: Receive, send: Send, slug: str, prefix: str
    ) -> None:
        """A POST on an agent's JSON-RPC URL: the guard's checks, then the agent's route with the body."""
        body = await guard.admit(scope, receive, send)
        if body is not None:
            await self._counted(scope, receive, send, slug, "", prefix, body)

    async def _first(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The model gateway streams a provider's events as they come: no keep-alive layer between."""
        if self._models is not None and scope["type"] == "http" and scope["path"].startswith(GATEWAY_PREFIX):
            await self._serve_models(scope, receive, send)
            return
        await self._agents(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._outside(scope, receive, send)
            return
        path: str = scope["path"]
        if not path.startswith(AGENTS_PREFIX):
            await self._outside(scope, receive, send)
            return
        slug, _, tail = path[len(AGENTS_PREFIX) :].partition("/")
        if not slug:
            await send_json_error(send, 404, "not_found", "no agent slug in the path: /agents/<slug>")
            return
        await self._counted(scope, receive, send, slug, tail, prefix=AGENTS_PREFIX + slug)

    async def _counted(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        slug: str,
        tail: str,
        prefix: str,
        body: bytes | None = None,
    ) -> None:
        if self._agent_requests >= self._max_agent_requests:
            log.warning("bridge: %d agent requests in flight; another was refused", self._agent_requests)
            busy = f"the bridge serves {self._max_agent_requests} agent requests at once; try again shortly"
            await send_json_error(send, 503, "busy", busy, [(b"retry-after", b"1")])
            return
        self._agent_requests += 1
        try:
            await self._agent(scope, receive, send, slug, tail, prefix, body)
        finally:
            self._agent_requests -= 1

    async def _agent(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        slug: str,
        tail: str,
        prefix: str,
        body: bytes | None = None,
    ) -> None:
        """Serve `slug`'s `/<tail>`; `prefix`: where it sits in the path (`""` at its own port's root).
        `body`: a JSON-RPC POST's, read by `_rpc` (`receive` has not given it), else None."""
        try:
            record = self._lookup(slug)
        except Exception as exc:  # a catalog failure must not become a bare 500
            reason = exc.message if isinstance(exc, KeybrokerError) else type(exc).__name__
            log.error("bridge: agent lookup failed: %s", reason)
            await send_json_error(send, 503, "unavailable", f"the agent directory failed: {reason}")
            return
        sub_path = "/" + tail
        for start, agent_app in self._agent_apps.items():
            if sub_path.startswith(start):
                # Unknown slugs too: the app authenticates first, then answers its own 404.
                child = dict(scope)
                child["root_path"] = scope.get("root_path", "") + prefix
                child["keybroker.agent"] = record
                if body is None:
                    await agent_app(child, receive, send)
                else:
                    await kept_alive(agent_app, child, replay_body(body, receive), send, self._keepalive)
                return
        if record is None:
            await send_json_error(send, 404, "unknown_agent", f"no agent with slug {slug!r}")
            return
        if record.require_token and sub_path != CARD_PATH and not bearer_ok(scope, self._token):
            await send_json_error(
                send,
                401,
                "unauthorized",
                f"agent {slug!r} needs 'Authorization: Bearer <api-token>' (see `keybroker token`)",
                [(b"www-authenticate", b'Bearer realm="keybroker"')],
            )
            return
        try:
            channel = await self._channel(record, _port(scope), rooted=not prefix)
        except InvalidCardError as exc:
            await send_json_error(send, 502, "bad_agent_card", f"agent {slug!r}: {exc.message}")
            return
        child = dict(scope)
        child["root_path"] = scope.get("root_path", "") + prefix
        child["path"] = prefix + sub_path
        channel.active += 1
        try:
            if body is None:
                await cancel_on_disconnect(channel.app, child, receive, send)
            else:
                await serve_rpc(channel.fast, channel.app, child, body, receive, send, self._keepalive)
        finally:
            channel.active -= 1
            if channel.retired and channel.active == 0:
                self._retired.discard(channel)
                await channel.aclose()

    async def _serve_models(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The model gateway (built on first use: it needs no a2a-sdk)."""
        if self._gateway is None:
            from keybroker.core.bridge.gateway import ModelGateway

            assert self._models is not None
            self._gateway = ModelGateway(self._models)
            self._closers.append(self._gateway)
        await self._gateway(scope, receive, send)

    async def _outside(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._fallback is not None:
            await self._fallback(scope, receive, send)
        elif scope["type"] == "http":
            await send_json_error(send, 404, "not_found", "agents are at /agents/<slug>")

    async def _channel(self, record: AgentRecord, port: int, *, rooted: bool = False) -> AgentChannel:
        tls = await self._tokens.client_tls(record) if self._tokens is not None else None
        key = (record.slug, rooted)
        current = self._channels.get(key)
        if _current(current, record, port, tls):
            return current  # type: ignore[return-value]
        async with self._building:  # concurrent first requests import and build once
            current = self._channels.get(key)
            if _current(current, record, port, tls):
                return current  # type: ignore[return-value]
            if self._build is None:
                self._build = await asyncio.to_thread(load_agent_stack)
                if self._after_stack_loaded is not None:
                    await asyncio.to_thread(self._after_stack_loaded)
            return self._install(self._build, record, port, current, tls, rooted=rooted)

    def _install(
        self,
        build_channel: Callable[..., AgentChannel],
        record: AgentRecord,
        port: int,
        current: AgentChannel | None,
        tls: ssl.SSLContext | None = None,
        *,
        rooted: bool = False,
    ) -> AgentChannel:
        channel = build_channel(
            record,
            port,
            self._secrets,
            base_url=f"http://127.0.0.1:{port}" if rooted else None,
            limits=self._limits,
            caller=self._caller,
            transport=self._transport,
            follow_streams=self._follow_streams,
            released=self.released.of(record.slug),
            recall=self.released.recall(record.slug),
            tokens=self._tokens,
            client_tls=tls,
            models=self._models,
        )
        self._channels[(record.slug, rooted)] = channel
        if current is not None:
            self._retire(current)
        return channel

    def _retire(self, channel: AgentChannel) -> None:
        channel.retired = True
        if channel.active:
            self._retired.add(channel)  # closed by the last request still using it
            return
        # Nothing in flight: close on the loop without making this request wait.
        task = asyncio.get_running_loop().create_task(channel.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def _current(
    channel: AgentChannel | None, record: AgentRecord, port: int, tls: ssl.SSLContext | None
) -> bool:
    """True when `channel` serves `record` on `port` with the client certificate `tls` (mutual TLS)."""
    return channel is not None and channel.record == record and channel.port == port and channel.tls is tls


def _port(scope: Scope) -> int:
    server = scope.get("server")
    if server and len(server) > 1 and isinstance(server[1], int):
        return int(server[1])
    return 80
