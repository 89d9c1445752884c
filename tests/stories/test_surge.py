"""Surge statistics on constructed counts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from stories.surge import ALPHA, MIN_COUNT, check, check_all, hour_windows

QUIET = [1, 0, 2, 1, 0, 1, 1]  # stories at this hour on each of the last 7 days
BUSY = [20, 22, 19, 25, 21, 18, 23]


def upper_tail(count: int, rate: float) -> float:
    """P(X >= count), X ~ Poisson(rate), summed by hand."""
    return 1.0 - sum(math.exp(-rate) * rate**k / math.factorial(k) for k in range(count))


def test_a_burst_after_a_quiet_week_is_a_surge() -> None:
    found = check("attack", 9, QUIET)
    assert found.surge
    assert found.expected == pytest.approx((sum(QUIET) + 0.5) / 7)
    assert found.p_value == pytest.approx(upper_tail(9, found.expected), rel=1e-9)
    assert found.p_value < ALPHA


def test_a_busy_label_needs_far_more_to_surge() -> None:
    usual = check("attack", 30, BUSY)
    assert not usual.surge and usual.p_value == pytest.approx(upper_tail(30, usual.expected))
    assert 0.001 < usual.p_value < 0.1
    assert check("attack", 40, BUSY).surge


def test_few_stories_are_never_a_surge_however_unlikely() -> None:
    below = check("recruitment", MIN_COUNT - 1, [0] * 7)
    assert below.p_value < ALPHA and not below.surge
    assert check("recruitment", MIN_COUNT, [0] * 7).surge
    assert check("recruitment", 3, [0] * 7, min_count=3).surge


def test_the_threshold_is_strict_and_adjustable() -> None:
    found = check("attack", 6, QUIET)
    assert found.surge is (found.p_value < ALPHA)
    assert not check("attack", 6, QUIET, alpha=found.p_value).surge  # p must be below alpha


def test_zero_or_usual_counts_are_not_surges() -> None:
    assert check("attack", 0, QUIET).p_value == 1.0
    assert not check("attack", 1, QUIET).surge


def test_without_enough_history_nothing_is_a_surge() -> None:
    found = check("attack", 50, [0, 0])
    assert not found.surge and found.p_value == 1.0 and math.isnan(found.expected)
    assert check("attack", 50, [0, 0], min_history=2).surge


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        check("attack", -1, QUIET)
    with pytest.raises(ValueError, match="negative"):
        check("attack", 3, [1, -2, 0])


def test_check_all_answers_every_label_in_order() -> None:
    found = check_all({"recruitment": (0, QUIET), "attack": (9, QUIET)})
    assert [(s.label, s.surge) for s in found] == [("attack", True), ("recruitment", False)]


def test_hour_windows_are_this_hour_and_the_same_hour_each_day_before() -> None:
    now = datetime(2017, 10, 2, 14, 30, tzinfo=UTC)
    windows = hour_windows(now)
    assert len(windows) == 8
    assert windows[0] == (now - timedelta(hours=1), now)
    assert windows[7] == (now - timedelta(days=7, hours=1), now - timedelta(days=7))
    assert all(end - start == timedelta(hours=1) for start, end in windows)
