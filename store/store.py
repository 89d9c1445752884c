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
from store.records import Added, FeedUpdate, NewItem
from store.retag import RetagMixin
from store.retention import RetentionMixin
from store.stories import StoriesMixin, once_per_story


class Store(
    FeedsMixin,
    FeedAdminMixin,
    ExportMixin,
    LabelCountsMixin,
    OutboxMixin,
    ReviewMixin,
    RetagMixin,  # over StoriesMixin: re-tagging relabels stories
    StoriesMixin,
    RetentionMixin,
):
    """wiretag's database: feeds (:mod:`store.feeds`) and their management
    (:mod:`store.feed_admin`), tagged items and search (:mod:`store.items`) and their
    export (:mod:`store.export`), the webhook outbox (:mod:`store.outbox`), analysts'
    corrections with the review queue (:mod:`store.corrections`), stories with surges
    (:mod:`store.stories`), re-tagging (:mod:`store.retag`) and retention
    (:mod:`store.retention`), for SQLite (WAL) and PostgreSQL."""

    def record_fetch(
        self, feed_id: int, owner: str, result: FeedUpdate, new_items: Sequence[NewItem] = ()
    ) -> list[int]:
        """:meth:`record_poll`, answering only the ids of the items added."""
        return [a.id for a in self.record_poll(feed_id, owner, result, new_items)]

    def record_poll(
        self, feed_id: int, owner: str, result: FeedUpdate, new_items: Sequence[NewItem] = ()
    ) -> list[Added]:
        """Write one poll of a feed in ONE transaction; return the items added.

        Updates the feed (validators, status, error streak, next check; the lease is
        released), inserts the items not already stored (a key stored meanwhile by another
        poller is skipped, never duplicated), puts grouped items in their stories (keeping
        their signatures), their per-label scores, and the webhook alerts into the outbox:
        each added item's, once per story and label for grouped ones.  A crash leaves all
        or nothing.
        """
        now = result.checked_at
        with self._tx(write=True) as conn:
            if not self._update_feed(conn, feed_id, owner, result):
                return []  # the feed was removed while it was being fetched
            added = self._insert_items(conn, feed_id, now, new_items)
            story_of = self._group(conn, feed_id, added, now, owner)
            self._insert_scores(conn, added)
            fresh = self._story_alerts_first(conn, added, story_of, now)
            self._enqueue(conn, once_per_story(added, story_of, fresh), now)
        return [Added(item_id, item.dedupe_key, story_of.get(item_id)) for item_id, item in added]


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
