# SPDX-License-Identifier: Apache-2.0
"""The tray's sign-in dialogs (ui/sign_in_dialogs.py) driving real sign-ins (core/auth) against a real
authorization server (oidc-provider): the device code dialog's Copy and Open, and "sign in?" before the
browser opens, answered Deny and Open browser (for a card's scheme, and for a sign-in the agent runs itself
through Agent Stack's OAuth extension).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import shiboken6
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QLabel

from keybroker.core.auth.signins import SignIns
from keybroker.core.bridge.oauth_callback import OAuthCallback
from keybroker.core.models import AuditDecision, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.ui.sign_in_dialogs import DeviceCodeDialog, QtSignInPrompter, SignInDialog
from keybroker.wiring.services import Services, open_services
from tests.interop.sign_in_support import browser_opener
from tests.interop.test_sign_in_flows import agent_with, code_scheme
from tests.peers import oauth_server
from tests.peers.oauth_server import NATIVE_REDIRECT_URI, OAuthServer, pkce_pair
from tests.peers.process import skip_if_missing
from tests.ui.conftest import AsyncRunner
from tests.ui.support import until


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[OAuthServer]:
    with skip_if_missing(), oauth_server.oauth_server(workdir=tmp_path / "idp") as server:
        yield server


def closed(dialog: QDialog) -> bool:
    return not shiboken6.isValid(dialog) or not dialog.isVisible()


def test_device_code_dialog_copy_and_open_then_the_sign_in_closes_it(
    aio: AsyncRunner, services: Services, idp: OAuthServer
) -> None:
    scheme = {
        "type": "oauth2",
        "flows": {
            "deviceCode": {
                "deviceAuthorizationUrl": f"{idp.issuer}/device/auth",
                "tokenUrl": f"{idp.issuer}/token",
            }
        },
    }
    record = agent_with(services, scheme, ["read"])
    opened: list[str] = []
    prompter = QtSignInPrompter(open_url=opened.append)
    signins = SignIns(services.catalog, services.vault, services.audit, prompter=prompter, timeout=60.0)

    async def scenario() -> None:
        await signins.set_client(record, "sso", idp.public_client_id, None)
        login = asyncio.ensure_future(signins.login(record, "sso", "device"))
        await until(lambda: isinstance(prompter.current, DeviceCodeDialog), timeout=20, what="the code")
        dialog = prompter.current
        assert isinstance(dialog, DeviceCodeDialog) and dialog.isVisible()
        dialog.copy_button.click()
        code = QGuiApplication.clipboard().text()
        assert code and code == dialog.code_label.text()
        dialog.open_button.click()
        assert len(opened) == 1 and opened[0].startswith(idp.issuer)
        # The user types the copied code at the page (the scripted browser, as a person would).
        with idp.browser() as browser:
            await asyncio.to_thread(browser.approve_device, dialog.url_label.text(), code)
        row = await asyncio.wait_for(login, 40)
        assert row.signed_in_now and row.flow == "device"
        await until(lambda: closed(dialog), what="the dialog to close once signed in")

    aio.run(scenario(), timeout=90)


@pytest.mark.parametrize("answer", ["deny", "open browser"])
def test_sign_in_dialog_asks_before_the_browser_opens(
    aio: AsyncRunner, services: Services, idp: OAuthServer, answer: str
) -> None:
    record = agent_with(services, code_scheme(idp), ["read"])
    opened: list[str] = []
    prompter = QtSignInPrompter()
    signins = SignIns(
        services.catalog,
        services.vault,
        services.audit,
        prompter=prompter,
        open_browser=browser_opener(idp, opened=opened),
        timeout=30.0,
    )

    async def scenario() -> None:
        await signins.set_client(record, "sso", idp.public_client_id, None, redirect_uri=NATIVE_REDIRECT_URI)
        token = asyncio.ensure_future(
            signins.token(record, "sso", interactive=True, reason="the agent refused its credentials")
        )
        await until(lambda: isinstance(prompter.current, SignInDialog), what="the sign-in prompt")
        dialog = prompter.current
        assert isinstance(dialog, SignInDialog)
        assert dialog.headline.text() == "Signed-in agent wants you to sign in at 127.0.0.1"
        assert opened == []  # nothing opens before the user says so
        (dialog.deny_button if answer == "deny" else dialog.open_button).click()
        got = await asyncio.wait_for(token, 30)
        if answer == "deny":
            assert got is None and opened == []
        else:
            assert got is not None and len(opened) == 1
        await until(lambda: closed(dialog), what="the dialog to close")

    aio.run(scenario(), timeout=60)


@pytest.mark.parametrize("answer", ["deny", "open browser"])
def test_an_agents_own_sign_in_asks_first_then_hands_the_redirect_back(
    aio: AsyncRunner, services: Services, idp: OAuthServer, answer: str
) -> None:
    """Agent Stack's OAuth extension: the agent is the OAuth client (here its part is played as mcp's
    client plays it: registration with the run's callback, PKCE, state); the dialog says the agent keeps
    the tokens, and Open browser brings the redirect back through the run's callback listener."""
    record = agent_with(services, code_scheme(idp), ["read"])
    opened: list[str] = []
    prompter = QtSignInPrompter()
    signins = SignIns(
        services.catalog,
        services.vault,
        services.audit,
        prompter=prompter,
        open_browser=browser_opener(idp, opened=opened),
        timeout=30.0,
    )

    async def scenario() -> None:
        callback = OAuthCallback()
        await callback.open()
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=10.0) as http:
                registration = await http.post(
                    idp.metadata()["registration_endpoint"],
                    json={
                        "redirect_uris": [callback.uri],
                        "token_endpoint_auth_method": "none",
                        "grant_types": ["authorization_code"],
                        "response_types": ["code"],
                    },
                )
            client_id = registration.json()["client_id"]
            _, challenge = pkce_pair()
            query = {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": callback.uri,
                "state": "agent-state-1",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "scope": "openid",
            }
            url = SecretValue(f"{idp.issuer}/auth?{urlencode(query)}")
            result = asyncio.ensure_future(signins.agent_sign_in(record, url, callback.arm))
            await until(lambda: isinstance(prompter.current, SignInDialog), what="the sign-in prompt")
            dialog = prompter.current
            assert isinstance(dialog, SignInDialog)
            assert dialog.headline.text() == "Signed-in agent wants you to sign in at 127.0.0.1"
            texts = " ".join(label.text() for label in dialog.findChildren(QLabel))
            assert "keeps the tokens" in texts and "vault" not in texts
            assert dialog.open_button.text() == "Open browser" and opened == []
            (dialog.deny_button if answer == "deny" else dialog.open_button).click()
            got = await asyncio.wait_for(result, 30)
            if answer == "deny":
                assert got is None and opened == []
            else:
                assert got is not None and len(opened) == 1
                redirect = got.reveal()
                assert redirect.startswith(callback.uri + "?code=") and "state=agent-state-1" in redirect
            await until(lambda: closed(dialog), what="the dialog to close")
        finally:
            await callback.close()

    aio.run(scenario(), timeout=60)
    decision = AuditDecision.DENIED if answer == "deny" else AuditDecision.SIGNED_IN
    assert [e.decision for e in services.audit.events() if e.key == "oauth:127.0.0.1"] == [decision]
