"""Feeds: subscribing, health, and the lease a poller holds while it polls one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Row, and_, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from common.clock import utcnow
from store import schema
from store.base import StoreBase, lease_due
from store.errors import FeedExists
from store.records import Feed, FeedHealth, FeedUpdate


def feed_from_row(row: Row[Any]) -> Feed:
    """A feeds row as a :class:`Feed` (also for store.feed_admin)."""
    m = row._mapping
    return Feed(
        id=m["id"],
        url=m["url"],
        title=m["title"],
        interval_minutes=m["interval_minutes"],
        etag=m["etag"],
        last_modified=m["last_modified"],
        next_check_at=m["next_check_at"],
        last_checked_at=m["last_checked_at"],
        last_status=m["last_status"],
        error_count=m["error_count"],
        last_error=m["last_error"],
        last_warning=m["last_warning"],
        created_at=m["created_at"],
        paused_at=m["paused_at"],
    )


def _health(feed: Feed, items_24h: int, label_counts: dict[str, int]) -> FeedHealth:
    return FeedHealth(
        id=feed.id,
        url=feed.url,
        title=feed.title,
        interval_minutes=feed.interval_minutes,
        last_status=feed.last_status,
        error_count=feed.error_count,
        last_error=feed.last_error,
        next_check_at=feed.next_check_at,
        last_checked_at=feed.last_checked_at,
        items_24h=items_24h,
        label_counts=label_counts,
        paused=feed.paused_at is not None,
    )


class FeedsMixin(StoreBase):
    """The feed list, each feed's health, and leasing the due ones to a poller."""

    def add_feed(
        self,
        url: str,
        interval_minutes: int | None = None,
        title: str | None = None,
        now: datetime | None = None,
    ) -> Feed:
        """Subscribe to ``url`` (due at once); FeedExists if it is already there."""
        if interval_minutes is not None and interval_minutes < 1:
            raise ValueError("interval_minutes must be at least 1")
        moment = now or utcnow()
        values = {
            "url": url,
            "title": title,
            "interval_minutes": interval_minutes,
            "next_check_at": moment,
            "error_count": 0,
            "created_at": moment,
        }
        f = schema.feeds
        with self._tx(write=True) as conn:
            if conn.scalar(select(f.c.id).where(f.c.url == url)):
                raise FeedExists(url)
            try:
                row = conn.execute(insert(f).values(values).returning(*f.c)).one()
            except IntegrityError as exc:  # a concurrent add of the same URL won the race
                raise FeedExists(url) from exc
        return feed_from_row(row)

    def get_feed(self, feed_id: int) -> Feed | None:
        """The feed with this id, or None."""
        with self._tx() as conn:
            row = conn.execute(select(schema.feeds).where(schema.feeds.c.id == feed_id)).first()
        return feed_from_row(row) if row else None

    def find_feed(self, url: str) -> Feed | None:
        """The feed with exactly this URL, or None."""
        with self._tx() as conn:
            row = conn.execute(select(schema.feeds).where(schema.feeds.c.url == url)).first()
        return feed_from_row(row) if row else None

    def list_feeds(self) -> list[Feed]:
        """Every feed, by id."""
        with self._tx() as conn:
            return [
                feed_from_row(r)
                for r in conn.execute(select(schema.feeds).order_by(schema.feeds.c.id))
            ]

    def count_feeds(self) -> int:
        """How many feeds are subscribed."""
        with self._tx() as conn:
            return int(conn.scalar(select(func.count()).select_from(schema.feeds)) or 0)

    def remove_feed(self, feed_id: int) -> bool:
        """Unsubscribe (its items go with it); False if there was no such feed."""
        with self._tx(write=True) as conn:
            # SQLite cascades through its foreign keys pragma, PostgreSQL natively.
            result = conn.execute(delete(schema.feeds).where(schema.feeds.c.id == feed_id))
        return bool(result.rowcount)

    def feeds_health(self, now: datetime | None = None) -> list[FeedHealth]:
        """Every feed, oldest first, with its last status, error streak and 24-hour yield."""
        since = (now or utcnow()) - timedelta(hours=24)
        with self._tx() as conn:
            feeds = conn.execute(select(schema.feeds).order_by(schema.feeds.c.id)).all()
            counts = _items_since(conn, since)
            labels = _labels_since(conn, since)
        return [
            _health(f, counts.get(f.id, 0), labels.get(f.id, {})) for f in map(feed_from_row, feeds)
        ]

    def claim_due_feeds(
        self,
        owner: str,
        limit: int,
        lease_seconds: int,
        now: datetime | None = None,
        due_before: datetime | None = None,
    ) -> list[Feed]:
        """Lease up to ``limit`` due feeds to ``owner`` for ``lease_seconds`` (see lease_due)."""
        moment = now or utcnow()
        f = schema.feeds
        stmt = lease_due(
            f,
            and_(f.c.next_check_at <= (due_before or moment), f.c.paused_at.is_(None)),
            [f.c.next_check_at, f.c.id],
            limit,
            moment,
            {"lease_owner": owner, "lease_until": moment + timedelta(seconds=lease_seconds)},
        ).returning(*f.c)
        with self._tx(write=True) as conn:
            rows = conn.execute(stmt).all()
        return sorted(map(feed_from_row, rows), key=lambda feed: (feed.next_check_at, feed.id))

    def _update_feed(self, conn: Connection, feed_id: int, owner: str, r: FeedUpdate) -> bool:
        """Write a poll's outcome and release ``owner``'s lease; False if the feed is gone."""
        f = schema.feeds
        values: dict[str, Any] = {
            "last_checked_at": r.checked_at,
            "next_check_at": r.next_check_at,
            "last_status": r.status,
            "error_count": r.error_count,
            "last_error": r.error,
            "last_warning": r.warning,
            # release only our own lease: after expiry another poller may hold it
            "lease_owner": case((f.c.lease_owner == owner, None), else_=f.c.lease_owner),
            "lease_until": case((f.c.lease_owner == owner, None), else_=f.c.lease_until),
        }
        kept = {"etag": r.etag, "last_modified": r.last_modified, "title": r.title}
        values.update({k: v for k, v in kept.items() if v is not None})  # None keeps the old
        return bool(conn.execute(update(f).where(f.c.id == feed_id).values(values)).rowcount)


def _items_since(conn: Connection, since: datetime) -> dict[int, int]:
    """Items fetched since ``since``, per feed."""
    i = schema.items
    query = select(i.c.feed_id, func.count()).where(i.c.fetched_at >= since)
    rows = conn.execute(query.group_by(i.c.feed_id)).all()
    return {int(feed_id): int(count) for feed_id, count in cast(list[tuple[int, int]], rows)}


def _labels_since(conn: Connection, since: datetime) -> dict[int, dict[str, int]]:
    """Labels carried by the items fetched since ``since``, counted per feed."""
    i, s = schema.items, schema.item_scores
    rows = conn.execute(
        select(i.c.feed_id, s.c.label, func.count())
        .join(s, s.c.item_id == i.c.id)
        .where(i.c.fetched_at >= since, s.c.assigned.is_(True))
        .group_by(i.c.feed_id, s.c.label)
    ).all()
    labels: dict[int, dict[str, int]] = {}
    for feed_id, label, count in cast(list[tuple[int, str, int]], rows):
        labels.setdefault(int(feed_id), {})[label] = int(count)
    return labels
