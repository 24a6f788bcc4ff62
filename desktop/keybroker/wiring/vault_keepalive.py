# SPDX-License-Identifier: Apache-2.0
"""Keeping a team vault's login alive while the app idles (issue 15).

OpenBao renews its token when a call finds it due (openbao_auth.py), but a running app may go hours
without a vault call: its cached values serve, nothing is read. Without a call the token would run out
unseen, and the next release would fail. `VaultKeepAlive` calls the backend's `keep_alive` (via
vault/extras.py) on the vault's worker, as often as the backend asks (a quarter of the token's period,
at most every 5 minutes), for as long as the runtime is open. A backend with nothing to keep alive (the
OS vault) ends the loop at once. A refused or expired token is logged with its fix and tried again later:
the next call picks up a token kept by `keybroker vault login` meanwhile. Each outcome goes to
`on_result` (the error, or None when the vault answered), so the tray shows the trouble while the app
idles, not only when a release fails. No Qt here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from keybroker.core.errors import KeybrokerError
from keybroker.core.vault.extras import keep_alive
from keybroker.core.vault.vault import Vault

log = logging.getLogger("keybroker.vault")

#: How long to wait before trying again after the vault refused or could not be reached.
RETRY_SECONDS = 30.0


class VaultKeepAlive:
    """One task on the runtime's loop that keeps `vault`'s login alive until `aclose()`."""

    def __init__(
        self, vault: Vault, on_result: Callable[[KeybrokerError | None], None] | None = None
    ) -> None:
        self._vault = vault
        self._on_result = on_result
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"VaultKeepAlive(running={self.running})"

    @property
    def running(self) -> bool:
        """Whether the loop still runs (False for a backend with nothing to keep alive)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop on the running event loop (once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="vault keep-alive")

    async def aclose(self) -> None:
        """Stop the loop (safe to call twice)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            failure: KeybrokerError | None = None
            try:
                delay = await asyncio.to_thread(keep_alive, self._vault)
            except KeybrokerError as exc:
                fix = f" ({exc.hint})" if exc.hint else ""
                log.warning("could not keep the vault's login alive: %s%s", exc.message, fix)
                failure, delay = exc, RETRY_SECONDS
            if delay is None:
                return
            self._report(failure)
            await asyncio.sleep(delay)

    def _report(self, failure: KeybrokerError | None) -> None:
        if self._on_result is None:
            return
        try:
            self._on_result(failure)
        except Exception:  # whoever listens must not end the keep-alive
            log.warning("the keep-alive's listener failed", exc_info=True)
