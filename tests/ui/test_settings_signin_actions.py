# SPDX-License-Identifier: Apache-2.0
"""The Sign-ins tab's buttons against a real authorization server (oidc-provider, tests/peers) and the
real `webbrowser` with `$BROWSER` set to tests/peers/browser.py's scripted user: Set client, Sign in,
Sign out (asked first, revoked at the server), a denied sign-in, Import certificate. Each drives the
tab's own buttons and dialogs and reads what the row then says, what the vault holds and the server.
"""

# ruff: noqa: F811 - fixtures imported by name from test_settings_support

from __future__ import annotations

import asyncio
import shlex
import socket
import sys
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import trustme
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from keybroker.core.auth.token_set import TokenSet
from keybroker.core.models import AuditDecision, SecretValue
from keybroker.ui.settings.asker import Answer
from keybroker.ui.settings.signin_dialogs import CertificateDialog, ClientDialog
from keybroker.ui.settings.signins_tab import SignInsTab
from keybroker.ui.settings.table import select_key
from keybroker.ui.settings_window import SettingsWindow
from keybroker.ui.sign_in_dialogs import DeviceCodeDialog
from keybroker.wiring.services import Services
from tests.peers import oauth_server
from tests.peers.oauth_server import NATIVE_REDIRECT_URI, OAuthServer
from tests.peers.process import skip_if_missing
from tests.ui.test_settings_support import (  # noqa: F401 - fixtures are used by name
    FakeCards,
    ScriptedAsker,
    StubRuntime,
    asker,
    autostart,
    cards,
    clock,
    demo_card,
    events,
    runtime,
    services,
    window,
)

BASE = "http://127.0.0.1:9001"
BROWSER_SCRIPT = Path(oauth_server.__file__).with_name("browser.py")
SIGN_IN_SECONDS = 90


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuthServer]:
    with skip_if_missing(), oauth_server.oauth_server(workdir=tmp_path_factory.mktemp("idp")) as server:
        yield server


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch, idp: OAuthServer) -> pytest.MonkeyPatch:
    """$BROWSER is the scripted user; webbrowser reads it afresh (it caches its list per process).
    No `&`: webbrowser waits for it on the sign-in's worker, so no process outlives the test."""
    monkeypatch.setenv("BROWSER", f"{sys.executable} {BROWSER_SCRIPT} %s")
    for name, value in idp.browser_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})
    return monkeypatch


def add_oidc_agent(services: Services, cards: FakeCards, idp: OAuthServer) -> str:
    scheme = {"type": "openIdConnect", "openIdConnectUrl": f"{idp.issuer}/.well-known/openid-configuration"}
    card = demo_card(schemes={"sso": scheme})
    card["security"] = [{"sso": ["read"]}]
    cards.cards[BASE] = card
    return services.agents.add(BASE).slug


def status_of(tab: SignInsTab, scheme: str) -> str:
    for row in tab.model.rows():
        if row.scheme == scheme:
            return row.status
    raise AssertionError(f"no row for {scheme}")


def select(tab: SignInsTab, slug: str, scheme: str) -> None:
    tab.refresh_now()
    assert select_key(tab.view, f"{slug}\0{scheme}")


def wait_idle(qtbot: QtBot, window: SettingsWindow, seconds: float = 30) -> None:
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=int(seconds * 1000))


def set_public_client(qtbot: QtBot, window: SettingsWindow, idp: OAuthServer) -> None:
    tab = window.signins_tab
    tab.bar.buttons["setClient"].click()
    dialog = tab.dialog
    assert isinstance(dialog, ClientDialog)
    dialog.client_id.setText(idp.public_client_id)
    dialog.public.setChecked(True)
    dialog.redirect_uri.setText(NATIVE_REDIRECT_URI)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    wait_idle(qtbot, window)
    assert status_of(tab, "sso").startswith("client set; not signed in"), tab.status.text


def held(services: Services, slug: str) -> TokenSet:
    row = next(r for r in window_records(services) if r.agent == slug)
    return TokenSet.from_value(asyncio.run(services.vault.aget(row.account)), row.account)


