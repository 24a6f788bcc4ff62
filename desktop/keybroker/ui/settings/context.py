# SPDX-License-Identifier: Apache-2.0
"""What every tab needs: the app's facade, the event hub, the job runner and the asker.

The window talks to the core through a narrow facade only (`AppFacade`, which `Runtime` provides):
`admin` (core/admin/local.py's `LocalAdmin`: agents, secrets, grants, audit, each change audited under
the window's name), where the app keeps its files, the vault in use and the API token. Tests pass a
stub over a real catalog and a memory vault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from keybroker.core.admin import LocalAdmin
from keybroker.core.errors import KeybrokerError
from keybroker.core.models import AuditEvent, SecretValue
from keybroker.system.paths import Paths
from keybroker.ui.events import AppEvents
from keybroker.ui.settings.asker import Asker
from keybroker.ui.settings.jobs import JobRunner

if TYPE_CHECKING:
    from keybroker.core.admin.sign_ins import SignInAdmin
    from keybroker.core.broker.sign_in_prompts import SignInPrompter
    from keybroker.core.llm.admin import ModelAdmin

#: How the audit names changes made in this window.
CALLER = "settings window"


class OptionsLike(Protocol):
    """The part of `RuntimeOptions` the window reads."""

    @property
    def port(self) -> int:
        """The port the bridge was asked to bind."""
        ...


class AppFacade(Protocol):
    """What the window needs from `keybroker.wiring.runtime.Runtime`."""

    @property
    def options(self) -> OptionsLike:
        """Start-up options."""
        ...

    @property
    def paths(self) -> Paths:
        """Where Keybroker keeps its files (the settings file among them)."""
        ...

    def admin(self, caller: str | None) -> LocalAdmin | None:
        """The core's admin acting for `caller`, or None before start / after stop."""
        ...

    def status(self) -> dict[str, Any]:
        """`running`, `port`, `url`, `vault`, ... (see `Runtime.status`)."""
        ...

    def subscribe(self, listener: Callable[[AuditEvent], None]) -> None:
        """Call `listener` with every audit event from now on, also after the core opens again."""
        ...

    def api_token(self) -> SecretValue:
        """The per-install API token (created when there is none); blocking."""
        ...


class NotRunningError(KeybrokerError):
    """The core is not open (Keybroker failed to start or is stopping)."""


@dataclass
class TabContext:
    """Shared by the tabs of one window."""

    runtime: AppFacade
    events: AppEvents
    jobs: JobRunner
    asker: Asker

    @property
    def admin(self) -> LocalAdmin:
        """The core's admin, acting as the settings window; `NotRunningError` when the core is closed."""
        admin = self.runtime.admin(CALLER)
        if admin is None:
            raise NotRunningError(
                "Keybroker's core is not running", hint="see the tray icon or `keybroker doctor` for why"
            )
        return admin

    @property
    def models(self) -> ModelAdmin:
        """The Models tab's admin (issue 14; `Runtime.model_admin`); `NotRunningError` without one."""
        factory = getattr(self.runtime, "model_admin", None)
        admin = factory(CALLER) if factory is not None else None
        if admin is None:
            raise NotRunningError(
                "Keybroker's core is not running", hint="see the tray icon or `keybroker doctor` for why"
            )
        return admin  # type: ignore[no-any-return]

    def sign_ins(self, prompter: SignInPrompter | None) -> SignInAdmin:
        """The Sign-ins tab's admin (issue 13; `Runtime.sign_in_admin`), showing device codes with
        `prompter`; `NotRunningError` without one."""
        factory = getattr(self.runtime, "sign_in_admin", None)
        admin = factory(CALLER, prompter) if factory is not None else None
        if admin is None:
            raise NotRunningError(
                "Keybroker's core is not running", hint="see the tray icon or `keybroker doctor` for why"
            )
        return admin  # type: ignore[no-any-return]

    def now(self) -> float:
        """The catalog's clock (a fake one in tests)."""
        return self.admin.now

    def bridge_port(self) -> int:
        """The port the bridge listens on now, else the one it was asked for."""
        port = self.runtime.status().get("port")
        return port if isinstance(port, int) and port > 0 else self.runtime.options.port

    def announce(self, *topics: str) -> None:
        """Tell every listener (tray, other tabs) what changed."""
        for topic in dict.fromkeys(topics):
            self.events.changed.emit(topic)
