"""When to check a feed next: pure functions of the outcome and the clock (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

RETRY_AFTER_STATUSES = frozenset({429, 503})
MIN_DELAY = timedelta(seconds=1)  # never due again within the same instant
# The furthest ahead a feed is ever scheduled: a huge interval, cap or Retry-After must
# give a date, not an OverflowError that would keep the poll from being recorded at all.
FAR = timedelta(days=3650)


@dataclass(frozen=True)
class Schedule:
    """The two settings a feed's next check depends on (reader's Decider takes its own)."""

    default_interval: timedelta  # for a feed without its own interval
    max_backoff: timedelta  # the cap of the backoff after errors


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """The moment a Retry-After header (seconds or HTTP date) names; None if unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return now + min(timedelta(seconds=min(int(text), FAR.total_seconds())), FAR)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses naive
        moment = moment.replace(tzinfo=now.tzinfo)
    return max(moment, now)


def backoff(interval: timedelta, error_count: int, cap: timedelta, jitter: float) -> timedelta:
    """Delay after ``error_count`` failures in a row: interval x 2^(n-1), capped, jittered.

    ``jitter`` in [0, 1) scales the delay into [75 %, 100 %] of its value, so feeds that
    failed together (one host down) spread out instead of returning in step.
    """
    cap = min(cap, FAR)
    if error_count < 1:
        return min(interval, FAR)
    delay = min(interval, cap)
    for _ in range(min(error_count - 1, 32)):  # 2^32 intervals is past any cap
        delay = min(delay * 2, cap)  # doubling stops at the cap, so it never overflows
    return max(delay * (0.75 + 0.25 * jitter), MIN_DELAY)


def next_check(
    now: datetime,
    *,
    interval: timedelta,
    error_count: int,
    cap: timedelta,
    jitter: float,
    retry_after: datetime | None = None,
) -> datetime:
    """When to poll again: the interval after success, backoff after errors, never before
    a Retry-After the server gave (itself capped, so a server cannot park a feed forever)."""
    moment = now + max(backoff(interval, error_count, cap, jitter), MIN_DELAY)
    if retry_after is not None:
        moment = max(moment, min(retry_after, now + min(cap, FAR)))
    return moment


def interval_of(minutes: int | None, default: timedelta) -> timedelta:
    """A feed's own interval (at most :data:`FAR`), else the default."""
    if not minutes:
        return default
    return timedelta(minutes=min(minutes, FAR.total_seconds() // 60))
