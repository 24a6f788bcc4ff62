# SPDX-License-Identifier: Apache-2.0
"""`setup_logging`: libraries that log request bodies or the environment stay quiet, even with -v."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from keybroker.cli.main import setup_logging
from keybroker.core.paths import Paths


@pytest.fixture()
def clean_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.mark.usefixtures("clean_root")
@pytest.mark.parametrize("verbose", [False, True])
def test_debug_of_body_and_environment_loggers_stays_off(tmp_path: Path, verbose: bool) -> None:
    setup_logging(Paths.from_env({"KEYBROKER_HOME": str(tmp_path)}), verbose=verbose)
    logging.getLogger().setLevel(logging.DEBUG)  # someone turns the root up: still nothing
    for name in ("a2a", "a2a.server.apps", "qasync", "qasync._QEventLoop"):
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
    assert logging.getLogger("keybroker").isEnabledFor(logging.DEBUG) is verbose
