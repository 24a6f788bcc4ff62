"""The running broker: services, broker, bridge and management API on one loop.

`keybroker serve` and the tray app both run a `Runtime`; they differ only in the `Prompter` and
`Notifier` they inject (terminal vs Qt). Start-up order matters: the vault and catalog open (and a
crash is repaired) before the port is bound; `instance.json` is written only once the port answers,
and removed on the way out.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from keybroker.core import api_token
from keybroker.core.broker import Broker, BrokerConfig
from keybroker.core.instance import InstanceInfo, remove_instance, write_instance
from keybroker.core.ports import Notifier
from keybroker.core.prompts import Prompter
from keybroker.core.services import Services, open_services

log = logging.getLogger("keybroker")


@dataclass
class RuntimeOptions:
    """What `serve` flags and the settings window can change."""

    port: int = 7411
    prompt_timeout: float = 300.0
    deny_unknown: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class Runtime:
    """Owns everything that runs: open with `start()`, serve until told, close with `stop()`."""

    def __init__(self, options: RuntimeOptions, prompter: Prompter, notifier: Notifier | None = None) -> None:
        self.options = options
        self._prompter = prompter
        self._notifier = notifier
        self.services: Services | None = None
        self.broker: Broker | None = None
        self.instance: InstanceInfo | None = None
        self.started_at = 0.0
        self._bridge: Any = None
        self._server_cm: Any = None

    @property
    def port(self) -> int | None:
        """The bound port once started."""
        return self.instance.port if self.instance else None

    @property
    def url(self) -> str | None:
        """`http://127.0.0.1:<port>` once started."""
        return self.instance.url if self.instance else None

    def status(self) -> dict[str, Any]:
        """For `GET /api/v1/status`, the tray tooltip and `doctor`."""
        svc = self.services
        vault = svc.vault if svc else None
        return {
            "running": self.instance is not None,
            "pid": os.getpid(),
            "port": self.port,
            "url": self.url,
            "started": self.started_at,
            "vault": vault.describe() if vault else None,
            "session_only_vault": bool(vault and vault.is_memory),
            "pending_prompts": len(self.broker.pending_prompts) if self.broker else 0,
        }

    async def start(self) -> InstanceInfo:
        """Open the core, bind the port, write `instance.json`."""
        # a2a-sdk traces every request by default; keep requests (and their bodies) out of any
        # exporter a user configured, and save ~10% of the bridge's time. Set before a2a imports.
        os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")
        # Imported here: the bridge pulls in a2a-sdk and starlette, which the CLI's quick commands
        # never need.
        from keybroker.core.api.ap_secrets import agent_protocol_app
        from keybroker.core.api.app import create_api
        from keybroker.core.bridge.app import BridgeApp
        from keybroker.core.bridge.server import running_bridge

        self.services = svc = open_services(environ=self.options.environ, long_running=True)
        for line in svc.repairs:
            log.warning("start-up repair: %s", line)
        ended = svc.grants.end_session()
        if ended:
            log.info(
                "ended %d grant(s) of the previous session (only 'always' survives a restart)", len(ended)
            )
        token = api_token.load_or_create(svc.vault, svc.paths.token_file)
        self.broker = Broker.from_services(
            svc,
            self._prompter,
            notifier=self._notifier,
            config=BrokerConfig(prompt_timeout=self.options.prompt_timeout),
        )
        api = create_api(svc, self.broker, token, status=self.status)
        self._bridge = BridgeApp(
            svc.catalog.find_agent,
            self.broker,
            api_token=token,
            fallback=api,
            agent_apps={"/ap/": agent_protocol_app(api)},  # the AP secrets API of each agent
        )
        self._server_cm = running_bridge(self._bridge, self.options.port)
        port = await self._server_cm.__aenter__()
        self.instance = write_instance(svc.paths, port)
        self.started_at = time.time()
        log.info("bridge listening on %s (%s)", self.instance.url, svc.vault.describe())
        return self.instance

    async def stop(self) -> None:
        """Stop serving, remove `instance.json`, close everything; safe to call twice."""
        if self._server_cm is not None:
            cm, self._server_cm = self._server_cm, None
            await cm.__aexit__(None, None, None)
        if self.services is not None:
            remove_instance(self.services.paths)
        self.instance = None
        if self._bridge is not None:
            bridge, self._bridge = self._bridge, None
            await bridge.aclose()
        if self.broker is not None:
            broker, self.broker = self.broker, None
            await broker.aclose()
        if self.services is not None:
            svc, self.services = self.services, None
            svc.close()