def window_records(services: Services) -> list[Any]:
    from keybroker.core.catalog.signins import SignInBook

    return SignInBook(services.catalog).list()


def test_set_client_sign_in_then_sign_out_revokes_at_the_server(
    qtbot: QtBot,
    window: SettingsWindow,
    services: Services,
    cards: FakeCards,
    asker: ScriptedAsker,
    idp: OAuthServer,
    browser: pytest.MonkeyPatch,
) -> None:
    tab = window.signins_tab
    window.show_tab("signins")
    slug = add_oidc_agent(services, cards, idp)
    tab.refresh_now()
    assert not tab.bar.buttons["signIn"].isEnabled()  # nothing selected
    select(tab, slug, "sso")
    buttons = tab.bar.buttons
    assert buttons["signIn"].isEnabled() and buttons["setClient"].isEnabled()
    assert not buttons["signOut"].isEnabled() and not buttons["importCertificate"].isEnabled()
    set_public_client(qtbot, window, idp)

    select(tab, slug, "sso")
    buttons["signIn"].click()
    assert "browser" in tab.status.text  # progress while the user signs in
    wait_idle(qtbot, window, SIGN_IN_SECONDS)
    assert status_of(tab, "sso").startswith("satisfied (signed in as alice (code flow)"), tab.status.text
    assert "Signed in as alice" in tab.status.text
    refresh = held(services, slug).refresh_token
    assert refresh is not None

    select(tab, slug, "sso")
    assert buttons["signOut"].isEnabled()
    buttons["signOut"].click()  # the scripted asker declines first: nothing happens
    assert asker.asked[-1].destructive and asker.asked[-1].action == "Sign out"
    assert status_of(tab, "sso").startswith("satisfied (signed in as alice")
    asker.answers.append(Answer(True))
    buttons["signOut"].click()
    wait_idle(qtbot, window)
    assert "revoked" in tab.status.text
    assert status_of(tab, "sso").startswith("client set; not signed in")
    answer = httpx.post(
        f"{idp.issuer}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh.reveal(),
            "client_id": idp.public_client_id,
        },
        trust_env=False,
    )
    assert answer.json()["error"] == "invalid_grant"  # the server forgot it
    values = held(services, slug)
    assert values.access_token is None and values.refresh_token is None
    select(tab, slug, "sso")
    assert not buttons["signOut"].isEnabled()
    kinds = [e.decision for e in services.audit.events() if e.key == "sso"]
    assert AuditDecision.SIGNED_IN in kinds and kinds[-1] == AuditDecision.SIGNED_OUT
    assert all(e.caller == "settings window" for e in services.audit.events() if e.key == "sso")


def test_a_sign_in_denied_at_the_server_shows_the_error_and_stores_nothing(
    qtbot: QtBot,
    window: SettingsWindow,
    services: Services,
    cards: FakeCards,
    idp: OAuthServer,
    browser: pytest.MonkeyPatch,
) -> None:
    tab = window.signins_tab
    window.show_tab("signins")
    slug = add_oidc_agent(services, cards, idp)
    select(tab, slug, "sso")
    set_public_client(qtbot, window, idp)
    browser.setenv("KEYBROKER_TEST_BROWSER_DENY", "1")
    select(tab, slug, "sso")
    tab.bar.buttons["signIn"].click()
    wait_idle(qtbot, window, SIGN_IN_SECONDS)
    assert tab.status.kind == "error", tab.status.text
    assert "denied" in tab.status.text.lower() or "access_denied" in tab.status.text
    assert status_of(tab, "sso").startswith("client set; not signed in")
    values = held(services, slug)
    assert values.access_token is None and values.refresh_token is None and values.id_token is None
    assert AuditDecision.SIGNED_IN not in [e.decision for e in services.audit.events()]


