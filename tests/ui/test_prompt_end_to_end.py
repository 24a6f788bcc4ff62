# SPDX-License-Identifier: Apache-2.0
"""End to end: a real agentstack-sdk agent demands a secret at run time, the Qt dialog asks, the user
types it, and the client (a plain a2a-sdk 1.x client through the bridged URL) sees the task complete."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from keybroker.core.broker.prompts import SCOPE_ORDER
from keybroker.core.models import SecretValue
from keybroker.ui.qt_prompter import QtPrompter
from keybroker.wiring.runtime import Runtime, RuntimeOptions
from tests.bridge.support import a2a_client_run
from tests.interop.conftest import RunningPeer, agentstack_agent  # noqa: F401 - the fixture
from tests.ui.conftest import AsyncRunner
from tests.ui.support import until

pytestmark = [pytest.mark.interop, pytest.mark.slow]

GITHUB = "ghp_CANARY_e2e_0123456789abcdef"
SLACK = "xoxb-CANARY-e2e-1111-2222"
TYPED = "extra-CANARY-typed-in-the-dialog-42"


def proof(key: str, value: str, via: str) -> str:
    return f"{key}: len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]} via={via}"


def test_a_runtime_demand_answered_in_the_dialog_completes_the_task(
    aio: AsyncRunner,
    agentstack_agent: RunningPeer,  # noqa: F811 - the imported fixture
) -> None:
    prompter = QtPrompter()
    runtime = Runtime(RuntimeOptions(port=0, environ=dict(os.environ)), prompter)

    async def scenario() -> tuple[Any, Any]:
        await runtime.start()
        services = runtime.services
        assert services is not None and services.vault.is_memory
        record = await asyncio.to_thread(services.agents.add, agentstack_agent.base_url, slug="peer")
        # The card's own demands are stored for the agent, so only the run-time one asks.
        services.secrets.set("github", SecretValue(GITHUB), owner=record.slug)
        services.secrets.set("slack", SecretValue(SLACK), owner=record.slug)
        url = f"{runtime.url}/agents/{record.slug}"
        run = asyncio.ensure_future(a2a_client_run(url, "go keys=github,extra", streaming=True))
        await until(lambda: prompter.current_dialog is not None or run.done(), 60, "the prompt")
        dialog = prompter.current_dialog
        assert dialog is not None, run.result()
        request = dialog.request
        assert request.phase == "runtime" and request.keys == ("extra",)
        assert request.agent.slug == "peer" and request.task_id and request.context_id
        assert dialog.scope.offered() == list(SCOPE_ORDER)  # task and conversation ids are known
        field = dialog.items[0].input
        field.setFocus()
        QTest.keyClicks(field, TYPED)
        await until(dialog.allow_button.isEnabled, what="Allow to answer (inert for a second)")
        QTest.keyClick(field, Qt.Key.Key_Return)  # Enter allows (this task, the default)
        result = await asyncio.wait_for(run, 60)
        return request, result

    try:
        request, result = aio.run(scenario(), timeout=150)
    finally:
        aio.run(runtime.stop())
    assert result.state == "TASK_STATE_COMPLETED"
    assert proof("extra", TYPED, "runtime") in result.text
    assert proof("github", GITHUB, "preconfigured") in result.text
    assert result.task["id"] == request.task_id
    for canary in (TYPED, GITHUB, SLACK):
        assert canary.encode() not in result.received
