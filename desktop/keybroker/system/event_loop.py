# SPDX-License-Identifier: Apache-2.0
"""Which asyncio event loop `keybroker serve` runs on: uvloop where it is installed, else asyncio's.

uvloop (libuv underneath) makes the bridge's sockets and callbacks cheaper than asyncio's selector
loop (DESIGN §7 measured ~20% with httptools; bench/bridge.py `--loops` measures it here). It is a
dependency on Linux and macOS only; on Windows, or when it cannot be imported, asyncio's own loop
runs. `KEYBROKER_LOOP=asyncio` turns it off (to compare, or to rule it out), `KEYBROKER_LOOP=uvloop`
insists on it (an error when it is missing). The tray app is not concerned: its loop is Qt's
(qasync), which has to be the one asyncio runs on.

    return run(main(), environ)       # instead of asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from keybroker.core.errors import InvalidInputError

__all__ = ["LOOP_ENV", "LoopChoiceError", "choose_loop", "loop_factory", "run"]

LOOP_ENV = "KEYBROKER_LOOP"
_CHOICES = ("asyncio", "uvloop")

T = TypeVar("T")


class LoopChoiceError(InvalidInputError):
    """`KEYBROKER_LOOP` names a loop that is unknown or cannot be had here."""


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if sys.platform == "win32":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def choose_loop(environ: Mapping[str, str]) -> str:
    """`"uvloop"` or `"asyncio"`: what `loop_factory` gives under `environ`."""
    return "uvloop" if loop_factory(environ) is not None else "asyncio"


def loop_factory(environ: Mapping[str, str]) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for asyncio's default loop (LoopChoiceError on a bad setting)."""
    wanted = environ.get(LOOP_ENV, "").strip().lower()
    if wanted and wanted not in _CHOICES:
        raise LoopChoiceError(
            f"{LOOP_ENV} must be one of {', '.join(_CHOICES)}, not {wanted!r}", hint=f"unset {LOOP_ENV}"
        )
    if wanted == "asyncio":
        return None
    factory = _uvloop_factory()
    if factory is None and wanted == "uvloop":
        raise LoopChoiceError(
            f"{LOOP_ENV}=uvloop, but uvloop cannot be used here (not installed, or Windows)",
            hint=f"unset {LOOP_ENV} to run on asyncio's own loop",
        )
    return factory


def run(main: Coroutine[Any, Any, T], environ: Mapping[str, str]) -> T:
    """`asyncio.run(main)` on the loop `loop_factory(environ)` picks."""
    try:
        factory = loop_factory(environ)
    except LoopChoiceError:
        main.close()  # never awaited: say nothing about it
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
