#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Pictures of the device-code dialog and the Settings → Sign-ins tab (issue 13), for the README.

    QT_QPA_PLATFORM=offscreen python scripts/screenshot_signins.py OUT_DIR

Both are the real widgets over a real catalog in a throw-away home (memory vault): agents whose cards
declare OAuth 2, OpenID Connect and mutual TLS schemes. Writes `18-device-code.png` and
`19-signins-tab.png`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "desktop"))

# ruff: noqa: E402, TID251 - a Qt script that sets its path first
from PySide6.QtWidgets import QApplication

from keybroker.core.admin import LocalAdmin
from keybroker.core.admin.sign_ins import CertificateFiles
from keybroker.core.auth.sign_in_admin import LocalSignInAdmin
from keybroker.core.auth.signins import SignIns
from keybroker.core.broker.sign_in_prompts import DeviceCodeNotice, SignInAsk, SignInPrompter
from keybroker.core.models import AgentRecord, SecurityScheme
from keybroker.core.vault.vault import open_vault
from keybroker.ui.events import AppEvents
from keybroker.ui.settings.asker import QtAsker
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.jobs import JobRunner
from keybroker.ui.settings.signins_tab import SignInsTab
from keybroker.ui.sign_in_dialogs import DeviceCodeDialog, SignInDialog
from keybroker.wiring.services import Services, open_services

_CARD_SCHEMES: dict[str, dict[str, object]] = {
    "oauth2": {
        "type": "oauth2",
        "flows": {
            "authorizationCode": {
                "authorizationUrl": "https://accounts.example.com/auth",
                "tokenUrl": "https://accounts.example.com/token",
            }
        },
    },
    "openIdConnect": {
        "type": "openIdConnect",
        "openIdConnectUrl": "https://login.example.com/.well-known/openid-configuration",
    },
    "mutualTLS": {"type": "mutualTLS"},
}


def _agent(slug: str, name: str, port: int, schemes: tuple[SecurityScheme, ...]) -> AgentRecord:
    url = f"http://127.0.0.1:{port}"
    return AgentRecord(
        slug=slug,
        url=url,
        card_url=f"{url}/.well-known/agent-card.json",
        name=name,
        description="",
        protocol_versions=("1.0",),
        fingerprint=slug[0] * 64,
        schemes=schemes,
        security=tuple((s.name,) for s in schemes),
        card_json=json.dumps(
            {
                "name": name,
                "securitySchemes": {s.name: _CARD_SCHEMES[s.kind] for s in schemes},
                "security": [{s.name: []} for s in schemes],
            }
        ),
    )


AGENTS = (
    _agent("calendar", "Calendar Agent", 8201, (SecurityScheme("google", "oauth2"),)),
    _agent("tickets", "Ticket Triage", 8202, (SecurityScheme("sso", "openIdConnect"),)),
    _agent("ledger", "Ledger Agent", 8203, (SecurityScheme("client-cert", "mutualTLS"),)),
)


class Facade:
    """What the tab needs of `Runtime`."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.options = type("Options", (), {"port": 7411})()
        self.paths = services.paths

    def admin(self, caller: str | None) -> LocalAdmin:
        return LocalAdmin(self.services, caller=caller, port=lambda: 7411)

    def status(self) -> dict[str, object]:
        return {"port": 7411}

    def sign_in_admin(self, caller: str | None, prompter: SignInPrompter | None) -> LocalSignInAdmin:
        svc = self.services
        return LocalSignInAdmin(
            SignIns(svc.catalog, svc.vault, svc.audit, prompter=prompter), svc.catalog, caller
        )


def _self_signed(where: Path) -> CertificateFiles:
    """A throw-away client certificate for the ledger row (a P-256 key, valid 90 days)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ledger-client.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=90))
        .sign(key, hashes.SHA256())
    )
    (where / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (where / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return CertificateFiles(cert=where / "c.pem", key=where / "k.pem")


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(["keybroker"])
    app.setApplicationDisplayName("Keybroker")
    notice = DeviceCodeNotice(
        agent_slug="calendar",
        agent_name="Calendar Agent",
        scheme="google",
        user_code="WDJB-MJHT",
        verification_uri="https://login.example.com/device",
        verification_uri_complete=None,
        expires_at=time.time() + 600,
    )
    dialog = DeviceCodeDialog(notice, open_url=lambda _url: None)
    dialog.show()
    app.processEvents()
    dialog.grab().save(str(out / "18-device-code.png"))
    dialog.close()
    ask = SignInAsk(  # Agent Stack's OAuth extension: the agent signs the user in itself
        agent_slug="notes",
        agent_name="Notes Agent",
        scheme="default",
        host="mcp.example.com",
        flow="code",
        reason="the agent asked to sign in through the Agent Stack OAuth extension",
        agent_client=True,
    )
    own = SignInDialog(ask)
    own.show()
    app.processEvents()
    own.grab().save(str(out / "20-agent-sign-in.png"))
    own.close()
    with tempfile.TemporaryDirectory(prefix="kb-shots-") as home:
        services = open_services(environ={"KEYBROKER_HOME": home}, vault=open_vault("memory"))
        try:
            for agent in AGENTS:
                services.catalog.upsert_agent(agent)
            facade = Facade(services)
            admin = facade.sign_in_admin("screenshot", None)
            admin.import_certificate("ledger", "client-cert", _self_signed(Path(home)))
            admin.set_client("tickets", "sso", "keybroker-desktop", None, None)
            ctx = TabContext(runtime=facade, events=AppEvents(), jobs=JobRunner(), asker=QtAsker())  # type: ignore[arg-type]
            tab = SignInsTab(ctx)
            tab.resize(900, 360)
            tab.show()
            tab.refresh_now()
            tab.view.selectRow(1)  # the buttons enable for the selected row (ledger: Import certificate)
            app.processEvents()
            tab.grab().save(str(out / "19-signins-tab.png"))
            tab.close()
            ctx.jobs.close(wait=True)
        finally:
            services.close()
    print(f"screenshots: wrote 18-device-code.png, 19-signins-tab.png and 20-agent-sign-in.png to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
