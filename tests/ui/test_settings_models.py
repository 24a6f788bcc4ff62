# SPDX-License-Identifier: Apache-2.0
"""The Models tab (issue 14) against the LiteLLM proxy: add a provider through the dialog (its model
list read over the network, the key a canary that stays in the vault), test it, see a model grant and
its usage, revoke it (its gateway token dies at once), remove the provider."""

# The fixtures are imported from test_settings_support by name (pytest finds them here).
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from keybroker.core.a2a.model_provider import HttpModelProvider
from keybroker.core.llm.access import ModelAccess
from keybroker.core.llm.admin import LocalModelAdmin
from keybroker.core.llm.usage import Tokens
from keybroker.core.models import GrantScope, ModelDemand
from keybroker.ui.settings.models_tab import ModelsTab
from keybroker.ui.settings_window import SettingsWindow
from keybroker.wiring.services import Services
from tests.fakes import ScriptedPrompter
from tests.peers import litellm
from tests.peers.process import skip_if_missing
from tests.ui.support import agent
from tests.ui.test_settings_support import (  # noqa: F401 - fixtures are used by name
    StubRuntime,
    asker,
    autostart,
    cards,
    clock,
    events,
    services,
    wait_jobs,
    window,
)

pytestmark = pytest.mark.slow


class ModelRuntime(StubRuntime):
    """The stub runtime, with model access as `Runtime` has it."""

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.models = ModelAccess(
            catalog=services.catalog, vault=services.vault, audit=services.audit, prompter=ScriptedPrompter()
        )

    def model_admin(self, caller: str | None) -> LocalModelAdmin | None:
        assert self.services is not None
        svc = self.services
        return LocalModelAdmin(
            catalog=svc.catalog,
            vault=svc.vault,
            audit=svc.audit,
            client=HttpModelProvider(),
            caller=caller,
            access=self.models,
        )


@pytest.fixture(scope="module")
def proxy() -> Iterator[litellm.LiteLLMProxy]:
    with skip_if_missing(), litellm.litellm_proxy() as running:
        yield running


@pytest.fixture
def runtime(services: Services) -> ModelRuntime:
    return ModelRuntime(services)


def test_add_test_grant_usage_revoke_remove(
    qtbot: QtBot,
    window: SettingsWindow,
    runtime: ModelRuntime,
    services: Services,
    proxy: litellm.LiteLLMProxy,
) -> None:
    window.show_tab("models")
    tab = window.tab("models")
    assert isinstance(tab, ModelsTab)
    tab.new_item()
    dialog = tab.dialog
    assert dialog is not None
    dialog.preset.setCurrentIndex(dialog.preset.findData("custom"))
    dialog.name.setText("lite")
    dialog.base_url.setText(proxy.api_base)
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert not save.isEnabled()  # a key is needed unless "No key" is ticked
    dialog.key.setText(proxy.master_key)
    save.click()
    wait_jobs(qtbot, window, timeout=20000)
    assert "Added lite: 2 models." in tab.status.text, tab.status.text
    [provider] = tab.providers.rows()
    assert sorted(provider.models) == [litellm.CHAT_MODEL, litellm.EMBEDDING_MODEL]
    assert proxy.master_key.encode() not in services.paths.catalog_db.read_bytes()

    tab.view.selectRow(0)
    tab.test_action.trigger()
    wait_jobs(qtbot, window, timeout=20000)
    assert "answered HTTP 200" in tab.status.text, tab.status.text

    # A grant and its token, as a prompt would make them; some use.
    record = agent("writer", "Writer")
    demand = ModelDemand("llm", "default", None, (f"openai/{litellm.CHAT_MODEL}",))
    admin = runtime.model_admin("test")
    assert admin is not None
    services.catalog.upsert_agent(replace(record, model_demands=(demand,)))
    grant = admin.allow("writer", "lite", litellm.CHAT_MODEL)
    assert grant.scope == GrantScope.ALWAYS
    runtime.models.usage.record("writer", "lite", litellm.CHAT_MODEL, Tokens.of({"total_tokens": 12}))
    tab.refresh_now()
    assert [(g.agent, g.demand) for g in tab.grants.rows()] == [("writer", "llm:default")]
    [used] = tab.usage.rows()
    assert (used.requests, used.total_tokens) == (1, 12)

    tab.grant_view.selectRow(0)
    tab.revoke_action.trigger()
    wait_jobs(qtbot, window)
    assert tab.grants.rows() == []

    tab.view.selectRow(0)
    tab.remove_action.trigger()
    wait_jobs(qtbot, window)
    assert tab.providers.rows() == []
    assert "Removed lite" in tab.status.text