def test_set_client_keeps_a_confidential_secret_in_the_vault_only(
    qtbot: QtBot,
    window: SettingsWindow,
    services: Services,
    cards: FakeCards,
    idp: OAuthServer,
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    secret = "client-secret-CANARY-7c1e"
    tab = window.signins_tab
    window.show_tab("signins")
    slug = add_oidc_agent(services, cards, idp)
    select(tab, slug, "sso")
    tab.bar.buttons["setClient"].click()
    dialog = tab.dialog
    assert isinstance(dialog, ClientDialog)
    dialog.client_id.setText(idp.service_client_id)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()  # no secret, not public: refused
    assert tab.dialog is dialog and "secret" in dialog.error.text()
    dialog.secret.setText(secret)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.secret.text() == ""  # the field lets go of it
    wait_idle(qtbot, window)
    assert status_of(tab, "sso") == "satisfied (confidential client set: client credentials)"
    value = held(services, slug).client_secret
    assert isinstance(value, SecretValue) and value.reveal() == secret
    shown = tab.status.text + "".join(r.status for r in tab.model.rows())
    audit = "".join(f"{e.detail}{e.key}" for e in services.audit.events())
    on_disk = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert secret not in shown + audit and secret.encode() not in on_disk


def test_import_certificate_shows_it_and_keeps_the_key_off_the_disk(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    card = demo_card(schemes={"mtls": {"type": "mutualTLS"}})
    cards.cards[BASE] = card
    slug = services.agents.add(BASE).slug
    tab = window.signins_tab
    window.show_tab("signins")
    select(tab, slug, "mtls")
    buttons = tab.bar.buttons
    assert buttons["importCertificate"].isEnabled()
    assert not buttons["signIn"].isEnabled() and not buttons["setClient"].isEnabled()
    ca = trustme.CA()
    leaf, other = ca.issue_cert("client.example.test"), ca.issue_cert("other.example.test")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "k.pem"))
    other.private_key_pem.write_to_path(str(tmp_path / "other.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))

    def import_with(key: str) -> None:
        buttons["importCertificate"].click()
        dialog = tab.dialog
        assert isinstance(dialog, CertificateDialog)
        dialog.cert.setText(str(tmp_path / "c.pem"))
        dialog.key.setText(str(tmp_path / key))
        dialog.ca.setText(str(tmp_path / "ca.pem"))
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        wait_idle(qtbot, window)

    import_with("other.pem")  # bad input: a clear error, nothing stored
    assert tab.status.kind == "error" and "does not belong" in tab.status.text
    assert status_of(tab, "mtls").startswith("missing")
    select(tab, slug, "mtls")
    import_with("k.pem")
    row = status_of(tab, "mtls")
    assert row.startswith("satisfied (certificate") and "valid until" in row, tab.status.text
    assert "client.example.test" in tab.status.text or "trustme" in tab.status.text
    values = held(services, slug)
    assert values.key_pem is not None and "PRIVATE KEY" in values.key_pem.reveal()
    key_lines = [
        leaf.private_key_pem.bytes().splitlines()[1],
        values.key_pem.reveal().splitlines()[1].encode(),
    ]
    on_disk = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert all(line not in on_disk for line in key_lines)  # the vault only (a memory one here)


def start_device_sign_in(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards, idp: OAuthServer
) -> DeviceCodeDialog:
    """An agent whose card offers only the device flow, a public client set, Sign in pressed: the
    device-code dialog it shows."""
    scheme = {
        "type": "oauth2",
        "oauth2MetadataUrl": f"{idp.issuer}/.well-known/oauth-authorization-server",
        "flows": {
            "deviceCode": {
                "deviceAuthorizationUrl": f"{idp.issuer}/device/auth",
                "tokenUrl": f"{idp.issuer}/token",
            }
        },
    }
    card = demo_card(schemes={"sso": scheme})
    card["security"] = [{"sso": ["read"]}]
    cards.cards[BASE] = card
    slug = services.agents.add(BASE).slug
    tab = window.signins_tab
    window.show_tab("signins")
    select(tab, slug, "sso")
    tab.bar.buttons["setClient"].click()
    dialog = tab.dialog
    assert isinstance(dialog, ClientDialog)
    dialog.client_id.setText(idp.public_client_id)
    dialog.public.setChecked(True)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    wait_idle(qtbot, window)
    select(tab, slug, "sso")
    tab.bar.buttons["signIn"].click()
    qtbot.waitUntil(lambda: tab.relay.current is not None, timeout=30_000)
    shown = tab.relay.current
    assert isinstance(shown, DeviceCodeDialog)
    return shown


def test_a_device_flow_sign_in_shows_the_code_dialog_until_approved(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards, idp: OAuthServer
) -> None:
    tab = window.signins_tab
    shown = start_device_sign_in(qtbot, window, services, cards, idp)
    assert shown.url_label.text().startswith(idp.issuer)
    assert window.jobs.busy and tab.status.kind == "busy"
    with idp.browser() as user:  # the user types the code on another device
        user.approve_device(shown.url_label.text(), shown.code_label.text())
    wait_idle(qtbot, window, SIGN_IN_SECONDS)
    assert tab.relay.current is None  # withdrawn once the sign-in ended
    assert status_of(tab, "sso").startswith("satisfied (signed in"), tab.status.text
    assert "(device flow)" in status_of(tab, "sso")


def test_cancelling_the_device_code_dialog_ends_the_sign_in_and_stores_nothing(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards, idp: OAuthServer
) -> None:
    tab = window.signins_tab
    shown = start_device_sign_in(qtbot, window, services, cards, idp)
    shown.cancel_button.click()
    wait_idle(qtbot, window)
    assert tab.status.kind == "error" and "cancelled" in tab.status.text
    assert status_of(tab, "sso").startswith("client set; not signed in")
    assert held(services, tab.model.rows()[0].agent).access_token is None
    assert AuditDecision.SIGNED_IN not in [e.decision for e in services.audit.events()]


def test_cancel_ends_a_pending_browser_sign_in_closes_its_listener_and_stores_nothing(
    qtbot: QtBot,
    window: SettingsWindow,
    services: Services,
    cards: FakeCards,
    idp: OAuthServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # A browser that never signs in: it notes the URL it was given and exits.
    noted = tmp_path / "url.txt"
    script = f"import sys, pathlib; pathlib.Path({str(noted)!r}).write_text(sys.argv[1])"
    monkeypatch.setenv("BROWSER", f"{sys.executable} -c {shlex.quote(script)} %s")
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})
    tab = window.signins_tab
    window.show_tab("signins")
    slug = add_oidc_agent(services, cards, idp)
    select(tab, slug, "sso")
    set_public_client(qtbot, window, idp)
    buttons = tab.bar.buttons
    assert not buttons["cancelSignIn"].isEnabled()  # nothing to cancel yet
    select(tab, slug, "sso")
    buttons["signIn"].click()
    assert buttons["cancelSignIn"].isEnabled() and window.jobs.busy
    qtbot.waitUntil(noted.exists, timeout=30_000)
    qtbot.waitUntil(lambda: bool(noted.read_text()), timeout=5_000)
    redirect = dict(parse_qsl(urlsplit(noted.read_text()).query))["redirect_uri"]
    port = urlsplit(redirect).port
    assert port is not None
    probe = httpx.get(f"http://127.0.0.1:{port}/not-the-redirect", trust_env=False, timeout=10)
    assert probe.status_code == 404  # the loopback listener waits for the redirect

    buttons["cancelSignIn"].click()
    wait_idle(qtbot, window)  # well before the flow's 300 s timeout
    assert tab.status.kind == "error" and "cancelled" in tab.status.text, tab.status.text
    assert not buttons["cancelSignIn"].isEnabled()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # the listener is gone
    assert status_of(tab, "sso").startswith("client set; not signed in")
    values = held(services, slug)
    assert values.access_token is None and values.refresh_token is None and values.id_token is None
    assert AuditDecision.SIGNED_IN not in [e.decision for e in services.audit.events()]
    select(tab, slug, "sso")
    assert buttons["signIn"].isEnabled()  # the tab is free again
