# SPDX-License-Identifier: Apache-2.0
"""The General tab: port and idle lock saved at once, start at login, vault, folders, API token."""

# The fixtures are imported from test_settings_support by name (pytest finds them here), and test
# parameters of the same names shadow them, as pytest intends.
# ruff: noqa: F811

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from keybroker.system import api_token, settings
from keybroker.system.autostart import Autostart
from keybroker.ui.events import AppEvents
from keybroker.ui.settings.general_tab import GeneralTab, port_in_use
from keybroker.ui.settings.reveal_box import PASSWORD_HINT_MIME
from keybroker.ui.settings_window import SettingsWindow
from keybroker.wiring.services import Services
from tests.ui.test_settings_support import (  # noqa: F401 - fixtures are used by name
    ChangeLog,
    ScriptedAsker,
    StubRuntime,
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


def test_shows_saved_settings_vault_and_folders(window: SettingsWindow, services: Services) -> None:
    settings.save(settings.Settings(bridge_port=8123, idle_lock_minutes=10), services.paths.settings_file)
    tab = _tab(window)
    assert tab.port_spin.value() == 8123
    assert tab.idle_spin.value() == 10
    assert "Listening now on http://127.0.0.1:7411" in tab.port_note.text()
    assert "port 8123" in tab.port_note.text()  # applies at the next start
    assert tab.vault_label.text().lower() == services.vault.describe().lower()
    assert tab.vault_warning.isVisibleTo(tab)  # the memory vault loses values
    assert tab.dir_labels["data"].text() == str(services.paths.data_dir)
    assert tab.dir_labels["config"].text() == str(services.paths.config_dir)
    assert tab.dir_labels["logs"].text() == str(services.paths.log_dir)


def test_changing_the_port_saves_it_and_tells_the_app(
    qtbot: QtBot, window: SettingsWindow, services: Services
) -> None:
    tab = _tab(window)
    changes = ChangeLog(window.ctx.events)
    with qtbot.waitSignal(window.settings_changed):
        tab.port_spin.setValue(8200)
    data = json.loads(services.paths.settings_file.read_text("utf-8"))
    assert data["bridge_port"] == 8200
    assert services.paths.settings_file.stat().st_mode & 0o777 == 0o600
    assert changes.topics == ["settings"]
    assert tab.status.kind == "ok"
    assert "applies when Keybroker restarts" in tab.port_note.text()


def test_the_port_range_is_enforced(window: SettingsWindow) -> None:
    tab = _tab(window)
    assert (tab.port_spin.minimum(), tab.port_spin.maximum()) == (1024, 65535)
    tab.port_spin.setValue(80)
    assert tab.port_spin.value() == 1024  # clamped, never saved below the range


def test_a_busy_port_is_flagged(
    qtbot: QtBot, runtime: StubRuntime, events: AppEvents, asker: ScriptedAsker, autostart: Autostart
) -> None:
    window = SettingsWindow(runtime, events, asker=asker, autostart=autostart)
    qtbot.addWidget(window)
    checked: list[int] = []
    window.general_tab._port_check = lambda port: checked.append(port) or port == 9000  # type: ignore[assignment]
    tab = _tab(window)
    tab.port_spin.setValue(9000)
    assert 9000 in checked
    assert tab.port_warning.isVisibleTo(tab) and "Port 9000 is in use" in tab.port_warning.text()
    tab.port_spin.setValue(9001)
    assert not tab.port_warning.isVisibleTo(tab)
    window.jobs.close(wait=True)


def test_port_in_use_sees_a_listening_socket() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert port_in_use(s.getsockname()[1])


def test_idle_lock_minutes_are_saved_with_never_as_zero(window: SettingsWindow, services: Services) -> None:
    tab = _tab(window)
    assert tab.idle_spin.text() == "Never"
    tab.idle_spin.setValue(15)
    assert settings.load(services.paths.settings_file).idle_lock_minutes == 15
    tab.idle_spin.setValue(0)
    assert settings.load(services.paths.settings_file).idle_lock_minutes == 0


def test_unknown_keys_in_the_file_survive_a_change(window: SettingsWindow, services: Services) -> None:
    services.paths.settings_file.write_text(json.dumps({"bridge_port": 7500, "future_option": [1, 2]}))
    tab = _tab(window)
    tab.idle_spin.setValue(5)
    data = json.loads(services.paths.settings_file.read_text("utf-8"))
    assert data == {"bridge_port": 7500, "idle_lock_minutes": 5, "future_option": [1, 2]}


def test_start_at_login_writes_and_removes_the_autostart_entry(
    window: SettingsWindow, autostart: Autostart, tmp_path: Path
) -> None:
    entry = tmp_path / "xdg-config" / "autostart" / "io.github.keybroker.Keybroker.desktop"
    tab = _tab(window)
    assert not tab.startup.checkbox.isChecked()
    assert str(entry) in tab.startup.note.text()
    tab.startup.checkbox.setChecked(True)
    assert entry.is_file() and "Exec=/usr/bin/keybroker\n" in entry.read_text("utf-8")
    assert autostart.is_enabled()
    assert tab.status.kind == "ok"
    tab.startup.checkbox.setChecked(False)
    assert not entry.exists()


def test_an_entry_from_elsewhere_can_be_updated(window: SettingsWindow, tmp_path: Path) -> None:
    other = Autostart(
        platform="linux",
        environ={"XDG_CONFIG_HOME": str(tmp_path / "xdg-config")},
        home=tmp_path / "user",
        command=("/opt/old/keybroker",),
    )
    other.enable()
    tab = _tab(window)
    assert tab.startup.checkbox.isChecked()
    assert tab.startup.update_button.isVisibleTo(tab)
    tab.startup.update_button.click()
    assert "Exec=/usr/bin/keybroker\n" in (other.path or Path()).read_text("utf-8")
    assert not tab.startup.update_button.isVisibleTo(tab)


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else False, reason="root ignores permissions")
def test_an_unwritable_autostart_dir_shows_an_error_and_unticks(
    window: SettingsWindow, tmp_path: Path
) -> None:
    config = tmp_path / "xdg-config"
    config.mkdir()
    config.chmod(0o500)
    try:
        tab = _tab(window)
        tab.startup.checkbox.setChecked(True)
        assert tab.status.kind == "error" and "login entry" in tab.status.text
        assert not tab.startup.checkbox.isChecked()
    finally:
        config.chmod(0o700)


