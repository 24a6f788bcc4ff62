# SPDX-License-Identifier: Apache-2.0
"""The model prompt (issue 14): the real dialog under the real `QtPrompter`, asked by `ModelAccess`.

An agent demands a chat and an embedding model; the dialog shows each demand with a picker pre-set to
the best match, the handover box only for a provider that allows it, and the answer becomes a release
(through the gateway unless the user ticked the box) and a grant for the chosen scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel

from keybroker.core.llm.access import ModelAccess, ModelAnswer
from keybroker.core.models import GrantScope, ModelDemand, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.ui.prompt_dialog import PromptDialog
from keybroker.ui.prompt_model_item import HANDOVER_WARNING, NO_MODEL
from keybroker.ui.qt_prompter import QtPrompter
from keybroker.wiring.services import Services, open_services
from tests.ui.conftest import AsyncRunner
from tests.ui.support import agent, until

KEY = "sk-CANARY-ui-provider-42"
DEMANDS = (
    ModelDemand("llm", "default", "Writes the <b>summary</b>", ("openai/gpt-4o", "ollama/llama3.1")),
    ModelDemand("embedding", "index", None, ("openai/text-embedding-3-small",)),
)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


def access_with(services: Services, prompter: QtPrompter) -> ModelAccess:
    access = ModelAccess(
        catalog=services.catalog, vault=services.vault, audit=services.audit, prompter=prompter
    )
    access.providers.add("openai", None, SecretValue(KEY), preset_name="openai", handover=True)
    access.providers.set_models("openai", ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"])
    access.providers.add("ollama", None, None, preset_name="ollama")
    access.providers.set_models("ollama", ["llama3.1"])
    return access


def ask(
    aio: AsyncRunner, access: ModelAccess, prompter: QtPrompter, choose: Callable[[PromptDialog], None]
) -> ModelAnswer:
    record = replace(agent(), model_demands=DEMANDS)

    async def scenario() -> ModelAnswer:
        task = asyncio.ensure_future(
            access.fulfil_models(record, DEMANDS, phase="preflight", task_id=None, context_id="ctx-1")
        )
        await until(lambda: prompter.current_dialog is not None, what="the dialog")
        dialog = prompter.current_dialog
        assert dialog is not None
        choose(dialog)
        return await task

    return aio.run(scenario())


def labels(dialog: PromptDialog) -> list[str]:
    return [label.text() for label in dialog.findChildren(QLabel) if label.isVisible()]


def test_picker_is_preset_to_the_best_match_and_allow_releases_through_the_gateway(
    aio: AsyncRunner, services: Services
) -> None:
    prompter = QtPrompter(guard_ms=0)
    access = access_with(services, prompter)
    seen: dict[str, object] = {}

    def choose(dialog: PromptDialog) -> None:
        chat, embed = dialog.model_items
        seen["title"] = dialog.windowTitle()
        seen["chat"] = chat.picker.currentText()
        seen["embed"] = embed.picker.currentText()
        seen["offered"] = [chat.picker.itemText(i) for i in range(chat.picker.count())]
        seen["labels"] = labels(dialog)
        seen["handover shown"] = chat.handover.isVisible()
        dialog.scope.choose(GrantScope.ALWAYS)
        dialog.allow_button.click()

    answer = ask(aio, access, prompter, choose)
    assert seen["title"] == "Research Assistant asks for 2 models — Keybroker"
    assert seen["chat"] == "openai/gpt-4o"  # the first suggestion a provider has
    assert seen["embed"] == "openai/text-embedding-3-small"
    assert seen["offered"][-1] == NO_MODEL and "ollama/llama3.1" in seen["offered"]  # type: ignore[index]
    assert "Writes the <b>summary</b>" in seen["labels"]  # type: ignore[operator]  # plain text, never rich
    assert seen["handover shown"] is True  # this provider allows it; unticked by default
    chat = answer.releases["llm:default"]
    assert (chat.provider, chat.api_model, chat.gateway) == ("openai", "gpt-4o", True)
    assert chat.api_key.reveal() != KEY and chat.identifier == "openai/gpt-4o"
    assert answer.releases["embedding:index"].gateway
    assert len(access.tokens) == 2
    # Remembered per agent and demand: the next task is answered without a prompt.
    assert sorted((g.demand, g.scope) for g in access.grants.all()) == [
        ("embedding:index", GrantScope.ALWAYS),
        ("llm:default", GrantScope.ALWAYS),
    ]


def test_handover_is_offered_only_where_allowed_and_says_so(aio: AsyncRunner, services: Services) -> None:
    prompter = QtPrompter(guard_ms=0)
    access = access_with(services, prompter)
    seen: dict[str, object] = {}

    def choose(dialog: PromptDialog) -> None:
        chat, embed = dialog.model_items
        chat.picker.setCurrentText("ollama/llama3.1")
        seen["ollama handover"] = chat.handover.isVisible()
        chat.picker.setCurrentText("openai/gpt-4o")
        chat.handover.setChecked(True)
        seen["warning"] = HANDOVER_WARNING in labels(dialog)
        embed.picker.setCurrentText(NO_MODEL)
        dialog.allow_button.click()

    answer = ask(aio, access, prompter, choose)
    assert seen == {"ollama handover": False, "warning": True}
    chat = answer.releases["llm:default"]
    assert (chat.gateway, chat.api_key.reveal(), chat.api_base) == (False, KEY, "https://api.openai.com/v1")
    assert answer.declined == frozenset({"embedding:index"})
    assert len(access.tokens) == 0


def test_giving_no_model_at_all_leaves_allow_inert_and_deny_declines(
    aio: AsyncRunner, services: Services
) -> None:
    prompter = QtPrompter(guard_ms=0)
    access = access_with(services, prompter)
    seen: dict[str, bool] = {}

    def choose(dialog: PromptDialog) -> None:
        for widget in dialog.model_items:
            widget.picker.setCurrentText(NO_MODEL)
        seen["allow"] = dialog.allow_button.isEnabled()
        dialog.deny_button.click()

    answer = ask(aio, access, prompter, choose)
    assert seen == {"allow": False}
    assert answer.releases == {} and answer.declined == {"llm:default", "embedding:index"}
