# SPDX-License-Identifier: Apache-2.0
"""The prompt's first frame is logged once, with its prompt id and a wall-clock stamp (issue 16).

The real dialog under pytest-qt: bench/prompt_latency.py reads this line to time the prompt on screen.
"""

from __future__ import annotations

import logging
import re
import time

import pytest
from pytestqt.qtbot import QtBot

from keybroker.ui.prompt_dialog import PromptDialog
from keybroker.ui.prompt_timing import watch_first_frame
from tests.ui.support import request

LINE = re.compile(r"prompt (\S+) on screen (\d+) ms after it was asked \(first frame at ([0-9.]+)\)")


def frame_lines(caplog: pytest.LogCaptureFixture) -> list[re.Match[str]]:
    found = (LINE.fullmatch(r.getMessage()) for r in caplog.records if r.name == "keybroker.ui")
    return [m for m in found if m is not None]


def test_the_first_frame_is_logged_once_with_the_prompt_id(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="keybroker.ui")
    asked = time.time()
    shown = request(created=asked, deadline=asked + 300)
    dialog = PromptDialog(shown, guard_ms=0)
    qtbot.addWidget(dialog)
    watch_first_frame(dialog, shown)
    dialog.open()
    qtbot.waitUntil(lambda: len(frame_lines(caplog)) == 1, timeout=10_000)
    dialog.repaint()
    dialog.resize(dialog.width() + 40, dialog.height() + 40)
    qtbot.wait(100)
    lines = frame_lines(caplog)
    assert len(lines) == 1  # later frames are not reported
    prompt_id, after_ms, at = lines[0].groups()
    assert prompt_id == shown.prompt_id
    assert asked <= float(at) <= time.time()
    assert int(after_ms) == pytest.approx((float(at) - asked) * 1000, abs=1.0)
    dialog.reject()


def test_a_prompt_withdrawn_before_it_is_shown_logs_nothing(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="keybroker.ui")
    shown = request(created=time.time())
    dialog = PromptDialog(shown, guard_ms=0)
    qtbot.addWidget(dialog)
    watch_first_frame(dialog, shown)
    dialog.withdraw()
    qtbot.wait(100)
    assert frame_lines(caplog) == []
