# SPDX-License-Identifier: Apache-2.0
"""When the idle lock fires: lock now, or wait for the time left (never a busy loop)."""

from __future__ import annotations

import pytest

from keybroker.core.broker.idle import SLACK_MS, limit_ms, ms_until_lock


def test_minutes_to_milliseconds_and_bad_limits() -> None:
    assert limit_ms(1) == 60_000
    assert limit_ms(1440) == 86_400_000
    for bad in (0, -1, True, 1.5, "5"):
        with pytest.raises(ValueError, match="whole number of minutes"):
            limit_ms(bad)  # type: ignore[arg-type]


def test_waits_for_exactly_the_time_left() -> None:
    assert ms_until_lock(600_000, 0) == 600_000  # a user just active: one wake-up per limit
    assert ms_until_lock(600_000, 420_000) == 180_000
    assert ms_until_lock(60_000, 60_000 - SLACK_MS - 1) == SLACK_MS + 1


def test_locks_at_the_limit_past_it_and_a_little_early() -> None:
    assert ms_until_lock(60_000, 60_000) == 0
    assert ms_until_lock(60_000, 3_600_000) == 0
    assert ms_until_lock(60_000, 60_000 - SLACK_MS) == 0  # a timer that fired early does not re-arm


def test_every_wait_is_longer_than_the_slack() -> None:
    limit = 60_000
    waits = [ms_until_lock(limit, idle) for idle in range(0, 2 * limit, 7)]
    assert all(w == 0 or w > SLACK_MS for w in waits)
    assert min(w for w in waits if w) > SLACK_MS


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="above 0"):
        ms_until_lock(0, 10)
    with pytest.raises(ValueError, match="negative"):
        ms_until_lock(60_000, -1)
