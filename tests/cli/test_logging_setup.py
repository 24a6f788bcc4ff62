# SPDX-License-Identifier: Apache-2.0
"""`setup_logging`: libraries that log request bodies or the environment stay quiet, even with -v."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from keybroker.cli.main import setup_logging
from keybroker.system.paths import Paths


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


@pytest.mark.usefixtures("clean_root")
def test_library_records_lose_arguments_and_tracebacks(tmp_path: Path) -> None:
    """a2a-sdk logs a failed request's pydantic error (which quotes the body) with its traceback, and
    httpx logs URLs with their query keys: neither may reach the log file; our own records are kept."""
    setup_logging(Paths.from_env({"KEYBROKER_HOME": str(tmp_path)}), verbose=False)
    canary = "sk-CANARY-log-9f2e71"
    try:
        raise ValueError(f"1 validation error input_value={{'secret': '{canary}'}}")
    except ValueError:
        logging.getLogger("a2a.compat.v0_3.jsonrpc_adapter").exception("Failed to validate base request")
    logging.getLogger("httpx").warning("HTTP Request: %s %s", "POST", f"http://x/?api_key={canary}")
    # A logger no other test configures (uvicorn's own config stops "uvicorn.*" from propagating).
    logging.getLogger("some.library").error(f"an f-string message {'x' * 400}")
    logging.getLogger("keybroker.bridge").warning("agent %s answered HTTP %d", "echo", 500)
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = (tmp_path / "logs" / "keybroker.log").read_text()
    assert canary not in text
    assert "Failed to validate base request [ValueError; traceback withheld]" in text
    assert "HTTP Request: %s %s [arguments withheld]" in text
    assert "[cut]" in text and "x" * 301 not in text
    assert "agent echo answered HTTP 500" in text  # ours keep their arguments
    assert "Traceback" not in text
