"""CLI tests run `python -m keybroker` in a subprocess against the rig's real Secret Service."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from keybroker import VAULT_SERVICE
from tests.conftest import RunCli
from tests.vault import secret_service as rig

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"


@pytest.fixture
def kb(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """`run_cli` on the OS vault (each test has its own KEYBROKER_HOME).

    The rig's keyring is shared by the whole session: the test starts with no Keybroker entry in it, so
    what earlier tests stored (under other homes) is not taken for leftovers by `doctor` or `purge`."""
    if rig.rig_problem() is None:
        rig.delete_all(VAULT_SERVICE)
    monkeypatch.setenv("KEYBROKER_VAULT", "system")
    return run_cli


class CardHandler(BaseHTTPRequestHandler):
    card: dict[str, Any] = {}

    def do_GET(self) -> None:
        if self.path == "/.well-known/agent-card.json":
            body = json.dumps(self.server.card).encode()  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


class CardSite:
    """A tiny HTTP server that serves one agent card (changeable)."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), CardHandler)
        self.server.card = card()  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set_card(self, data: dict[str, Any]) -> None:
        self.server.card = data  # type: ignore[attr-defined]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def card(name: str = "Demo Agent", demands: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "description": "serves a card",
        "version": "1.0.0",
        "url": "http://127.0.0.1:1/jsonrpc/",
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3.0",
        "capabilities": {
            "streaming": True,
            "extensions": [
                {
                    "uri": SECRETS_URI,
                    "params": {
                        "secret_demands": demands
                        if demands is not None
                        else {"github": {"name": "GitHub token", "description": "PAT with repo scope"}}
                    },
                }
            ],
        },
        # OAuth 2 is not handled yet: `agents show` must say so, never report it satisfied.
        "securitySchemes": {
            "oauth": {
                "type": "oauth2",
                "flows": {"clientCredentials": {"tokenUrl": "https://idp.example/token", "scopes": {}}},
            }
        },
        "security": [{"oauth": []}],
        "defaultInputModes": ["text"],
        "defaultOutputModes": ["text"],
        "skills": [],
    }


@pytest.fixture
def card_site() -> Iterator[CardSite]:
    site = CardSite()
    yield site
    site.close()
