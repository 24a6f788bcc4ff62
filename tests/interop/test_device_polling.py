# SPDX-License-Identifier: Apache-2.0
"""RFC 8628 polling against the real oidc-provider's answers, as far as it gives them.

oidc-provider 9.13.3 never answers `slow_down`: `SlowDown` is defined in lib/helpers/errors.js and
thrown nowhere (lib/actions/grants/device_code.js throws only AuthorizationPending and ExpiredToken,
and access_denied comes from the user's abort), however fast a client polls. So the +5 s back-off
is not exercised here (test_sign_in_flows.py proves the interval is kept while `authorization_pending`
comes back). What the server does answer: the user aborting at the device page, which must end the
poll at once as a refusal (exit code 5), not a server failure, with nothing stored.
"""

# ruff: noqa: F811 - fixtures imported by name from test_sign_in_flows

from __future__ import annotations

import asyncio
import contextlib

import pytest

from keybroker.core.auth.oauth_client import OAuthClient
from keybroker.core.auth.server_info import from_metadata, http_client
from keybroker.core.errors import SignInDenied
from tests.interop.test_sign_in_flows import AGENT_URL, idp  # noqa: F401 - fixtures
from tests.peers.browser import BrowserError
from tests.peers.oauth_server import OAuthServer


@pytest.mark.asyncio
async def test_a_device_sign_in_the_user_aborts_ends_the_poll_as_a_refusal(idp: OAuthServer) -> None:
    async with http_client() as http:
        metadata = (await http.get(f"{idp.issuer}/.well-known/openid-configuration")).json()
        server = from_metadata(metadata, f"{idp.issuer}/.well-known/openid-configuration")
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)
            await asyncio.sleep(seconds)

        client = OAuthClient(server, idp.public_client_id, None, http, sleep=sleep)
        device = await client.device_authorization(["read"], AGENT_URL)
        poll = asyncio.ensure_future(client.poll_device(device, AGENT_URL))
        while not slept:
            await asyncio.sleep(0.05)
        with idp.browser(deny=True) as browser, contextlib.suppress(BrowserError):
            # The abort leads to the server's error page, not its success page.
            await asyncio.to_thread(browser.approve_device, device.verification_uri, device.user_code)
        with pytest.raises(SignInDenied, match="denied"):
            await asyncio.wait_for(poll, 60)
    assert slept and all(s == device.interval for s in slept)  # no back-off without slow_down
