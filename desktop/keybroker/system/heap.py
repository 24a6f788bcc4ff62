# SPDX-License-Identifier: Apache-2.0
"""What start-up leaves on the heap is kept out of later garbage collections (DESIGN §7).

Start-up leaves long-lived objects: modules, the FastAPI and a2a apps, in the tray app Qt wrappers
too. Python's full collection walks every one of them each time it runs, which it does now and then
under load, and every request in flight waits that long: ~30k objects in `keybroker serve` once
started, and ~64k more once the first bridged request has imported a2a-sdk (25 ms a collection here;
30-66 ms seen on the bridge benchmark); ~600k in the tray app, whose first full collection came during
its first request (+40 ms to the first bridged card, bench/memory.py).

`settle()` collects the garbage once, then `gc.freeze()` moves what is left to the permanent
generation, which collections skip; objects made later are collected as before. It runs once started
(the tray app, `keybroker serve`) and, through `settle_once_stack_loaded` (which wiring/runtime.py
hands to core/bridge/app.py), once the bridge has imported the A2A stack.
What is frozen is never collected: start-up's leftovers, and whatever a request had in flight at that
moment (once, when the stack is imported), live as long as the process does.
"""

from __future__ import annotations

import gc
import threading

__all__ = ["settle", "settle_once_stack_loaded"]

_stack = threading.Lock()
_stack_settled = False


def settle() -> None:
    """Collect, then freeze what is left (module docstring)."""
    gc.collect()
    gc.freeze()


def settle_once_stack_loaded() -> None:
    """`settle()`, the first time only: the A2A stack is imported once per process, however many
    bridges a process builds (tests build hundreds; a collection per bridge would cost each one)."""
    global _stack_settled
    with _stack:
        if _stack_settled:
            return
        _stack_settled = True
    settle()
