# SPDX-License-Identifier: Apache-2.0
"""Helpers for the sign-in tests: a scripted user at the sign-in prompt and in the browser.

- `ScriptedSignIn`: a `SignInPrompter` that answers the sign-in prompt (Open browser or Deny),
  records what it was asked, and for a device code types the code into the real authorization
  server's page through `ScriptedBrowser` (tests/peers/browser.py), as a person would.
- `browser_opener(idp, ...)`: what Keybroker calls to open the system browser, in-process: the
  scripted browser signs in (or denies), then delivers the redirect to Keybroker's loopback listener.
  `tamper_state` changes the redirect's `state` first (a forged redirect).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from keybroker.core.broker.sign_in_prompts import DeviceCodeNotice, SignInAsk
from tests.peers.oauth_server import OAuthServer


class ScriptedSignIn:
    """A scripted user for sign-in prompts (module docstring)."""

    def __init__(
        self, idp: OAuthServer | None = None, *, allow: bool = True, approve_device: bool = True
    ) -> None:
        self.idp = idp
        self.allow = allow
        self.approve_device = approve_device
        self.asks: list[SignInAsk] = []
        self.devices: list[DeviceCodeNotice] = []

    async def confirm_sign_in(self, ask: SignInAsk) -> bool:
        self.asks.append(ask)
        return self.allow

    async def show_device_code(self, notice: DeviceCodeNotice) -> None:
        self.devices.append(notice)
        if self.idp is not None and self.approve_device:
            browser = self.idp.browser()
            try:
                await asyncio.to_thread(browser.approve_device, notice.verification_uri, notice.user_code)
            finally:
                browser.close()
        await asyncio.Event().wait()  # shown until the sign-in ends (Keybroker cancels it)


def browser_opener(
    idp: OAuthServer, *, deny: bool = False, tamper_state: bool = False, opened: list[str] | None = None
) -> Callable[[str], Awaitable[None]]:
    """An `open_browser` for `SignIns` that signs the test user in with the scripted browser."""

    def visit(url: str) -> None:
        with idp.browser(deny=deny) as browser:
            redirect = browser.authorize(url)
        if tamper_state:
            parts = urlsplit(redirect)
            query = dict(parse_qsl(parts.query))
            query["state"] = "forged-" + query.get("state", "")
            redirect = urlunsplit(parts._replace(query=urlencode(query)))
        with httpx.Client(trust_env=False, timeout=10.0) as client:
            client.get(redirect)

    async def open_browser(url: str) -> None:
        if opened is not None:
            opened.append(url)
        asyncio.get_running_loop().run_in_executor(None, visit, url)

    return open_browser
