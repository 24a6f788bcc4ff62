# SPDX-License-Identifier: Apache-2.0
"""What every tab needs: the runtime it shows, the event hub, the job runner and the asker.

The window only needs a runtime *shape* (`RuntimeLike`), so tests pass a stub with `.services`,
`.broker`, `.options` and `.status()` over a real catalog and a memory vault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from keybroker.core.errors import KeybrokerError
from keybroker.core.models import Grant
from keybroker.ui.events import AppEvents
from keybroker.ui.settings.asker import Asker
from keybroker.ui.settings.jobs import JobRunner
from keybroker.wiring.services import Services

#: How the audit names changes made in this window.
CALLER = "settings window"


class BrokerLike(Protocol):
    """The part of `Broker` the window calls."""

    def forget(self, secret_id: str) -> None:
        """Drop a cached value (after an update or a removal)."""
        ...

    def lock(self, *, caller: str | None = None) -> list[Grant]:
        """End every grant short of *always* and drop cached values."""
        ...


class OptionsLike(Protocol):
    """The part of `RuntimeOptions` the window reads."""

    @property
    def port(self) -> int:
        """The port the bridge was asked to bind."""
        ...


class RuntimeLike(Protocol):
    """What the window needs from `keybroker.wiring.runtime.Runtime`."""

    @property
    def services(self) -> Services | None:
        """The open core, or None before start / after stop."""
        ...

    @property
    def broker(self) -> BrokerLike | None:
        """The broker, or None when not running."""
        ...

    @property
    def options(self) -> OptionsLike:
        """Start-up options."""
        ...

    def status(self) -> dict[str, Any]:
        """`running`, `port`, `url`, `vault`, ... (see `Runtime.status`)."""
        ...


class NotRunningError(KeybrokerError):
    """The core is not open (Keybroker failed to start or is stopping)."""


@dataclass
class TabContext:
    """Shared by the tabs of one window."""

    runtime: RuntimeLike
    events: AppEvents
    jobs: JobRunner
    asker: Asker

    @property
    def services(self) -> Services:
        """The open core; `NotRunningError` when there is none."""
        services = self.runtime.services
        if services is None:
            raise NotRunningError(
                "Keybroker's core is not running", hint="see the tray icon or `keybroker doctor` for why"
            )
        return services

    def now(self) -> float:
        """The catalog's clock (a fake one in tests)."""
        return self.services.catalog.clock.now()

    def bridge_port(self) -> int:
        """The port the bridge listens on now, else the one it was asked for."""
        port = self.runtime.status().get("port")
        return port if isinstance(port, int) and port > 0 else self.runtime.options.port

    def forget(self, *secret_ids: str) -> None:
        """Tell the broker these values changed or went, so no stale cached value is released."""
        broker = self.runtime.broker
        if broker is not None:
            for secret_id in secret_ids:
                broker.forget(secret_id)

    def announce(self, *topics: str) -> None:
        """Tell every listener (tray, other tabs) what changed."""
        for topic in dict.fromkeys(topics):
            self.events.changed.emit(topic)
