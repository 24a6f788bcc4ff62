"""What every command gets: the environment, who is calling, and its `Admin`, opened on demand.

The CLI's composition root (cli/main.py runs commands with one `CommandContext`): while an instance
runs, `admin()` is a `RemoteAdmin` through its management API; otherwise a `LocalAdmin` over the data
home opened here (wiring/services.py). Commands never ask which one they got.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keybroker.system.paths import Paths

if TYPE_CHECKING:
    from keybroker.cli.api_client import ApiClient
    from keybroker.core.admin import Admin, LocalAdmin
    from keybroker.wiring.services import Services


@dataclass
class CommandContext:
    """Opens the services once, on first use, and closes them at the end of the command."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _services: Services | None = None
    _api: ApiClient | None = None
    _api_checked: bool = False

    @property
    def caller(self) -> str:
        """How the audit names a CLI caller."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid()) if hasattr(os, "getuid") else "?"
        return f"cli pid {os.getpid()} ({user})"

    def admin(self, *, need_persistent_vault: bool = False) -> Admin:
        """The running instance's `RemoteAdmin`, else a `LocalAdmin` (`need_persistent_vault`: see
        `services`; a running instance holds its own vault)."""
        api = self.api()
        if api is not None:
            from keybroker.cli.remote_admin import RemoteAdmin

            return RemoteAdmin(api)
        return self.local_admin(need_persistent_vault=need_persistent_vault)

    def local_admin(self, *, need_persistent_vault: bool = False) -> LocalAdmin:
        """A `LocalAdmin` over this command's data home (`--reveal` always reads the vault here)."""
        from keybroker.core.admin import LocalAdmin
        from keybroker.system.instance import configured_port

        return LocalAdmin(
            self.services(need_persistent_vault=need_persistent_vault),
            caller=self.caller,
            port=lambda: configured_port(self.environ, self.paths),
        )

    def services(self, *, need_persistent_vault: bool = False) -> Services:
        """The wired core; `need_persistent_vault` refuses a session-only memory vault."""
        if self._services is None:
            from keybroker.wiring.services import open_services  # the vault and the catalog: only when used

            self._services = open_services(environ=self.environ)
        if need_persistent_vault and self._services.vault.is_memory:
            from keybroker.core.errors import VaultUnavailable

            raise VaultUnavailable(
                "KEYBROKER_VAULT=memory is a session-only vault: a value stored by this command "
                "would be gone when it exits",
                hint="unset KEYBROKER_VAULT to use the OS vault",
            )
        return self._services

    @property
    def paths(self) -> Paths:
        """Where this command's data home is."""
        return Paths.from_env(self.environ)

    def api(self) -> ApiClient | None:
        """The running instance's management API, or None when no instance runs or its bridge (which
        serves the API) is paused or stopped: commands then work on the data home here, as they do
        with no instance.

        INTERFACES.md: while an instance runs, commands that change state go through it, so the
        tray and the CLI never disagree (and a session-only vault lives in that instance)."""
        if not self._api_checked:
            from keybroker.system.instance import read_instance

            # The client needs httpx (~100 ms of imports): loaded only when an instance listens.
            running = read_instance(self.paths)
            if running is not None and running.listening:
                from keybroker.cli.api_client import ApiClient

                self._api = ApiClient.for_instance(self.paths)
            self._api_checked = True
        return self._api

    def refuse_while_running(self, what: str) -> None:
        """For commands that must not change things under a running instance's feet (paused too)."""
        from keybroker.system.instance import read_instance

        running = read_instance(self.paths)
        if running is not None:
            from keybroker.core.errors import UsageError

            raise UsageError(
                f"{what}: Keybroker is {running.describe()}",
                hint="quit the app or stop `keybroker serve` first",
            )

    def close(self) -> None:
        """Release the catalog, the vault worker and the API client."""
        if self._api is not None:
            self._api.close()
            self._api = None
        if self._services is not None:
            self._services.close()
            self._services = None
