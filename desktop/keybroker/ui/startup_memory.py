# SPDX-License-Identifier: Apache-2.0
"""Start-up's memory: keep PySide6's import hook from caching every module's source, and freeze
what start-up leaves (DESIGN §7: idle RSS; bench/memory.py measures both)."""

from __future__ import annotations

import gc
import sys
import tokenize
from types import ModuleType

__all__ = ["settle_after_start", "spare_source_cache"]


def spare_source_cache(feature: ModuleType | None = None) -> bool:
    """Keep PySide6's import hook from filling `linecache` with the source of every module imported.

    shiboken's `__feature__` hook (`shibokensupport.feature`) asks, for each module imported after
    PySide6, whether its source mentions "PySide6" (`_mod_uses_pyside`: `inspect.getsource`), and
    `linecache` keeps every file read that way: ~650 files (a2a-sdk, FastAPI, pydantic...) and 23 MB
    of idle RSS (bench/memory.py: 139.8 -> 116.7 MB with the memory vault; freeing the cache later
    gives nothing back, the pages stay fragmented). This asks the same question of the same text, read
    the way linecache reads it (`tokenize.open`), and keeps nothing. No import statement runs here:
    the hook would call back into it. False (nothing changed) where the hook is not there.
    """
    feature = feature if feature is not None else sys.modules.get("shibokensupport.feature")
    if feature is None or not callable(getattr(feature, "_mod_uses_pyside", None)):
        return False

    def mod_uses_pyside(module: object) -> bool:
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
            return False  # built-in, extension or bytecode-only: inspect.getsource finds nothing either
        try:
            with tokenize.open(path) as source:
                return "PySide6" in source.read()
        except (OSError, SyntaxError, UnicodeDecodeError):
            return False

    feature._mod_uses_pyside = mod_uses_pyside  # type: ignore[attr-defined]
    return True


def settle_after_start() -> None:
    """Once started: collect start-up's garbage, then exempt what is left from later collections.

    Start-up leaves ~600k long-lived objects (modules, the FastAPI and a2a apps, Qt wrappers). Without
    the 23 MB of cached source (`spare_source_cache`) the first full collection comes sooner, and it
    came during the first request: +40 ms to the first bridged card (bench/memory.py). `gc.freeze()`
    moves them to the permanent generation, which collections skip; objects made later are collected
    as before. (What start-up still frees later is not collected: it lives as long as the app does.)
    """
    gc.collect()
    gc.freeze()
