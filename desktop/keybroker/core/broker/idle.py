# SPDX-License-Identifier: Apache-2.0
"""When the idle lock fires: given the limit and how long the user has been idle, lock now or wait.

The app checks the user's idle time only when the limit could first be reached (never on a fixed
beat), so the answer is either "lock now" (0) or the milliseconds until the next check. A check a
little early (timers are not exact) counts as reached within `SLACK_MS`, so an early wake-up does not
cost a second one, and every wait is longer than `SLACK_MS`: a source that misreports cannot make the
app spin.
"""

from __future__ import annotations

MS_PER_MINUTE = 60_000
#: A check this close to the limit locks (timers may fire a little early).
SLACK_MS = 1_000


def limit_ms(minutes: int) -> int:
    """The idle limit in milliseconds; `ValueError` unless `minutes` is a whole number above 0."""
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
        raise ValueError(f"the idle limit must be a whole number of minutes above 0, not {minutes!r}")
    return minutes * MS_PER_MINUTE


def ms_until_lock(limit: int, idle: int) -> int:
    """0 when the user has been idle for `limit` ms (lock now); else the ms until the next check."""
    if limit <= 0:
        raise ValueError(f"the idle limit must be above 0 ms, not {limit}")
    if idle < 0:
        raise ValueError(f"an idle time cannot be negative ({idle} ms)")
    remaining = limit - idle
    return 0 if remaining <= SLACK_MS else remaining
