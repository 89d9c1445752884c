"""The :class:`Store`: the domain mixins over one engine, and :func:`open_store`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from store.base import make_engine
from store.corrections import ReviewMixin
from store.errors import StoreError
from store.export import ExportMixin
from store.feed_admin import FeedAdminMixin
from store.feeds import FeedsMixin
from store.items import LabelCountsMixin
from store.migrations import migrate
from store.outbox import OutboxMixin
from store.records import FeedUpdate, NewItem
from store.retag import RetagMixin
from store.retention import RetentionMixin


class Store(
    FeedsMixin,
    FeedAdminMixin,
    ExportMixin,
    LabelCountsMixin,
    OutboxMixin,
    ReviewMixin,
    RetagMixin,
    RetentionMixin,
):
    """wiretag's database: feeds (:mod:`store.feeds`) and their management
    (:mod:`store.feed_admin`), tagged items and search (:mod:`store.items`) and their
    export (:mod:`store.export`), the webhook outbox (:mod:`store.outbox`), analysts'
    corrections with the review queue (:mod:`store.corrections`), re-tagging
    (:mod:`store.retag`) and retention (:mod:`store.retention`), for SQLite (WAL) and
    PostgreSQL."""

    def record_fetch(
        self, feed_id: int, owner: str, result: FeedUpdate, new_items: Sequence[NewItem] = ()
    ) -> list[int]:
        """Write one poll of a feed in ONE transaction; return the ids of items added.

        Updates the feed (validators, status, error streak, next check; the lease is
        released), inserts the items not already stored (a key stored meanwhile by another
        poller is skipped, never duplicated), their per-label scores, and each added item's
        webhook alerts into the outbox.  A crash leaves all or nothing.
        """
        with self._tx(write=True) as conn:
            if not self._update_feed(conn, feed_id, owner, result):
                return []  # the feed was removed while it was being fetched
            added = self._insert_items(conn, feed_id, result.checked_at, new_items)
            self._insert_scores(conn, added)
            self._enqueue(conn, added, result.checked_at)
        return [item_id for item_id, _ in added]


def open_store(url: str) -> Store:
    """Connect to the database at ``url``, apply pending migrations, return a Store."""
    engine = make_engine(url)
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"cannot open the store at {make_url(url)!r}: {exc}") from exc
    except StoreError:
        engine.dispose()
        raise
    return Store(engine)
