# SPDX-License-Identifier: Apache-2.0
"""OpenBao's times (RFC 3339 with up to nanoseconds, `Z`) as seconds since the epoch."""

from __future__ import annotations

import re
from datetime import datetime

_FRACTION = re.compile(r"\.(\d+)")


def parse_time(text: object) -> float | None:
    """`2026-12-06T22:44:38.547192539Z` -> epoch seconds; None for an empty or unreadable time."""
    if not isinstance(text, str) or not text or text.startswith("0001-01-01"):
        return None
    cleaned = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text.strip())
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(cleaned).timestamp()
    except ValueError:
        return None
