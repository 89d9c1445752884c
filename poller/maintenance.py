"""What the poller does to items already stored: re-tag them with the model in hand
(``python -m poller retag``) and delete the ones past the retention period (from the
polling loop, when ``WIRETAG_RETENTION_DAYS`` is set)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.clock import Clock, utcnow
from model import Item, Model
from store import Retagged, Store, StoredItem, StoreError

log = logging.getLogger("wiretag.poller")

RETAG_BATCH = 500
RETENTION_EVERY = timedelta(hours=1)
RETENTION_BUDGET = 5_000  # items per pass: a pass holds up leasing for a second or two


@dataclass(frozen=True)
class RetagReport:
    """What a re-tag run did."""

    version: str
    items: int  # rewritten
    changed: int  # of which the labels changed
    seconds: float
    left: int  # still at another version when the run stopped (0 when it finished)


def retag_batch(model: Model, items: Sequence[StoredItem], max_chars: int) -> list[Retagged]:
    """Score stored items again, their texts cut as the poller cut them when it stored them."""
    batch = [Item(str(i.id), i.title[:max_chars], i.summary[:max_chars]) for i in items]
    results = model.classify(batch, explain=False)
    return [
        Retagged(item.id, list(r.labels), dict(r.scores))
        for item, r in zip(items, results, strict=True)
    ]


def eta(done: int, total: int, seconds: float) -> tuple[float, float]:
    """(items per second, seconds left) after ``done`` of ``total`` in ``seconds`` (pure)."""
    rate = done / seconds if seconds > 0 else 0.0
    left = max(total - done, 0)
    return rate, (left / rate if rate > 0 else 0.0)


def retag(
    store: Store,
    model: Model,
    *,
    max_chars: int,
    since: datetime | None = None,
    batch: int = RETAG_BATCH,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RetagReport:
    """Re-tag every stored item (from ``since`` on) that another model version tagged, by
    id, ``batch`` at a time, one short transaction each; a log line per batch with the
    rate and the time left.  Stops after the batch in hand when ``stop`` is set."""
    total = store.count_stale(model.version, since)
    log.info("retag: %d items tagged by other model versions; now %s", total, model.version)
    started, after, done, changed = clock(), 0, 0, 0
    while not (stop is not None and stop.is_set()):
        items = store.stale_items(model.version, after_id=after, limit=batch, since=since)
        if not items:
            break
        retagged = retag_batch(model, items, max_chars)
        done += store.write_retags(retagged, model.version)
        changed += sum(
            set(item.labels) != set(new.labels) for item, new in zip(items, retagged, strict=True)
        )
        after = items[-1].id
        rate, left = eta(done, total, clock() - started)
        log.info("retag: %d/%d items, %.0f items/s, about %.0f s left", done, total, rate, left)
    seconds = clock() - started
    left_over = store.count_stale(model.version, since) if stop and stop.is_set() else 0
    log.info(
        "retag: re-tagged %d items (%d changed labels) in %.1f s%s",
        done,
        changed,
        seconds,
        f"; stopped with {left_over} left (run again to finish)" if left_over else "",
    )
    return RetagReport(model.version, done, changed, seconds, left_over)


class Retention:
    """Deletes items past the retention period, every ``every``, at most ``budget`` per
    pass (a pass that meets its budget runs again at the next tick)."""

    def __init__(
        self,
        store: Store,
        days: int,
        *,
        every: timedelta = RETENTION_EVERY,
        budget: int = RETENTION_BUDGET,
        now: Clock = utcnow,
    ) -> None:
        self.store, self.keep, self.every, self.budget = store, timedelta(days=days), every, budget
        self.now = now
        self.next_run: datetime | None = None  # None: at the first chance

    def run_if_due(self) -> int | None:
        """Run a pass if one is due; how many items it deleted (None: none was due)."""
        moment = self.now()
        if self.next_run is not None and moment < self.next_run:
            return None
        try:
            deleted = self.store.delete_expired(moment - self.keep, limit=self.budget)
        except StoreError as exc:  # the database is away: try again at the next pass
            log.error("retention: not applied: %s", exc)
            self.next_run = moment + self.every
            return None
        more = deleted >= self.budget
        self.next_run = moment if more else moment + self.every
        log.info(
            "retention: deleted %d items fetched over %d days ago (corrected ones kept)%s",
            deleted,
            self.keep.days,
            "; more next tick" if more else "",
        )
        return deleted
