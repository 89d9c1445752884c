"""The poller's housekeeping, every ``EVERY`` between ticks: surges, and the stories'
leftovers.

* **Surges**: per label, the new stories (first seen) of the last hour against those
  of the same hour on each of the last 7 days (only days since the first story was
  stored: a new install has no baseline), judged by :func:`stories.check_all` (Poisson
  tail below 0.001 with at least 5 stories).  A surge is stored once per label and
  clock hour (the hour the check ran in), whichever poller stores it first, and only
  that poller queues its ``surge`` webhook event.
* **Leftovers**: kept signatures older than the 72-hour window, and stories left with
  no items (retention deletes old items), deleted in bounded batches: each run looks at
  the next 5,000 stories quiet for 72 hours, going on where the last run stopped.

Bounded work: nine range queries over ``stories.first_seen_at`` (one per hour window
and one for the first story), one insert per surge found, and at most one batch of
deletions of each kind per run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from common.clock import Clock
from common.labels import LABELS
from poller.alerts import surge_alerts
from store import NewSurge, Store
from stories import Params, check_all, hour_windows

log = logging.getLogger("wiretag.poller")

EVERY = timedelta(minutes=5)
EMPTY_STORY_AGE = timedelta(hours=72)  # a story this quiet and empty is gone for good


def hour_of(moment: datetime) -> datetime:
    """The start of the clock hour ``moment`` falls in."""
    return moment.replace(minute=0, second=0, microsecond=0)


def story_counts(
    store: Store, now: datetime, labels: Sequence[str] = LABELS
) -> dict[str, tuple[int, list[int]]]:
    """Per label: new stories in the last hour, and in the same hour of each earlier day
    that the store has stories for (newest day first)."""
    first = store.first_story_at()
    windows = hour_windows(now)
    counted = [store.new_story_labels(a, b) for a, b in windows]
    days = [
        c
        for (start, _), c in zip(windows[1:], counted[1:], strict=True)
        if first and start >= first
    ]
    return {label: (counted[0].get(label, 0), [d.get(label, 0) for d in days]) for label in labels}


def find_surges(store: Store, now: datetime, webhooks: Mapping[str, str]) -> list[NewSurge]:
    """The surges of the hour ending ``now``, each with its webhook alert."""
    hour = hour_of(now)
    return [
        NewSurge(s.label, hour, s.count, s.expected, s.p_value, surge_alerts(s, hour, webhooks))
        for s in check_all(story_counts(store, now))
        if s.surge
    ]


class Housekeeper:
    """Runs :meth:`run` when due (every ``every``), from the poller's loop."""

    def __init__(
        self,
        store: Store,
        webhooks: Mapping[str, str],
        *,
        now: Clock,
        every: timedelta = EVERY,
        params: Params | None = None,
    ) -> None:
        self.store, self.webhooks, self.now = store, dict(webhooks), now
        self.every = every
        self.window = (params or Params()).window
        self._next: datetime | None = None
        self._empty_from: tuple[datetime, int] | None = None  # where the scan goes on

    def due(self) -> bool:
        """Whether the next run is due."""
        return self._next is None or self.now() >= self._next

    def run(self) -> list[NewSurge]:
        """Find and store surges, delete leftovers; the surges this poller stored."""
        moment = self.now()
        self._next = moment + self.every
        stored = self.store.record_surges(find_surges(self.store, moment, self.webhooks), moment)
        for s in stored:
            log.warning(
                "surge: %s, %d new stories in the hour to %s (expected %.2f, p=%.2g)",
                s.label,
                s.count,
                moment.isoformat(timespec="minutes"),
                s.expected,
                s.p_value,
            )
        expired = self.store.expire_signatures(moment - self.window)
        emptied, self._empty_from = self.store.delete_empty_stories(
            moment - EMPTY_STORY_AGE, self._empty_from
        )
        if expired or emptied:
            log.info(
                "housekeeping: %d signatures expired, %d empty stories deleted", expired, emptied
            )
        return stored
