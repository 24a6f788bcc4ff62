# SPDX-License-Identifier: Apache-2.0
"""`system/settings.py`: round trip, private atomic writes, unknown keys kept, bad input -> defaults."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from keybroker.core.errors import InvalidInputError
from keybroker.core.models import SecretValue
from keybroker.system import settings
from keybroker.system.instance import configured_port
from keybroker.system.paths import Paths
from keybroker.system.settings import DEFAULT_PORT, Settings


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "settings.json"


def test_a_missing_file_means_the_defaults(path: Path) -> None:
    loaded = settings.load(path)
    assert loaded == Settings()
    assert (loaded.bridge_port, loaded.idle_lock_minutes) == (DEFAULT_PORT, 0)
    assert not path.exists()  # reading writes nothing


def test_round_trip(path: Path) -> None:
    saved = Settings(bridge_port=8123, idle_lock_minutes=20)
    settings.save(saved, path)
    assert settings.load(path) == saved
    assert json.loads(path.read_text("utf-8")) == {"bridge_port": 8123, "idle_lock_minutes": 20}


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_the_file_is_private_and_written_atomically(path: Path) -> None:
    os.umask(0o022)
    settings.save(Settings(bridge_port=8123), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    settings.save(Settings(bridge_port=8124), path)
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temp file left behind


def test_unknown_keys_are_kept_through_an_update(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"bridge_port": 7500, "theme": "dark", "nested": {"a": [1, None]}}))
    loaded = settings.load(path)
    assert loaded.bridge_port == 7500
    assert dict(loaded.extra) == {"theme": "dark", "nested": {"a": [1, None]}}
    settings.update(path, idle_lock_minutes=5)
    assert json.loads(path.read_text("utf-8")) == {
        "bridge_port": 7500,
        "idle_lock_minutes": 5,
        "theme": "dark",
        "nested": {"a": [1, None]},
    }


@pytest.mark.parametrize(
    ("content", "expected_port", "expected_idle", "warning"),
    [
        ('{"bridge_port": "8080", "idle_lock_minutes": 5}', DEFAULT_PORT, 5, "whole number"),
        ('{"bridge_port": 80, "idle_lock_minutes": 5}', DEFAULT_PORT, 5, "between 1024 and 65535"),
        ('{"bridge_port": true}', DEFAULT_PORT, 0, "whole number"),
        ('{"bridge_port": 9000, "idle_lock_minutes": -1}', 9000, 0, "between 0 (never) and 1440"),
        ('{"bridge_port": 9000, "idle_lock_minutes": 99999}', 9000, 0, "between 0 (never) and 1440"),
        ('{"bridge_port": 9000.5}', DEFAULT_PORT, 0, "whole number"),
    ],
)
def test_a_bad_value_becomes_its_default_with_a_warning(
    path: Path,
    caplog: pytest.LogCaptureFixture,
    content: str,
    expected_port: int,
    expected_idle: int,
    warning: str,
) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="keybroker.settings"):
        loaded = settings.load(path)
    assert (loaded.bridge_port, loaded.idle_lock_minutes) == (expected_port, expected_idle)
    assert warning in caplog.text and str(path) in caplog.text


@pytest.mark.parametrize(
    ("content", "warning"),
    [
        ("{not json", "not valid JSON"),
        ('{"bridge_port": NaN}', "not valid JSON"),
        ("[7411]", "expected a JSON object"),
        ('"text"', "expected a JSON object"),
        ("", "not valid JSON"),
    ],
)
def test_a_corrupt_file_means_the_defaults_with_a_warning(
    path: Path, caplog: pytest.LogCaptureFixture, content: str, warning: str
) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="keybroker.settings"):
        assert settings.load(path) == Settings()
    assert warning in caplog.text


def test_an_unreadable_file_means_the_defaults(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path.mkdir(parents=True)  # a directory where the file should be
    with caplog.at_level(logging.WARNING, logger="keybroker.settings"):
        assert settings.load(path) == Settings()
    assert "cannot read the settings file" in caplog.text


@pytest.mark.parametrize(
    "changes",
    [
        {"bridge_port": 80},
        {"bridge_port": 70000},
        {"bridge_port": True},
        {"idle_lock_minutes": 1441},
        {"colour": 1},
    ],
)
def test_changes_are_checked(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        Settings().with_changes(**changes)


def test_a_failed_save_leaves_the_old_file(path: Path) -> None:
    settings.save(Settings(bridge_port=8123), path)
    before = path.read_bytes()
    with pytest.raises(InvalidInputError, match="plain JSON"):
        settings.save(Settings(extra={"token": SecretValue("never-written")}), path)
    assert path.read_bytes() == before
    assert b"never-written" not in before


def test_the_cli_finds_the_port_the_window_saved(tmp_path: Path) -> None:
    paths = Paths.from_env({"KEYBROKER_HOME": str(tmp_path / "home")})
    settings.save(Settings(bridge_port=8765), paths.settings_file)
    assert configured_port({}, paths) == 8765
    assert configured_port({"KEYBROKER_PORT": "9999"}, paths) == 9999  # the variable still wins


def test_every_audit_decision_has_a_label() -> None:
    from keybroker.core.models import AuditDecision
    from keybroker.ui.settings.formatting import DECISION_LABELS, decision_label

    assert set(DECISION_LABELS) == set(AuditDecision)
    assert decision_label("something_new") == "Something new"
