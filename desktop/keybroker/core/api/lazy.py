# SPDX-License-Identifier: Apache-2.0
"""The management API built on its first request, not at start (issue 16: start-up time).

Building it (`create_api`: FastAPI, ~34 routes, their pydantic models and dependencies) took about a
third of a second of the app's start, on a path where nothing needs the API yet: the tray, the bridge
and the settings window work without it; only the CLI (while an app runs), scripts and the Agent
Protocol secrets API call it. So the runtime hands the bridge a `LazyApi`: an ASGI app that imports
FastAPI and builds the real one on a worker thread the first time a request reaches it (the loop keeps
serving meanwhile), and passes every request on from then on. Requests that arrive while it is being
built wait for the same build. This module imports no FastAPI.

    api = LazyApi(lambda: create_api(services, broker, token, status=status))
    bridge = BridgeApp(lookup, broker, fallback=api, agent_apps={"/ap/": api.agent_protocol_app()})
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LazyApi"]

log = logging.getLogger("keybroker.api")


class LazyApi:
    """An ASGI app that builds the app it serves (with `build`, on a worker thread) on first use."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build: Callable[[], ASGIApp] | None = build
        self._app: ASGIApp | None = None
        self._agents: ASGIApp | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"LazyApi(built={self.built})"

    @property
    def built(self) -> bool:
        """The real app exists (a request reached it)."""
        return self._app is not None

    async def app(self) -> ASGIApp:
        """The real app, built now if no request built it yet."""
        if self._app is not None:
            return self._app
        async with self._lock:
            if self._app is None:
                build = self._build
                assert build is not None
                started = time.monotonic()
                self._app = await asyncio.to_thread(build)
                self._build = None  # what it closed over is held by the app now
                log.info("management API built on first use in %.0f ms", (time.monotonic() - started) * 1000)
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # uvicorn runs with lifespan="off"; never build for it
            return
        app = await self.app()
        await app(scope, receive, send)

    def agent_protocol_app(self) -> ASGIApp:
        """Each agent's Agent Protocol secrets API (`ap_secrets.agent_protocol_app`) over the built app."""

        async def entry(scope: Scope, receive: Receive, send: Send) -> None:
            if self._agents is None:
                from keybroker.core.api.ap_secrets import agent_protocol_app

                self._agents = agent_protocol_app(await self.app())
            await self._agents(scope, receive, send)

        return entry
