"""`RotatingLogFile`: the CLI's size-rotated log, without importing `logging.handlers`."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from keybroker.cli.log_file import RotatingLogFile


def _logger(handler: logging.Handler, name: str) -> logging.Logger:
    log = logging.getLogger(f"keybroker.test.log_file.{name}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return log


def test_rotates_by_size_and_keeps_the_given_number_of_backups(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    path = logs / "k.log"
    handler = RotatingLogFile(path, max_bytes=100, backups=2)
    log = _logger(handler, "rotate")
    try:
        for i in range(20):
            log.info("line %02d %s", i, "x" * 30)  # 39 characters and a newline each
    finally:
        log.removeHandler(handler)
        handler.close()
    files = sorted(p.name for p in logs.iterdir())
    assert files == ["k.log", "k.log.1", "k.log.2"]  # the oldest ones were dropped
    for p in logs.iterdir():
        assert p.stat().st_size <= 100
    assert path.read_text(encoding="utf-8").splitlines()[-1].startswith("line 19")
    assert (logs / "k.log.1").read_text(encoding="utf-8").splitlines()[-1].startswith("line 17")
    assert (logs / "k.log.2").read_text(encoding="utf-8").splitlines()[0].startswith("line 14")


def test_appends_to_an_existing_log_and_opens_nothing_until_a_record_comes(tmp_path: Path) -> None:
    path = tmp_path / "k.log"
    handler = RotatingLogFile(path, max_bytes=1_000_000, backups=3)
    assert not path.exists()  # a command that logs nothing writes no file
    log = _logger(handler, "append")
    try:
        log.info("first")
        handler.close()
        handler2 = RotatingLogFile(path, max_bytes=1_000_000, backups=3)
        log.removeHandler(handler)
        log.addHandler(handler2)
        log.info("second")
        handler2.close()
    finally:
        for h in list(log.handlers):
            log.removeHandler(h)
    assert path.read_text(encoding="utf-8").splitlines() == ["first", "second"]
    assert not (tmp_path / "k.log.1").exists()


def test_a_log_that_cannot_be_written_says_so_once(tmp_path: Path, capsys: object) -> None:
    """/dev/full fails every write with ENOSPC, like a full disk: one note, no tracebacks."""
    import pytest

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    handler = RotatingLogFile(Path("/dev/full"), max_bytes=1_000_000, backups=2)
    log = _logger(handler, "full")
    try:
        for i in range(5):
            log.warning("line %d", i)
    finally:
        log.removeHandler(handler)
        with contextlib.suppress(OSError):
            handler.close()
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert err.count("cannot write the log file /dev/full") == 1
    assert "Traceback" not in err
