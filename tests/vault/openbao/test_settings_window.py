# SPDX-License-Identifier: Apache-2.0
"""The settings window over a real OpenBao: a secret's versions in its details, an earlier one made
current again, and a team's secrets shown as *team*, read-only."""

# The settings fixtures are imported by name; `services` is redefined here over OpenBao.
# ruff: noqa: F811

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from keybroker.core.models import SecretValue
from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.ui.settings.asker import Answer
from keybroker.ui.settings.secrets_tab import SecretsTab
from keybroker.ui.settings.table import select_key
from keybroker.ui.settings_window import SettingsWindow
from keybroker.wiring.services import Services, open_services
from tests.fakes import FakeClock
from tests.peers.openbao import DevServer
from tests.ui.test_settings_support import (  # noqa: F401 - fixtures are used by name
    FakeCards,
    ScriptedAsker,
    asker,
    autostart,
    cards,
    clock,
    events,
    runtime,
    wait_jobs,
    window,
)
from tests.vault.openbao.conftest import backend_for, kv_put, vault_for

TEAM = f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def services(
    tmp_path: Path, clock: FakeClock, cards: FakeCards, bao: DevServer, config: OpenBaoConfig
) -> Iterator[Services]:
    kv_put(bao, f"teams/{TEAM}/STAGING_API_KEY", value="team-value")
    svc = open_services(
        environ={"KEYBROKER_HOME": str(tmp_path / "home")},
        vault=vault_for(backend_for(config.with_changes(teams=(TEAM,)), bao.token)),
        clock=clock,
        fetch=cards,
    )
    yield svc
    svc.close()


def _tab(window: SettingsWindow) -> SecretsTab:
    window.show_tab("secrets")
    return window.secrets_tab


def test_versions_are_shown_and_an_earlier_one_made_current(
    qtbot: QtBot, window: SettingsWindow, services: Services, asker: ScriptedAsker
) -> None:
    record = services.secrets.set("OPENAI_API_KEY", SecretValue("one")).record
    services.secrets.set("OPENAI_API_KEY", SecretValue("two"))
    tab = _tab(window)
    tab.refresh_now()
    select_key(tab.view, record.secret_id)
    dialog = tab.versions_selected()
    assert dialog is not None
    wait_jobs(qtbot, window)
    rows = [[dialog.table.item(r, c).text() for c in (0, 2)] for r in range(dialog.table.rowCount())]
    assert rows == [["2", "current"], ["1", ""]]  # newest first
    dialog.table.selectRow(1)
    asker.answers.append(Answer(True))
    dialog.restore_selected()
    wait_jobs(qtbot, window)
    assert asker.asked[-1].text == "Make version 1 of OPENAI_API_KEY (shared) its current value?"
    assert services.vault.get(record.secret_id) == SecretValue("one")
    assert [dialog.table.item(0, c).text() for c in (0, 2)] == ["3", "current"]


def test_team_secrets_show_as_team_and_read_only(
    qtbot: QtBot, window: SettingsWindow, services: Services
) -> None:
    services.secrets.sync_teams()
    tab = _tab(window)
    tab.refresh_now()
    record = next(r for r in services.secrets.list() if r.team == TEAM)
    row = tab.model.row_of(record.secret_id)
    assert row is not None
    assert tab.model.index(row, 2).data() == f"team {TEAM}"
    select_key(tab.view, record.secret_id)
    assert tab.reveal_action.isEnabled() and tab.versions_action.isEnabled()
    assert not tab.edit_action.isEnabled() and not tab.delete_action.isEnabled()
    assert tab.edit_selected() is None
    assert "read-only" in tab.status.text
