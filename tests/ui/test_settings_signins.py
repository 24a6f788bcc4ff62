# SPDX-License-Identifier: Apache-2.0
"""The Sign-ins tab: each agent's OAuth 2 / OIDC / mutual TLS scheme with its state, never a token."""

# The fixtures are imported from test_settings_support by name (pytest finds them here), and test
# parameters of the same names shadow them, as pytest intends.
# ruff: noqa: F811

from __future__ import annotations

import asyncio

import trustme
from pytestqt.qtbot import QtBot

from keybroker.core.auth.client_cert import read_certificate
from keybroker.core.auth.signins import SignIns
from keybroker.core.models import SecretValue
from keybroker.ui.settings_window import SettingsWindow
from keybroker.wiring.services import Services
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
SECRET = "client-secret-CANARY-0123"


def texts(window: SettingsWindow) -> list[list[str]]:
    model = window.signins_tab.model
    return [
        [str(model.data(model.index(r, c))) for c in range(model.columnCount())]
        for r in range(model.rowCount())
    ]


def test_sign_ins_tab_lists_token_and_certificate_schemes_with_their_state(
    qtbot: QtBot, window: SettingsWindow, services: Services, cards: FakeCards
) -> None:
    window.show_tab("signins")
    assert window.signins_tab.area.showing_placeholder
    card = demo_card(
        schemes={
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "sso": {"type": "oauth2", "flows": {}},  # type: ignore[dict-item]
            "cert": {"type": "mutualTLS"},
        }
    )
    cards.cards[BASE] = card
    agent = services.agents.add(BASE)
    window.signins_tab.refresh_now()
    rows = texts(window)
    assert sorted(r[:3] for r in rows) == [[agent.slug, "cert", "mutual TLS"], [agent.slug, "sso", "OAuth 2"]]
    by_scheme = {r[1]: r[3] for r in rows}
    assert by_scheme["sso"].startswith("not signed in") and by_scheme["cert"].startswith("missing")

    signins = SignIns(services.catalog, services.vault, services.audit)
    ca = trustme.CA()
    leaf = ca.issue_cert("client.example.test")
    material = read_certificate(leaf.cert_chain_pems[0].bytes(), key=leaf.private_key_pem.bytes())
    asyncio.run(signins.set_client(agent, "sso", "kb-service", SecretValue(SECRET)))
    asyncio.run(signins.import_certificate(agent, "cert", material))
    window.signins_tab.refresh_now()
    by_scheme = {r[1]: r[3] for r in texts(window)}
    assert by_scheme["sso"] == "satisfied (confidential client set: client credentials)"
    assert by_scheme["cert"].startswith("satisfied (certificate") and "valid until" in by_scheme["cert"]
    assert all(SECRET not in cell for row in texts(window) for cell in row)
    assert "keybroker auth login" in window.signins_tab.how_to.text()
