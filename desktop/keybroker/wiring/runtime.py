"""The running broker: services, broker, bridge and management API on one loop.
Longer than 300 lines because it is the one place that starts, pauses and stops all of them, and hands
the UI its narrow views of each (admin, models, sign-ins); split, each part would need the others.

`keybroker serve` and the tray app both run a `Runtime`; they differ only in the `Prompter` and
`Notifier` they inject (terminal vs Qt). Two steps: `open()` opens the vault, catalog and audit
(repairing what a crash left) and builds the broker and the bridge app, off the event loop's thread
where it blocks; `serve()` binds the port and writes `instance.json` once the port answers. The tray
also needs what `serve` does not: to keep running when the port is taken (services open, bridge
stopped, "Start bridge" retries) and to `pause()` serving without closing what the settings window
reads. Meanwhile `instance.json` stays, saying the bridge is paused or stopped (system/instance.py),
so the CLI and a second launch know the app runs. `stop()` undoes everything and removes
`instance.json`. While serving, agents with a port of their own are served there too (agent_ports.py).
No Qt here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keybroker.core.admin import LocalAdmin
from keybroker.core.broker.broker import Broker, BrokerConfig
from keybroker.core.catalog.agent_lookup import RememberedAgents
from keybroker.core.errors import BridgeError, KeybrokerError
from keybroker.core.llm.access import ModelAccess
from keybroker.core.llm.admin import LocalModelAdmin
from keybroker.core.models import AuditEvent, SecretValue
from keybroker.core.ports import Notifier, Prompter
from keybroker.system import api_token
from keybroker.system.heap import settle_once_stack_loaded
from keybroker.system.instance import (
    BridgeState,
    InstanceInfo,
    read_instance,
    remove_instance,
    write_instance,
)
from keybroker.system.paths import Paths
from keybroker.wiring.agent_ports import AgentPorts
from keybroker.wiring.services import Services, open_services
from keybroker.wiring.vault_keepalive import VaultKeepAlive

if TYPE_CHECKING:  # authlib and joserfc load with the runtime's core, not with this module
    from keybroker.core.auth.sign_in_admin import LocalSignInAdmin
    from keybroker.core.auth.signins import SignIns
    from keybroker.core.broker.sign_in_prompts import SignInPrompter

log = logging.getLogger("keybroker")


def preload_bridge() -> None:
    """Import what `open()` and `serve()` need (starlette, uvicorn) so a thread can do it early.

    Not a2a-sdk: the bridge imports it on the first request that needs an agent (bridge/app.py,
    DESIGN §7: ~20 MB and ~0.7 s the idle app does without); nor FastAPI: the management API is
    built on its first request (core/api/lazy.py).
    """
    # httpx imports its command-line client (`httpx._main`: click, rich, pygments) whenever those are
    # installed, as they are in a development venv (not in the bundle). A None entry makes that import
    # fail, and httpx then defines a stub `main` instead; nothing here runs httpx's CLI. Saves ~3 MB of
    # idle RSS where rich is installed (bench/memory.py). A no-op once httpx is imported.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import keybroker.core.api.lazy
    import keybroker.core.bridge.app
    import keybroker.core.bridge.server  # noqa: F401


@dataclass
class RuntimeOptions:
    """What `serve` flags and the settings window can change."""

    port: int = 7411
    prompt_timeout: float = 300.0
    deny_unknown: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class Runtime:
    """Owns everything that runs: `open()`, `serve()` (or `start()` for both), `pause()`, `stop()`."""

    def __init__(
        self,
        options: RuntimeOptions,
        prompter: Prompter,
        notifier: Notifier | None = None,
        sign_in_prompter: SignInPrompter | None = None,
    ) -> None:
        """`sign_in_prompter`: asks before an agent's refusal opens the browser for a sign-in and shows
        device codes (issue 13); without one such sign-ins are declined (`auth login` still works)."""
        self.options = options
        self._prompter = prompter
        self._notifier = notifier
        self._sign_in_prompter = sign_in_prompter
        self.sign_ins: SignIns | None = None
        self.services: Services | None = None
        self.broker: Broker | None = None
        #: Model access (issue 14): providers, model grants, gateway tokens, usage.
        self.models: ModelAccess | None = None
        self.instance: InstanceInfo | None = None
        self.started_at = 0.0
        self._bridge: Any = None
        self._server_cm: Any = None
        self.agent_ports: AgentPorts | None = None
        self._listeners: list[Callable[[AuditEvent], None]] = []
        self._keep_alive: VaultKeepAlive | None = None  # issue 15: a team vault's token, renewed while idle
        self._vault_listeners: list[Callable[[], None]] = []

    @property
    def port(self) -> int | None:
        """The bound port while serving."""
        return self.instance.port if self.instance else None

    @property
    def url(self) -> str | None:
        """`http://127.0.0.1:<port>` while serving."""
        return self.instance.url if self.instance else None

    @property
    def is_open(self) -> bool:
        """Services and broker are open (values can be stored and released)."""
        return self.services is not None and self.broker is not None

    @property
    def serving(self) -> bool:
        """The bridge listens."""
        return self._server_cm is not None

    # The facade the tray and the settings window use (ui/settings/context.py's `AppFacade`) -----

    @property
    def paths(self) -> Paths:
        """Where this Keybroker keeps its files."""
        return Paths.from_env(self.options.environ)

    def admin(self, caller: str | None) -> LocalAdmin | None:
        """The core's admin acting for `caller` (a running broker forgets what changes), or None
        while the core is not open."""
        if self.services is None:
            return None
        return LocalAdmin(
            self.services, caller=caller, port=lambda: self.port or self.options.port, broker=self.broker
        )

    def model_admin(self, caller: str | None) -> LocalModelAdmin | None:
        """The Models tab's admin (providers, model grants, usage), or None while the core is not open."""
        if self.services is None:
            return None
        from keybroker.core.a2a.model_provider import HttpModelProvider

        svc = self.services
        return LocalModelAdmin(
            catalog=svc.catalog,
            vault=svc.vault,
            audit=svc.audit,
            client=HttpModelProvider(),
            caller=caller,
            access=self.models,
        )

    def sign_in_admin(self, caller: str | None, prompter: SignInPrompter | None) -> LocalSignInAdmin | None:
        """The Sign-ins tab's `auth client/login/logout/cert` (a `SignIns` of its own, as the CLI
        has: the bridge's notices the change by the row's stamp), or None while the core is not open.
        `prompter` shows device codes; the browser opens with `webbrowser` ($BROWSER honoured)."""
        if self.services is None:
            return None
        from keybroker.core.auth.sign_in_admin import LocalSignInAdmin
        from keybroker.core.auth.signins import SignIns

        svc = self.services
        sign_ins = SignIns(svc.catalog, svc.vault, svc.audit, prompter=prompter)
        return LocalSignInAdmin(sign_ins, svc.catalog, caller)

    def subscribe(self, listener: Callable[[AuditEvent], None]) -> None:
        """`listener(event)` after every audit event from now on (on the appending thread), also after
        the core is opened again (a retry, the session-only vault); subscribing twice changes nothing."""
        if listener in self._listeners:
            return
        self._listeners.append(listener)
        if self.services is not None:
            self.services.audit.subscribe(listener)

    def api_token(self) -> SecretValue:
        """The per-install API token, created when there is none (blocking: the vault)."""
        services = self.services
        if services is None:
            raise BridgeError("Keybroker's core is not running")
        return api_token.load_or_create(services.vault, services.paths.token_file)

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
            "vault_trouble": self.broker.vault_trouble if self.broker else None,  # issue 15: the tray says it
            "prompt_timeout": self.options.prompt_timeout,  # `send`'s default timeout starts from it
            "agent_ports": self.agent_ports.listening if self.agent_ports else {},
            "model_providers_refusing": self.models.refusing() if self.models else [],
        }

    def on_vault_checked(self, listener: Callable[[], None]) -> None:
        """Call `listener` (on the loop) after each keep-alive call to the vault, once the broker's
        `vault_trouble` says what it found (the tray re-reads its state then)."""
        self._vault_listeners.append(listener)

    def _vault_checked(self, failure: KeybrokerError | None) -> None:
        if self.broker is not None:
            self.broker.note_vault(failure)
        for listener in self._vault_listeners:
            listener()

    async def start(self) -> InstanceInfo:
        """`open()` then `serve()`."""
        await self.open()
        return await self.serve()

    async def open(self) -> None:
        """Open the vault, catalog and audit (on a worker thread), then the broker and bridge app."""
        if self.is_open:
            return
        await asyncio.to_thread(preload_bridge)
        from keybroker.core.api.lazy import LazyApi
        from keybroker.core.auth.signins import SignIns
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
            await asyncio.to_thread(_sync_teams, services)
        except BaseException:
            services.close()
            raise
        self.services = services
        for listener in self._listeners:
            services.audit.subscribe(listener)
        self.broker = Broker.from_services(
            services,
            self._prompter,
            notifier=self._notifier,
            config=BrokerConfig(prompt_timeout=self.options.prompt_timeout),
        )
        self.models = ModelAccess(
            catalog=services.catalog,
            vault=services.vault,
            audit=services.audit,
            prompter=self._prompter,
            notifier=self._notifier,
            prompt_timeout=self.options.prompt_timeout,
        )
        self.models.end_session()
        self.broker.on_lock(self.models.locked)  # a lock ends gateway tokens and model grants too
        self._keep_alive = VaultKeepAlive(services.vault, self._vault_checked)
        self._keep_alive.start()
        # OAuth 2 / OIDC sign-ins and client certificates for card schemes (core/auth, issue 13); the
        # API's `/auth` routes sign in through the same one (its prompter shows device codes).
        self.sign_ins = SignIns(
            services.catalog, services.vault, services.audit, prompter=self._sign_in_prompter
        )
        broker, models, sign_ins = self.broker, self.models, self.sign_ins

        def build_api() -> Any:  # on the first request that reaches it (core/api/lazy.py)
            from keybroker.core.api.app import create_api

            return create_api(services, broker, token, status=self.status, models=models, sign_ins=sign_ins)

        api = LazyApi(build_api)
        self.broker.on_lock(self.sign_ins.forget_cached)
        self._bridge = BridgeApp(
            RememberedAgents(services.catalog),  # no SQLite read per request (issue 16)
            self.broker,
            api_token=token,
            fallback=api,
            agent_apps={"/ap/": api.agent_protocol_app()},  # each agent's AP secrets API (ap_secrets.py)
            tokens=self.sign_ins,
            models=self.models,
            after_stack_loaded=settle_once_stack_loaded,  # a2a-sdk out of later collections
        )
        self.agent_ports = AgentPorts(self._bridge, services.catalog.list_agents, self._notifier)
        services.audit.subscribe(self.agent_ports.on_event)

    async def serve(self) -> InstanceInfo:
        """Bind the port and write `instance.json`; BridgeError (with the fix) when the port is taken."""
        if self.instance is not None:
            return self.instance
        if not self.is_open:
            raise RuntimeError("open() the runtime before serving")
        assert self.services is not None
        from keybroker.core.bridge.server import running_bridge

        server_cm: Any = running_bridge(self._bridge, self.options.port)
        paths = self.services.paths
        try:
            port = await server_cm.__aenter__()
        except BridgeError as exc:
            other = read_instance(paths)
            if other is not None and other.pid != os.getpid():
                who = f"another Keybroker (pid {other.pid}) serves {other.url}"
                exc.hint = f"{who}; quit it, or pick another port in Settings"
            else:  # this process runs on, its bridge stopped: say so where the CLI looks
                self._hold(BridgeState.STOPPED, other)
            raise
        self._server_cm = server_cm
        self.started_at = self.started_at or time.time()
        self.instance = write_instance(paths, port, started=self.started_at)
        log.info("bridge listening on %s (%s)", self.instance.url, self.services.vault.describe())
        if self.agent_ports is not None:
            await self.agent_ports.sync()  # a port that cannot be bound is told, not fatal
        return self.instance

    async def pause(self) -> None:
        """Stop serving (open connections get the usual grace); `instance.json` says it is paused."""
        if self._server_cm is None:
            return
        server_cm, self._server_cm = self._server_cm, None
        try:
            if self.agent_ports is not None:
                await self.agent_ports.close()
            await server_cm.__aexit__(None, None, None)
        finally:
            self._hold(BridgeState.PAUSED, self.instance)
            self.instance = None
            log.info("bridge paused")

    def _hold(self, bridge: BridgeState, last: InstanceInfo | None) -> None:
        """Keep `instance.json` while this process runs without serving (`bridge` says why)."""
        if self.services is None:
            return
        port = last.port if last is not None else self.options.port
        if port == 0:  # never bound: no port to name
            return
        self.started_at = self.started_at or time.time()
        write_instance(self.services.paths, port, bridge=bridge, started=self.started_at)

    async def stop(self) -> None:
        """Stop serving, remove `instance.json`, close everything; safe to call twice."""
        if self.agent_ports is not None:
            ports, self.agent_ports = self.agent_ports, None
            await ports.close()
        if self._server_cm is not None:
            cm, self._server_cm = self._server_cm, None
            await cm.__aexit__(None, None, None)
        if self.services is not None:
            remove_instance(self.services.paths)
        self.instance = None
        if self._keep_alive is not None:
            keeper, self._keep_alive = self._keep_alive, None
            await keeper.aclose()
        if self._bridge is not None:
            bridge, self._bridge = self._bridge, None
            await bridge.aclose()
        if self.broker is not None:
            broker, self.broker = self.broker, None
            await broker.aclose()
        self.models = None
        if self.services is not None:
            svc, self.services = self.services, None
            svc.close()


def _sync_teams(services: Services) -> None:
    """A team vault's team secrets, listed again at start (`keybroker vault sync` does it on demand)."""
    try:
        result = services.secrets.sync_teams(caller="keybroker start")
    except KeybrokerError as exc:  # the catalog's team records stay as they were: still listed
        log.warning("could not list the team secrets at start: %s", exc.message)
        return
    for problem in result.problems:
        log.warning("team secrets: %s", problem)
