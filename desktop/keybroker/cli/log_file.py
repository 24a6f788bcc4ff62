"""The CLI's log file, rotated by size: `logging.handlers.RotatingFileHandler`'s rotation, done here.

Every command opens the log, and importing `logging.handlers` (socket, pickle, queue, ...) cost each
command ~5 ms of start-up (DESIGN §7). The rotation is the standard library's: when the next record
would take the file to `max_bytes`, `name.N` becomes `name.N+1` (the oldest is dropped), `name` becomes
`name.1`, and a new `name` is started. Like the standard handler it is not coordinated across processes:
two processes may both rotate, which loses nothing but may leave one file short.
"""

from __future__ import annotations

import logging
from pathlib import Path


class RotatingLogFile(logging.FileHandler):
    """Appends to `path`; keeps `backups` older files of at most about `max_bytes` each."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int, encoding: str = "utf-8") -> None:
        super().__init__(path, mode="a", encoding=encoding, delay=True)
        self.max_bytes = max_bytes
        self.backups = backups

    def emit(self, record: logging.LogRecord) -> None:
        """Rotate first when this record would fill the file, then write it."""
        try:
            if self._should_rotate(record):
                self._rotate()
        except Exception:
            self.handleError(record)
            return
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        """A log that cannot be written (a full or read-only disk) says so once on stderr, in one line.

        logging's default prints a traceback for every record; the command's own error already tells
        the user what failed."""
        if not self._failed:
            self._failed = True
            import sys

            sys.stderr.write(f"keybroker: note: cannot write the log file {self.baseFilename}\n")

    _failed = False

    def _should_rotate(self, record: logging.LogRecord) -> bool:
        if self.max_bytes <= 0 or self.backups <= 0:  # as the standard handler: then it never rotates
            return False
        if self.stream is None:
            self.stream = self._open()
        if not Path(self.baseFilename).is_file():  # a device or a pipe is never rotated
            return False
        size = self.stream.tell()
        return bool(size) and size + len(f"{self.format(record)}{self.terminator}") >= self.max_bytes

    def _rotate(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None  # FileHandler's own idiom (delay=True)
        base = self.baseFilename
        for index in range(self.backups - 1, 0, -1):
            older = Path(f"{base}.{index}")
            if older.exists():
                older.replace(f"{base}.{index + 1}")
        if Path(base).exists():
            Path(base).replace(f"{base}.1")
        self.stream = self._open()
