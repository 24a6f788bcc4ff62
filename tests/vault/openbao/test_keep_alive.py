# SPDX-License-Identifier: Apache-2.0
"""A running Keybroker keeps its OpenBao token alive while it idles: with a short-lived renewable token
and no vault call for longer than the token lives, the next read still works (the runtime renewed it in
the background). Over a real `bao server -dev`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from keybroker.core.broker.prompts import DecliningPrompter
from keybroker.core.models import SecretValue
from keybroker.core.vault.openbao import OpenBaoBackend
from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.system.paths import Paths
from keybroker.system.vault_choice import save_choice
from keybroker.wiring.runtime import Runtime, RuntimeOptions
from tests.peers.openbao import DevServer
from tests.vault.openbao.conftest import make_token, put_policy

TTL_SECONDS = 3


@pytest.mark.asyncio
async def test_an_idle_app_renews_its_token_before_it_runs_out(
    bao: DevServer, config: OpenBaoConfig, prefix: str, tmp_path: Path
) -> None:
    name = "keepalive-" + prefix.replace("/", "-")
    rules = '["create", "read", "update", "delete", "list"]'
    put_policy(bao, name, f'path "secret/+/{prefix}/*" {{ capabilities = {rules} }}\n')
    token = make_token(bao, name, ttl=f"{TTL_SECONDS}s", renewable=True)
    environ = {**os.environ, "KEYBROKER_HOME": str(tmp_path / "home"), "BAO_TOKEN": token}
    environ.pop("KEYBROKER_VAULT", None)
    save_choice(Paths.from_env(environ), "openbao", config)
    runtime = Runtime(RuntimeOptions(port=0, environ=environ), DecliningPrompter("no prompts here"))
    await runtime.open()
    try:
        services = runtime.services
        assert services is not None and isinstance(services.vault.backend, OpenBaoBackend)
        await asyncio.to_thread(services.secrets.set, "IDLE_KEY", SecretValue("idle-canary-value"))
        (record,) = services.catalog.list_secrets(key="IDLE_KEY")
        first = services.vault.backend.auth.info().expires
        assert first is not None

        await asyncio.sleep(2 * TTL_SECONDS)  # idle: no release, no command, nothing read

        value = await asyncio.to_thread(services.vault.get, record.secret_id)
        assert value == SecretValue("idle-canary-value")
        renewed = services.vault.backend.auth.info().expires
        assert renewed is not None and renewed > first
    finally:
        await runtime.stop()
