# SPDX-License-Identifier: Apache-2.0
"""The app over a real OpenBao whose token is revoked while it runs: a release that needs the vault is
declined, and the tray's state says so (icon, status line, tooltip, a "Why" entry with the fix) while
values already granted and in memory keep being released."""

# The ui fixtures are imported by name.
# ruff: noqa: F811

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMenu

from keybroker.core.models import SecretDemand, SecretValue
from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.system.paths import Paths
from keybroker.system.vault_choice import save_choice
from keybroker.ui.app_state import AppState, icon_state, status_line, tooltip
from keybroker.ui.icon_art import IconState
from keybroker.ui.tray_menu import build_menu
from tests.core.broker.test_broker import fulfil, revealed
from tests.peers.openbao import DevServer
from tests.ui.conftest import AsyncRunner, aio, app  # noqa: F401 - fixtures are used by name
from tests.ui.support import agent, until
from tests.ui.test_controller import Harness
from tests.vault.openbao.conftest import make_token, put_policy

GITHUB = SecretDemand("github", "GitHub token", "PAT")
SLACK = SecretDemand("slack", "Slack token", "bot token")


@pytest.fixture
def token(bao: DevServer, prefix: str) -> str:
    name = "tray-" + prefix.replace("/", "-")
    rules = '["create", "read", "update", "delete", "list"]'
    put_policy(bao, name, f'path "secret/+/{prefix}/*" {{ capabilities = {rules} }}\n')
    return make_token(bao, name)


@pytest.fixture
def harness(aio: AsyncRunner, tmp_path: Path, config: OpenBaoConfig, token: str) -> Iterator[Harness]:
    environ = {**os.environ, "KEYBROKER_HOME": str(tmp_path / "home"), "BAO_TOKEN": token}
    environ.pop("KEYBROKER_VAULT", None)
    save_choice(Paths.from_env(environ), "openbao", config.with_changes(install="tray-test"))
    h = Harness(environ)
    yield h
    aio.run(h.controller.shutdown())


def test_a_revoked_token_shows_in_the_tray_and_cached_values_keep_serving(
    aio: AsyncRunner, harness: Harness, bao: DevServer, token: str, app: QApplication
) -> None:
    controller = harness.controller
    assert aio.run(controller.start()) is AppState.READY
    services, broker = harness.runtime.services, harness.runtime.broker
    assert services is not None and broker is not None
    assert "OpenBao" in (controller.status().vault or "")
    research = agent()
    services.catalog.upsert_agent(research)
    services.secrets.set("github", SecretValue("canary-github-value"), owner=research.slug)
    services.secrets.set("slack", SecretValue("canary-slack-value"), owner=research.slug)
    assert revealed(aio.run(fulfil(broker, research, (GITHUB,)))) == {"github": "canary-github-value"}
    assert controller.status().vault_trouble is None

    with bao.client() as admin:
        assert admin.post("/v1/auth/token/revoke", json={"token": token}).status_code == 204
    declined = aio.run(fulfil(broker, research, (SLACK,)))  # not in memory: the vault is asked, refuses
    assert revealed(declined) == {}
    assert "refused" in declined.reasons["slack"]

    async def shown() -> None:
        await until(lambda: controller.status().vault_trouble is not None, what="the tray's vault trouble")

    aio.run(shown())
    status = controller.status()
    assert status.state is AppState.READY  # still serving: cached values go out
    assert status_line(status) == "Vault trouble: only values already in memory are released"
    text = tooltip(status)
    assert "OpenBao refused $BAO_TOKEN (expired or revoked)" in text and "Fix:" in text
    assert token not in text and "canary" not in text
    assert icon_state(status.state, status.pending, vault_trouble=True) is IconState.VAULT_UNAVAILABLE
    (title,) = [t for t, _ in harness.notifier.notices if "vault" in t]
    assert title == "Keybroker: a value could not be read from the vault"

    menu = QMenu()
    build_menu(menu, controller)
    why = [a for a in menu.actions() if a.objectName() == "problem"]
    assert len(why) == 1 and why[0].text() == "Why, and how to fix it…"
    menu.deleteLater()

    # A value granted and read before the refusal is still released, from memory.
    assert revealed(aio.run(fulfil(broker, research, (GITHUB,)))) == {"github": "canary-github-value"}
    assert controller.status().vault_trouble is not None  # the vault has not answered since
