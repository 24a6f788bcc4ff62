# SPDX-License-Identifier: Apache-2.0
"""The app over a real OpenBao whose token is revoked while it runs: a release that needs the vault is
declined, and the tray's state says so (icon, status line, tooltip, a "Why" entry with the fix) while
values already granted and in memory keep being released; after `keybroker vault login` the app reads
the vault again without a restart and the tray is back to ready."""

# The ui fixtures are imported by name.
# ruff: noqa: F811

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMenu

from keybroker.core.models import SecretDemand, SecretValue
from keybroker.core.vault.choice import load_system_backend
from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.core.vault.openbao_credentials import BackendCredentials
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
from tests.vault.openbao.conftest import make_backend, make_token, put_policy

GITHUB = SecretDemand("github", "GitHub token", "PAT")
SLACK = SecretDemand("slack", "Slack token", "bot token")


@pytest.fixture
def policy(bao: DevServer, prefix: str) -> str:
    name = "tray-" + prefix.replace("/", "-")
    rules = '["create", "read", "update", "delete", "list"]'
    put_policy(bao, name, f'path "secret/+/{prefix}/*" {{ capabilities = {rules} }}\n')
    return name


@pytest.fixture
def token(bao: DevServer, policy: str) -> str:
    return make_token(bao, policy)


def log_in(config: OpenBaoConfig, token: str) -> None:
    """What `keybroker vault login` does: check the token, keep it in the OS vault (the rig's keyring)."""
    make_backend(config, environ={}, credentials=BackendCredentials(load_system_backend)).auth.remember(token)


@contextmanager
def running_app(aio: AsyncRunner, tmp_path: Path, config: OpenBaoConfig, token: str) -> Iterator[Harness]:
    """The app's controller over a real runtime whose vault is OpenBao, `token` kept by `vault login`."""
    environ = {**os.environ, "KEYBROKER_HOME": str(tmp_path / "home")}
    for name in ("KEYBROKER_VAULT", "BAO_TOKEN", "VAULT_TOKEN"):
        environ.pop(name, None)
    save_choice(Paths.from_env(environ), "openbao", config.with_changes(install="tray-test"))
    log_in(config, token)
    h = Harness(environ)
    try:
        yield h
    finally:
        aio.run(h.controller.shutdown())
        make_backend(config, environ={}, credentials=BackendCredentials(load_system_backend)).auth.forget()


@pytest.fixture
def harness(aio: AsyncRunner, tmp_path: Path, config: OpenBaoConfig, token: str) -> Iterator[Harness]:
    with running_app(aio, tmp_path, config, token) as h:
        yield h


def test_a_revoked_token_shows_in_the_tray_and_cached_values_keep_serving(
    aio: AsyncRunner,
    harness: Harness,
    bao: DevServer,
    config: OpenBaoConfig,
    policy: str,
    token: str,
    app: QApplication,
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
    assert "OpenBao refused token kept in the OS vault (expired or revoked)" in text
    assert "Fix: log in again with `keybroker vault login`" in text
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

    # The fix the tray gives works without a restart: after `vault login` the next release reads the
    # vault with the new token, and the tray is back to ready.
    log_in(config, make_token(bao, policy))
    assert revealed(aio.run(fulfil(broker, research, (SLACK,)))) == {"slack": "canary-slack-value"}

    async def over() -> None:
        await until(lambda: controller.status().vault_trouble is None, what="the trouble to be over")

    aio.run(over())
    assert status_line(controller.status()).startswith("Ready on http://127.0.0.1:")


def test_an_idle_app_shows_a_revoked_token_before_any_release_fails(
    aio: AsyncRunner, bao: DevServer, config: OpenBaoConfig, policy: str, tmp_path: Path, app: QApplication
) -> None:
    # A token living 8 s is kept alive every 2 s (a quarter of its period) by the runtime: the
    # keep-alive finds the revocation while nothing is being released, and the tray says so.
    token = make_token(bao, policy, ttl="8s", renewable=True)
    with running_app(aio, tmp_path, config, token) as harness:
        controller = harness.controller
        assert aio.run(controller.start()) is AppState.READY
        with bao.client() as admin:
            assert admin.post("/v1/auth/token/revoke", json={"token": token}).status_code == 204

        async def shown() -> None:
            await until(lambda: controller.status().vault_trouble is not None, 15.0, "the trouble shown")

        aio.run(shown())
        status = controller.status()
        assert status_line(status) == "Vault trouble: only values already in memory are released"
        assert "OpenBao refused" in (status.vault_trouble or "") and token not in tooltip(status)
        services = harness.runtime.services
        assert services is not None
        assert not any(e.decision.value == "declined" for e in services.audit.events())  # no release asked
