# SPDX-License-Identifier: Apache-2.0
"""heap.py: what start-up leaves is out of later collections, in the tray app and `keybroker serve`."""

from __future__ import annotations

import gc
import subprocess
import sys
import time
import weakref
from collections.abc import Iterator

import pytest

from keybroker.system import heap
from keybroker.system.heap import settle
from tests.conftest import IsolatedEnv, subprocess_env


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


@pytest.fixture
def unfrozen_after() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the session collects as before


def test_start_ups_objects_are_frozen_and_later_garbage_is_still_collected(unfrozen_after: None) -> None:
    before = _Node()
    settle()
    assert gc.get_freeze_count() > 0
    # Frozen: a full collection no longer looks at start-up's objects.
    assert gc.is_tracked(before)
    assert not any(o is before for o in gc.get_objects())
    later = _Node()
    gone = weakref.ref(later)
    del later
    gc.collect()
    assert gone() is None


def test_keybroker_serve_freezes_what_start_up_left(isolated_env: IsolatedEnv) -> None:
    """The real `keybroker serve`, stopped by SIGTERM; at exit it reports its frozen objects."""
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: sys.stderr.write(f'frozen {gc.get_freeze_count()}\\n'))\n"
        "from keybroker.cli.main import main\n"
        "sys.exit(main(['serve', '--headless', '--port', '0']))\n"
    )
    env = subprocess_env({"KEYBROKER_HOME": str(isolated_env.keybroker_home), "KEYBROKER_VAULT": "memory"})
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and not line.startswith("listening on "):
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
        assert line.startswith("listening on "), f"serve did not start (rc {proc.poll()})"
        proc.terminate()
        rest = proc.stderr.read()
        assert proc.wait(30) == 0
    frozen = [int(x.split()[1]) for x in rest.splitlines() if x.startswith("frozen ")]
    assert frozen and frozen[0] > 10_000, rest


def test_the_stack_is_settled_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many bridges a process builds (tests build hundreds), one collection and one freeze."""
    calls: list[None] = []
    monkeypatch.setattr(heap, "settle", lambda: calls.append(None))
    monkeypatch.setattr(heap, "_stack_settled", False)
    for _ in range(3):
        heap.settle_once_stack_loaded()
    assert len(calls) == 1
