# SPDX-License-Identifier: Apache-2.0
"""What start-up leaves on the heap is kept out of later garbage collections (DESIGN §7).

Start-up leaves long-lived objects: modules, the FastAPI and a2a apps, in the tray app Qt wrappers
too (~600k there, ~60k in `keybroker serve`). Python's full collection walks every one of them each
time it runs, which it does now and then under load: 30-66 ms in `keybroker serve` on the bridge
benchmark, every request in flight held that long (the tray app's first full collection came during
its first request: +40 ms to the first bridged card, bench/memory.py). `settle_after_start` collects
start-up's garbage once, then `gc.freeze()` moves what is left to the permanent generation, which
collections skip; objects made later are collected as before. (What start-up still frees later is not
collected: it lives as long as the process does.)
"""

from __future__ import annotations

import gc

__all__ = ["settle_after_start"]


def settle_after_start() -> None:
    """Once started (the tray app, `keybroker serve`): collect, then freeze what is left."""
    gc.collect()
    gc.freeze()
