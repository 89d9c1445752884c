"""Feed management: an operator changes a feed's title, interval or pause, or asks for a
check now (``PATCH /v1/feeds/<id>``, ``POST /v1/feeds/<id>/refresh``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from common.clock import utcnow
from store import schema
from store.base import StoreBase
from store.feeds import feed_from_row
from store.records import Feed

CHANGEABLE = frozenset({"title", "interval_minutes", "paused"})


def change_values(changes: Mapping[str, Any], paused_now: bool, now: datetime) -> dict[str, Any]:
    """The ``feeds`` columns a change sets (pure): ``title`` and ``interval_minutes`` as
    given (None clears them), ``paused`` as the pause time, kept if already paused."""
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    interval = changes.get("interval_minutes")
    if interval is not None and interval < 1:
        raise ValueError("interval_minutes must be at least 1")
    values = {k: v for k, v in changes.items() if k != "paused"}
    if "paused" in changes:
        pause = bool(changes["paused"])
        if pause != paused_now:  # pausing twice keeps the first pause's time
            values["paused_at"] = now if pause else None
    return values


class FeedAdminMixin(StoreBase):
    """Change a feed's settings, or make it due now."""

    def change_feed(
        self, feed_id: int, changes: Mapping[str, Any], now: datetime | None = None
    ) -> Feed | None:
        """Apply ``changes`` (title, interval_minutes, paused) to a feed in one transaction;
        the feed as it now is, or None if there is no such feed.  ValueError on a key it
        cannot change or an interval below 1."""
        f = schema.feeds
        with self._tx(write=True) as conn:
            row = conn.execute(select(f).where(f.c.id == feed_id).with_for_update()).first()
            if row is None:
                return None
            values = change_values(changes, row.paused_at is not None, now or utcnow())
            if values:
                stmt = update(f).where(f.c.id == feed_id).values(values).returning(*f.c)
                row = conn.execute(stmt).one()
        return feed_from_row(row)

    def refresh_feed(self, feed_id: int, now: datetime | None = None) -> Feed | None:
        """Make a feed due now (the poller takes it at its next tick), unless it is paused;
        the feed as it now is, or None if there is no such feed."""
        f = schema.feeds
        moment = now or utcnow()
        with self._tx(write=True) as conn:
            conn.execute(
                update(f)
                .where(f.c.id == feed_id, f.c.paused_at.is_(None), f.c.next_check_at > moment)
                .values(next_check_at=moment)
            )
            row = conn.execute(select(f).where(f.c.id == feed_id)).first()
        return feed_from_row(row) if row else None