def test_an_autostart_write_error_shows_and_unticks(window: SettingsWindow, tmp_path: Path) -> None:
    # A file where the autostart dir should be: no user can write the entry there, root included.
    config = tmp_path / "xdg-config"
    config.mkdir()
    (config / "autostart").write_text("not a dir")
    tab = _tab(window)
    tab.startup.checkbox.setChecked(True)
    assert tab.status.kind == "error" and "Could not write the login entry" in tab.status.text
    assert not tab.startup.checkbox.isChecked()


def test_the_token_is_hidden_until_shown_and_read_off_the_ui_thread(
    qtbot: QtBot, window: SettingsWindow, services: Services
) -> None:
    token = api_token.load_or_create(services.vault, services.paths.token_file)
    tab = _tab(window)
    assert tab.token.edit.text() == ""
    assert tab.token.edit.echoMode() == QLineEdit.EchoMode.Password
    tab.token.show_button.setChecked(True)
    wait_jobs(qtbot, window)
    assert tab.token.edit.text() == token.reveal()
    assert tab.token.edit.echoMode() == QLineEdit.EchoMode.Normal
    tab.token.show_button.setChecked(False)
    assert tab.token.edit.text() == ""


def test_copy_token_marks_it_as_a_password(qtbot: QtBot, window: SettingsWindow, services: Services) -> None:
    token = api_token.load_or_create(services.vault, services.paths.token_file)
    tab = _tab(window)
    tab.token.copy()
    wait_jobs(qtbot, window)
    clipboard = QGuiApplication.clipboard()
    assert clipboard.text() == token.reveal()
    assert bytes(clipboard.mimeData().data(PASSWORD_HINT_MIME)) == b"secret"
    assert tab.token.edit.text() == ""  # copying does not show it


def test_leaving_the_tab_hides_the_token(qtbot: QtBot, window: SettingsWindow, services: Services) -> None:
    api_token.load_or_create(services.vault, services.paths.token_file)
    window.show()
    tab = _tab(window)
    tab.token.show_button.setChecked(True)
    wait_jobs(qtbot, window)
    assert tab.token.edit.text()
    window.show_tab("secrets")
    assert tab.token.edit.text() == "" and not tab.token.show_button.isChecked()
