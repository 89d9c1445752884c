"""Retention: deleting items older than ``WIRETAG_RETENTION_DAYS``, except corrected ones.

Age is the item's ``fetched_at`` (when wiretag stored it), not its publication time: a
feed that still lists an old article would otherwise see it deleted and stored again at
every poll, with its webhooks firing each time.  Deletion walks feed by feed over the
``(feed_id, fetched_at)`` index, so a pass with nothing to delete costs one index probe
per feed; it deletes in batches, each its own short transaction.  ``item_scores`` and
webhook outbox rows go with their item (ON DELETE CASCADE); on SQLite the FTS triggers
drop the item from search.  Items an analyst corrected are training data and are kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from store import schema
from store.base import StoreBase
from store.corrections import CorrectionsMixin

DEFAULT_BATCH = 500


def _expired_ids(conn: Connection, feed_id: int, cutoff: datetime, limit: int) -> list[int]:
    """Up to ``limit`` uncorrected items of one feed fetched before ``cutoff``, locked."""
    i = schema.items
    query = (
        select(i.c.id)
        .where(
            i.c.feed_id == feed_id,
            i.c.fetched_at < cutoff,
            ~CorrectionsMixin.corrected_clause(i.c.id),
        )
        .order_by(i.c.fetched_at)
        .limit(limit)
        .with_for_update()
    )
    return list(conn.scalars(query))


class RetentionMixin(StoreBase):
    """Delete what the retention period no longer keeps."""

    def delete_expired(
        self, cutoff: datetime, *, batch: int = DEFAULT_BATCH, limit: int | None = None
    ) -> int:
        """Delete the uncorrected items fetched before ``cutoff``, ``batch`` at a time,
        stopping once ``limit`` went (None: all); return how many went."""
        if batch < 1 or (limit is not None and limit < 1):
            raise ValueError("batch and limit must be at least 1")
        with self._tx() as conn:
            feed_ids: list[int] = list(
                conn.scalars(select(schema.feeds.c.id).order_by(schema.feeds.c.id))
            )
        deleted = 0
        for feed_id in feed_ids:
            while limit is None or deleted < limit:
                size = batch if limit is None else min(batch, limit - deleted)
                found, gone = self._delete_batch(feed_id, cutoff, size)
                deleted += gone
                if found < size:
                    break
        return deleted

    def _delete_batch(self, feed_id: int, cutoff: datetime, batch: int) -> tuple[int, int]:
        """One transaction: lock a batch of expired items, then delete those still
        uncorrected (a correction committed meanwhile keeps its item); (found, deleted)."""
        i = schema.items
        with self._tx(write=True) as conn:
            ids = _expired_ids(conn, feed_id, cutoff, batch)
            if not ids:
                return 0, 0
            # A new statement sees corrections committed while the lock was awaited.
            stmt = delete(i).where(i.c.id.in_(ids), ~CorrectionsMixin.corrected_clause(i.c.id))
            gone = conn.execute(stmt).rowcount
        return len(ids), int(gone)
