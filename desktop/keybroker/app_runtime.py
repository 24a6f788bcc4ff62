# SPDX-License-Identifier: Apache-2.0
"""`AppRuntime`: the `Runtime` the tray app drives, which opens and serves in two steps.

The tray needs what `serve` does not: to keep running when the port is taken (services open, bridge
stopped, "Start bridge" retries), to pause and resume serving without closing the vault and catalog
the settings window reads, and to open the vault off the UI thread (probing a Secret Service can stall).
`Runtime.start()` does both steps at once, so this subclass splits them; it keeps to the attributes
`Runtime.stop()` already tears down, so stopping is unchanged. (Better folded into `Runtime` itself.)
No Qt here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from keybroker.core import api_token
from keybroker.core.broker import Broker, BrokerConfig
from keybroker.core.errors import BridgeError, InvalidInputError
from keybroker.core.instance import (
    InstanceInfo,
    parse_port,
    read_instance,
    remove_instance,
    write_instance,
)
from keybroker.core.paths import Paths
from keybroker.core.services import Services, open_services
from keybroker.core.settings import load as load_settings
from keybroker.runtime import Runtime

log = logging.getLogger("keybroker")


def bridge_port(environ: Mapping[str, str], paths: Paths) -> int:
    """`KEYBROKER_PORT` (0 picks a free port), else the settings file's `bridge_port` (7411).

    Unlike `configured_port`, a running instance's port does not count: the app binds its own.
    """
    text = environ.get("KEYBROKER_PORT")
    if text:
        try:
            return parse_port(text, allow_zero=True)
        except InvalidInputError:
            log.warning("ignoring KEYBROKER_PORT=%r: not a port", text)
    return load_settings(paths.settings_file).bridge_port


def preload_bridge() -> None:
    """Import the bridge's modules (a2a-sdk, starlette, fastapi: ~1.5 s) so a thread can do it early."""
    # a2a-sdk traces every request by default; Runtime.start sets the same before a2a imports.
    os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")
    import keybroker.core.api.app
    import keybroker.core.bridge.app
    import keybroker.core.bridge.server  # noqa: F401


class AppRuntime(Runtime):
    """A `Runtime` with `open()` / `serve()` / `pause()` as separate steps."""

    @property
    def is_open(self) -> bool:
        """Services and broker are open (values can be stored and released)."""
        return self.services is not None and self.broker is not None

    @property
    def serving(self) -> bool:
        """The bridge listens."""
        return self._server_cm is not None

    async def start(self) -> InstanceInfo:
        """`open()` then `serve()`, like `Runtime.start()`."""
        await self.open()
        return await self.serve()

    async def open(self) -> None:
        """Open the vault, catalog and audit (on a worker thread), then the broker and bridge app."""
        if self.is_open:
            return
        await asyncio.to_thread(preload_bridge)
        from keybroker.core.api.app import create_api
        from keybroker.core.bridge.app import BridgeApp

        environ = self.options.environ
        services: Services = await asyncio.to_thread(open_services, environ=environ, long_running=True)
        try:
            for line in services.repairs:
                log.warning("start-up repair: %s", line)
            ended = services.grants.end_session()
            if ended:
                log.info("ended %d grant(s) of the previous session", len(ended))
            token_file = services.paths.token_file
            token = await asyncio.to_thread(api_token.load_or_create, services.vault, token_file)
        except BaseException:
            services.close()
            raise
        self.services = services
        self.broker = Broker.from_services(
            services,
            self._prompter,
            notifier=self._notifier,
            config=BrokerConfig(prompt_timeout=self.options.prompt_timeout),
        )
        api = create_api(services, self.broker, token, status=self.status)
        self._bridge = BridgeApp(services.catalog.find_agent, self.broker, api_token=token, fallback=api)

    async def serve(self) -> InstanceInfo:
        """Bind the port and write `instance.json`; BridgeError (with the fix) when the port is taken."""
        if self.instance is not None:
            return self.instance
        if not self.is_open:
            raise RuntimeError("open() the runtime before serving")
        assert self.services is not None
        from keybroker.core.bridge.server import running_bridge

        server_cm: Any = running_bridge(self._bridge, self.options.port)
        try:
            port = await server_cm.__aenter__()
        except BridgeError as exc:
            other = read_instance(self.services.paths)
            if other is not None and other.pid != os.getpid():
                who = f"another Keybroker (pid {other.pid}) serves {other.url}"
                exc.hint = f"{who}; quit it, or pick another port in Settings"
            raise
        self._server_cm = server_cm
        self.instance = write_instance(self.services.paths, port)
        self.started_at = time.time()
        log.info("bridge listening on %s (%s)", self.instance.url, self.services.vault.describe())
        return self.instance

    async def pause(self) -> None:
        """Stop serving (open connections get the usual grace) and remove `instance.json`."""
        if self._server_cm is None:
            return
        server_cm, self._server_cm = self._server_cm, None
        try:
            await server_cm.__aexit__(None, None, None)
        finally:
            if self.services is not None:
                remove_instance(self.services.paths)
            self.instance = None
            log.info("bridge paused")
