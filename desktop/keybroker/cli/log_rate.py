# SPDX-License-Identifier: Apache-2.0
"""Repeated log lines, cut to a few and a count (issue 12, item 9).

A flood (a thousand connections, a client hammering a dead agent) makes the same line for every
request: the log took 2,049 ERROR lines in seconds, rotating away everything before. `RepeatLimit` lets
`burst` records of one kind (same logger, level and message template, whatever the arguments) through
in each `window` seconds; the last one let through says that more are being left out, and the first one
of the next window says how many were. `summary()` gives the counts still owed; `report_at_close`
writes them to the log file when logging shuts down (at exit).

A plain object with `filter` (what `logging.Filterer` accepts), so importing this module does not load
logging before the arguments are parsed. One instance may sit on several handlers: each record is
judged once, and every handler gets the same verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

__all__ = ["RepeatLimit", "report_at_close"]

_VERDICT = "_keybroker_repeat_verdict"


@dataclass
class _Kind:
    start: float
    count: int = 0
    left_out: int = 0


class RepeatLimit:
    """At most `burst` records of a kind per `window` seconds (see the module docstring)."""

    def __init__(self, *, burst: int = 10, window: float = 60.0, max_kinds: int = 1024) -> None:
        if burst < 1 or window <= 0 or max_kinds < 1:
            raise ValueError("burst >= 1, window > 0 and max_kinds >= 1")
        self.burst = burst
        self.window = window
        self._max_kinds = max_kinds
        self._kinds: dict[tuple[str, int, str], _Kind] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """True to let `record` through; its message may gain a note about the ones left out."""
        verdict = getattr(record, _VERDICT, None)
        if verdict is None:
            verdict = self._judge(record)
            setattr(record, _VERDICT, verdict)
        return bool(verdict)

    def _judge(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        kind = self._kinds.get(key)
        if kind is None or record.created - kind.start >= self.window:
            if kind is None and len(self._kinds) >= self._max_kinds:
                self._forget_old(record.created)
            left_out = kind.left_out if kind is not None else 0
            kind = self._kinds[key] = _Kind(start=record.created)
            if left_out:
                self._note(record, f"(and {left_out} more like it were left out before)")
        kind.count += 1
        if kind.count < self.burst:
            return True
        if kind.count == self.burst:
            self._note(record, f"(repeated: more like it are left out for up to {self.window:g} s)")
            return True
        kind.left_out += 1
        return False

    def _forget_old(self, now: float) -> None:
        """Make room: drop the kinds whose window has passed, else the oldest."""
        stale = [key for key, kind in self._kinds.items() if now - kind.start >= self.window]
        for key in stale or [min(self._kinds, key=lambda k: self._kinds[k].start)]:
            del self._kinds[key]

    @staticmethod
    def _note(record: logging.LogRecord, note: str) -> None:
        # The note holds no '%': the template stays a valid %-format for the record's arguments.
        record.msg = f"{record.msg} {note}"

    def summary(self) -> list[tuple[str, str, int]]:
        """`(logger, message template, count)` of the records left out and not reported yet."""
        owed = [(name, msg, kind.left_out) for (name, _, msg), kind in self._kinds.items() if kind.left_out]
        for kind in self._kinds.values():
            kind.left_out = 0
        return owed


def report_at_close(limit: RepeatLimit, target: logging.Handler) -> logging.Handler:
    """A handler for the root logger that passes no record on, and when logging shuts down (at exit,
    before `target`, which was added first) writes `limit`'s owed counts to `target`, if the root
    logger still has it."""
    import logging

    class _LeftOutReport(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            return None  # never reached: the level lets nothing through

        def close(self) -> None:
            try:
                if target in logging.getLogger().handlers:
                    for name, template, count in limit.summary():
                        args = (count, template[:120], name)
                        line = "log: %d more lines like %r from %s were left out"
                        made = logging.LogRecord("keybroker.log", logging.INFO, __file__, 0, line, args, None)
                        target.handle(made)
            finally:
                super().close()

    return _LeftOutReport(level=logging.CRITICAL + 1)
