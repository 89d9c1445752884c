"""Is this hour's count of new stories for a label a surge? Pure statistics, no clock.

For one label: ``count`` new stories in the last hour, and ``history``, the new stories
of the same clock hour on each of the previous days (:func:`hour_windows` gives the
windows to count).  Under "nothing unusual" the hour's count is Poisson with the
history's mean rate; the surge test is the upper tail, P(X >= count) < ``alpha``, with
at least ``min_count`` stories so that 2 stories after a quiet week do not page anyone.

The rate adds half a story to the history (the Jeffreys prior's mean for a Poisson rate):
a label that had no story at that hour all week has a small rate, not zero, under which
any story would be infinitely unlikely.  With fewer than ``min_history`` days of history
(a new install) there is no baseline and nothing is a surge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scipy.stats import poisson

ALPHA = 0.001
MIN_COUNT = 5
MIN_HISTORY = 3
DAYS = 7
PRIOR = 0.5  # stories added to the history's total


@dataclass(frozen=True)
class Surge:
    """The verdict for one label's hour, with the numbers behind it."""

    label: str
    count: int
    history: tuple[int, ...]
    expected: float  # new stories per hour expected from the history
    p_value: float  # P(X >= count) for X ~ Poisson(expected)
    surge: bool


def hour_windows(now: datetime, days: int = DAYS) -> list[tuple[datetime, datetime]]:
    """[start, end) of the last hour, then of the same hour 1, 2, ... ``days`` days ago."""
    hour = timedelta(hours=1)
    return [(now - timedelta(days=d) - hour, now - timedelta(days=d)) for d in range(days + 1)]


def check(
    label: str,
    count: int,
    history: Sequence[int],
    *,
    alpha: float = ALPHA,
    min_count: int = MIN_COUNT,
    min_history: int = MIN_HISTORY,
) -> Surge:
    """Whether ``count`` new stories this hour is a surge against ``history``."""
    if count < 0 or any(h < 0 for h in history):
        raise ValueError(f"counts cannot be negative: {count}, {list(history)}")
    if len(history) < min_history:
        return Surge(label, count, tuple(history), float("nan"), 1.0, False)
    expected = (sum(history) + PRIOR) / len(history)
    p_value = float(poisson.sf(count - 1, expected)) if count > 0 else 1.0
    return Surge(
        label, count, tuple(history), expected, p_value, count >= min_count and p_value < alpha
    )


def check_all(
    counts: Mapping[str, tuple[int, Sequence[int]]],
    *,
    alpha: float = ALPHA,
    min_count: int = MIN_COUNT,
    min_history: int = MIN_HISTORY,
) -> list[Surge]:
    """:func:`check` for every label of ``{label: (count, history)}``, in label order."""
    return [
        check(label, count, history, alpha=alpha, min_count=min_count, min_history=min_history)
        for label, (count, history) in sorted(counts.items())
    ]
