# SPDX-License-Identifier: Apache-2.0
"""When a prompt's first frame was on screen (DESIGN §7: prompt on screen <= 300 ms p95).

`watch_first_frame(dialog, request)` logs one line once the dialog's first frame has been painted and
handed to the window system:

    prompt p-1a2b on screen 84 ms after it was asked (first frame at 1733550000.123456)

The first `Paint` event a top-level window gets comes after the window system exposed it; Qt paints the
dialog and its children and flushes the frame in that same turn of the loop, so a zero-time timer
started from that event runs once the frame has gone out. The wall-clock stamp lets a benchmark set it
against the moment it sent the request (bench/prompt_latency.py). Nothing is logged for a prompt that
is withdrawn before it is ever painted; no timer runs otherwise.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

from keybroker.core.broker.prompts import PromptRequest

__all__ = ["FIRST_FRAME_TEXT", "watch_first_frame"]

log = logging.getLogger("keybroker.ui")

#: What the log line says (benchmarks and tests look for it).
FIRST_FRAME_TEXT = "on screen"


class _FirstFrame(QObject):
    """An event filter on one dialog that reports its first painted frame, then removes itself."""

    def __init__(self, dialog: QWidget, prompt_id: str, asked: float) -> None:
        super().__init__(dialog)  # dies with the dialog
        self._dialog = dialog
        self._prompt_id = prompt_id
        self._asked = asked
        dialog.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._dialog and event.type() == QEvent.Type.Paint:
            self._dialog.removeEventFilter(self)
            QTimer.singleShot(0, self._report)  # after this paint and its flush
        return False

    def _report(self) -> None:
        now = time.time()
        after = f"{(now - self._asked) * 1000:.0f} ms after it was asked" if self._asked else "(time unknown)"
        log.info("prompt %s %s %s (first frame at %.6f)", self._prompt_id, FIRST_FRAME_TEXT, after, now)


def watch_first_frame(dialog: QWidget, request: PromptRequest) -> None:
    """Log when `dialog` (showing `request`) has its first frame on screen."""
    _FirstFrame(dialog, request.prompt_id, request.created)
