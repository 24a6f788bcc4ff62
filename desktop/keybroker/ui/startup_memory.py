# SPDX-License-Identifier: Apache-2.0
"""Start-up's memory: keep PySide6's import hook from caching every module's source (DESIGN §7: idle
RSS; bench/memory.py measures it). What start-up leaves is frozen by system/heap.py."""

from __future__ import annotations

import sys
import tokenize
from types import ModuleType

__all__ = ["spare_source_cache"]


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
