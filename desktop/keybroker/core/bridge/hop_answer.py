# SPDX-License-Identifier: Apache-2.0
"""What the fast path's upstream hop answers (fast_hop.py, lean_post.py): the agent's answer, or why
there is none; and what it tells a stream's caller on the way (`Sent`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

__all__ = ["HopAnswer", "HopFailedError", "Sent"]

#: Awaited once a stream's request is on its way, before its answer's head is awaited
#: (`FastHop.stream`, `LeanPost.stream`).
Sent = Callable[[], Awaitable[None]]


class HopFailedError(Exception):
    """The agent could not be reached (`sent` False) or went away mid-answer (`sent` True)."""

    def __init__(self, reason: str, *, sent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent


class HopAnswer:
    """The agent's answer: status, content type and body bytes."""

    __slots__ = ("body", "content_type", "status")

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body

    def __repr__(self) -> str:
        return f"HopAnswer({self.status}, {self.content_type!r}, {len(self.body)} bytes)"
