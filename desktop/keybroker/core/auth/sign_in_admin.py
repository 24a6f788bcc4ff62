# SPDX-License-Identifier: Apache-2.0
"""`LocalSignInAdmin`: core/admin/sign_ins.py's `SignInAdmin` over `SignIns` (signins.py).

Each call runs one `SignIns` operation to its end on the calling thread (its own event loop), so the
settings window runs it on a worker (ui/settings/jobs.py), exactly as `auth client/login/logout/cert`
run it in the CLI's process: the running bridge notices by the sign-in row's stamp. Files are read
here, not in the window; a certificate's key and a client secret go to the vault only.
`cancel_login()` (any thread) ends a running `login`: its task is cancelled on its own loop, which
closes the loopback listener and the device code's dialog; nothing is stored.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from keybroker.core.admin.sign_ins import CertificateFiles, read_optional_file
from keybroker.core.errors import InvalidInputError, SignInDenied
from keybroker.core.models import AgentRecord, SecretValue

if TYPE_CHECKING:  # authlib and cryptography load with the first sign-in, not with the window
    from keybroker.core.auth.signins import SignIns
    from keybroker.core.catalog.catalog import Catalog
    from keybroker.core.catalog.signins import SignInRecord


class LocalSignInAdmin:
    """`auth client`, `login`, `logout` and `cert` for the settings window, acting as `caller`."""

    def __init__(self, sign_ins: SignIns, catalog: Catalog, caller: str | None) -> None:
        self._sign_ins = sign_ins
        self._catalog = catalog
        self._caller = caller
        self._guard = threading.Lock()
        self._running: tuple[asyncio.AbstractEventLoop, asyncio.Task[SignInRecord]] | None = None
        self._cancelled = False

    def records(self) -> list[SignInRecord]:
        """Every sign-in row (never a value)."""
        return self._sign_ins.list()

    def set_client(
        self, slug: str, scheme: str, client_id: str, secret: SecretValue | None, redirect_uri: str | None
    ) -> SignInRecord:
        """`auth client`: a secret makes the client confidential, None public."""
        agent = self._catalog.get_agent(slug)
        return asyncio.run(
            self._sign_ins.set_client(
                agent, scheme, client_id, secret, redirect_uri=redirect_uri, caller=self._caller
            )
        )

    def login(self, slug: str, scheme: str) -> SignInRecord:
        """`auth login`: the best flow the card and server offer (the browser or a device code)."""
        agent = self._catalog.get_agent(slug)
        # `_cancelled` is reset when a login ends, not here: a Cancel clicked while the agent was read
        # must still hold.
        return asyncio.run(self._login(agent, scheme))

    async def _login(self, agent: AgentRecord, scheme: str) -> SignInRecord:
        task = asyncio.ensure_future(self._sign_ins.login(agent, scheme, None, caller=self._caller))
        with self._guard:
            if self._cancelled:
                task.cancel()
            self._running = (asyncio.get_running_loop(), task)
        try:
            return await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            raise SignInDenied(f"the sign-in to {agent.slug!r} was cancelled; nothing was stored") from None
        finally:
            with self._guard:
                self._running = None
                self._cancelled = False

    def cancel_login(self) -> None:
        """End the running `login` (from any thread): it raises `SignInDenied` saying it was cancelled."""
        with self._guard:
            self._cancelled = True
            running = self._running
        if running is not None:
            loop, task = running
            loop.call_soon_threadsafe(task.cancel)

    def logout(self, slug: str, scheme: str) -> str | None:
        """`auth logout`: revoke where offered, forget; why it was not revoked, or None."""
        agent = self._catalog.get_agent(slug)
        return asyncio.run(self._sign_ins.logout(agent, scheme, caller=self._caller))

    def import_certificate(self, slug: str, scheme: str, files: CertificateFiles) -> SignInRecord:
        """`auth cert`: read and check the files, keep the certificate and key in the vault."""
        from keybroker.core.auth.client_cert import read_certificate

        if files.cert is None and files.p12 is None:
            raise InvalidInputError("choose a certificate (PEM) or a PKCS#12 file")
        password = files.password.reveal().encode() if files.password is not None else None
        material = read_certificate(
            read_optional_file(files.cert),
            key=read_optional_file(files.key),
            p12=read_optional_file(files.p12),
            password=password,
            ca=read_optional_file(files.ca),
        )
        agent = self._catalog.get_agent(slug)
        return asyncio.run(self._sign_ins.import_certificate(agent, scheme, material, caller=self._caller))
