"""Protocols the core calls and never implements: the UI, the terminal and tests supply them."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock seconds since the epoch. Tests inject a fake one."""

    def now(self) -> float:
        """The current time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """`time.time()`."""
        return time.time()


class Notifier(Protocol):
    """Tells the user something without asking (tray balloon, terminal line)."""

    def notify(self, title: str, body: str) -> None:
        """Show a short notice; never blocks."""
        ...
