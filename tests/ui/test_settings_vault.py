# SPDX-License-Identifier: Apache-2.0
"""The General tab's vault section: the vault in use, and the choice for the next start, which is saved
at once when no value would be left behind and otherwise gives the command that copies them across."""

# ruff: noqa: F811

from __future__ import annotations

import shlex

from pytestqt.qtbot import QtBot

from keybroker.core.models import SecretValue
from keybroker.system.vault_choice import vault_choice
from keybroker.ui.settings.general_tab import GeneralTab
from keybroker.ui.settings_window import SettingsWindow
from keybroker.wiring.services import Services
from tests.ui.test_settings_support import (  # noqa: F401 - fixtures are used by name
    asker,
    autostart,
    cards,
    clock,
    events,
    runtime,
    services,
    wait_jobs,
    window,
)


def _tab(window: SettingsWindow) -> GeneralTab:
    window.show_tab("general")
    return window.general_tab


def _choose_openbao(tab: GeneralTab, address: str = "http://127.0.0.1:8200") -> None:
    group = tab.vault
    group.backend.setCurrentIndex(group.backend.findData("openbao"))
    group.address.setText(address)
    group.prefix.setText("keybroker/alice")
    group.teams.setText("platform, ops")


def test_with_no_values_the_choice_is_saved_for_the_next_start(
    window: SettingsWindow, services: Services
) -> None:
    tab = _tab(window)
    assert not tab.vault.openbao_form.isVisibleTo(tab)
    _choose_openbao(tab)
    assert tab.vault.openbao_form.isVisibleTo(tab)
    tab.vault.apply()
    chosen = vault_choice({}, services.paths)
    assert chosen.mode == "openbao" and chosen.openbao is not None
    assert chosen.openbao.teams == ("platform", "ops") and chosen.openbao.prefix == "keybroker/alice"
    assert "next start" in tab.vault.choice_note.text()
    tab.vault.refresh({"vault": "x"})  # shown again as saved
    assert tab.vault.address.text() == "http://127.0.0.1:8200"


def test_values_are_never_left_behind_from_here(window: SettingsWindow, services: Services) -> None:
    services.secrets.set("OPENAI_API_KEY", SecretValue("sk-one"))
    tab = _tab(window)
    _choose_openbao(tab)
    tab.vault.apply()
    assert vault_choice({}, services.paths).mode == "system"  # not switched
    note = tab.vault.choice_note.text()
    assert "1 value(s) are in the vault in use" in note
    command = next(line for line in note.splitlines() if line.startswith("keybroker vault use"))
    assert shlex.split(command)[:4] == ["keybroker", "vault", "use", "openbao"]
    assert "--copy" in command and "--team" in command


def test_a_bad_address_is_refused_with_the_reason(window: SettingsWindow, services: Services) -> None:
    tab = _tab(window)
    _choose_openbao(tab, "http://bao.example.com:8200")
    tab.vault.apply()
    assert vault_choice({}, services.paths).mode == "system"
    assert "plain http" in tab.status.text


def test_check_asks_the_vault_off_the_ui_thread(
    qtbot: QtBot, window: SettingsWindow, services: Services
) -> None:
    tab = _tab(window)
    tab.vault.check()
    wait_jobs(qtbot, window)
    assert tab.vault.details.text() == "The OS vault answers."
