# SPDX-License-Identifier: Apache-2.0
"""`RepeatLimit`: a line repeated in a flood is logged a few times per window, then counted."""

from __future__ import annotations

import logging

import pytest

from keybroker.cli.log_rate import RepeatLimit, report_at_close


class Kept(logging.Handler):
    def __init__(self, limit: RepeatLimit) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.addFilter(limit)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def record(msg: str, *args: object, at: float, name: str = "keybroker.bridge") -> logging.LogRecord:
    made = logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)
    made.created = at
    return made


def test_a_few_per_window_then_a_note_then_a_count() -> None:
    limit = RepeatLimit(burst=3, window=60)
    kept = Kept(limit)
    for i in range(100):
        kept.handle(record("agent %r does not answer", f"a{i}", at=1000.0 + i * 0.1))
    assert kept.lines == [
        "agent 'a0' does not answer",
        "agent 'a1' does not answer",
        "agent 'a2' does not answer (repeated: more like it are left out for up to 60 s)",
    ]
    kept.handle(record("agent %r does not answer", "late", at=1061.0))
    assert kept.lines[-1] == "agent 'late' does not answer (and 97 more like it were left out before)"
    assert limit.summary() == []


def test_other_kinds_pass_and_what_is_owed_is_summarised_once() -> None:
    limit = RepeatLimit(burst=1, window=60)
    kept = Kept(limit)
    for i in range(5):
        kept.handle(record("one %d", i, at=10.0 + i))
        kept.handle(record("other %d", i, at=10.0 + i, name="uvicorn.error"))
    assert kept.lines[:2] == [
        "one 0 (repeated: more like it are left out for up to 60 s)",
        "other 0 (repeated: more like it are left out for up to 60 s)",
    ]
    assert len(kept.lines) == 2
    assert sorted(limit.summary()) == [("keybroker.bridge", "one %d", 4), ("uvicorn.error", "other %d", 4)]
    assert limit.summary() == []


def test_two_handlers_get_the_same_verdict() -> None:
    limit = RepeatLimit(burst=2, window=60)
    first, second = Kept(limit), Kept(limit)
    for i in range(5):
        made = record("same %d", i, at=5.0)
        first.handle(made)
        second.handle(made)
    assert first.lines == second.lines and len(first.lines) == 2


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        RepeatLimit(burst=0)


def test_what_was_left_out_is_written_to_the_log_when_logging_closes() -> None:
    limit = RepeatLimit(burst=2, window=60)
    kept = Kept(limit)
    root = logging.getLogger()
    reporter = report_at_close(limit, kept)
    root.addHandler(kept)
    try:
        for i in range(5):
            kept.handle(record("flood %d", i, at=1.0))
        reporter.close()  # what logging.shutdown() does at exit, the reporter first (added last)
    finally:
        root.removeHandler(kept)
    assert kept.lines[-1] == "log: 3 more lines like 'flood %d' from keybroker.bridge were left out"
    assert limit.summary() == []
