# SPDX-License-Identifier: Apache-2.0
"""What every route gets: the core's objects, and helpers that keep blocking work off the loop.

Routes act through the core's admin (core/admin/local.py's `LocalAdmin`, the same the settings window and
the CLI use), named after each request's caller. Catalog and vault calls block (SQLite, the vault
worker's timeouts, a card fetch), so routes run them in Starlette's thread pool through `blocking`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from keybroker.core.admin import LocalAdmin
from keybroker.core.broker.broker import Broker
from keybroker.core.llm.access import ModelAccess
from keybroker.core.ports import ProviderClient
from keybroker.system.peer_process import peer_process
from keybroker.system.settings import DEFAULT_PORT
from keybroker.wiring.services import Services

if TYPE_CHECKING:  # authlib loads with the first sign-in, not with the API
    from keybroker.core.auth.signins import SignIns

__all__ = ["ApiContext", "Ctx", "blocking", "caller_of", "request_port"]

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class ApiContext:
    """The objects `create_api` was given."""

    services: Services
    broker: Broker | None
    status: Callable[[], Mapping[str, Any]] | None
    started: float
    #: The running model access (issue 14), when there is one, and how providers are reached
    #: (default: over HTTP, core/a2a/model_provider.py).
    models: ModelAccess | None = None
    provider_client: ProviderClient | None = None
    #: The running instance's sign-ins (issue 13): the bridge's, with the sign-in prompter the tray
    #: (or `serve`) shows device codes with; None: `sign_ins()` makes one without a prompter.
    signins: SignIns | None = None

    def sign_ins(self) -> SignIns:
        """The running instance's `SignIns`, else one over these services (no prompter)."""
        if self.signins is None:
            from keybroker.core.auth.signins import SignIns

            services = self.services
            self.signins = SignIns(services.catalog, services.vault, services.audit)
        return self.signins

    def admin(self, caller: str | None, port: int = DEFAULT_PORT) -> LocalAdmin:
        """The core's admin acting for `caller`; bridged URLs on `port` (the request's)."""
        return LocalAdmin(self.services, caller=caller, port=lambda: port, broker=self.broker)


def _context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.api_context
    return ctx


Ctx = Annotated[ApiContext, Depends(_context)]


async def blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `fn` in the thread pool, never on the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def _address(value: object) -> tuple[str, int] | None:
    if isinstance(value, list | tuple) and len(value) >= 2:
        host, port = value[0], value[1]
        if isinstance(host, str) and isinstance(port, int):
            return host, port
    return None


def _name_caller(client: tuple[str, int] | None, server: tuple[str, int] | None) -> str:
    process = None
    if client is not None and server is not None:
        try:
            process = peer_process(client, server)
        except (OSError, ValueError):
            process = None
    return f"api {process}" if process else "api (calling process unknown)"


async def caller_of(request: Request) -> str:
    """How the audit names whoever sent this request: `api pid 1234 (python3)` where the OS tells.

    Reading /proc can take a while, so it runs in the thread pool, and only for state changes.
    """
    return await blocking(
        _name_caller, _address(request.scope.get("client")), _address(request.scope.get("server"))
    )


def request_port(request: Request) -> int:
    """The port this request came in on: the bridge's, so bridged URLs point at it."""
    server = _address(request.scope.get("server"))
    return server[1] if server is not None else DEFAULT_PORT
