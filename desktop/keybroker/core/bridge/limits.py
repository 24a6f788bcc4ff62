# SPDX-License-Identifier: Apache-2.0
"""How hard the bridge may lean on one agent (no a2a-sdk here: app.py imports it at start)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["UpstreamLimits"]


@dataclass(frozen=True)
class UpstreamLimits:
    """How hard the bridge may lean on one agent."""

    connections: int = 16
    """Pool size and semaphore permits per agent (DESIGN §7: 4-16 were best)."""
    connect_timeout: float = 5.0
    """Seconds to open a connection to the agent."""
    call_timeout: float = 60.0
    """Seconds for a unary call (get, cancel, list...); streams and followed sends have no read limit."""

    def __post_init__(self) -> None:
        if not 1 <= self.connections <= 256:
            raise ValueError("connections must be 1-256")
