"""Stories and surges: items grouped as copies of one report, their kept signatures, the
once-per-story-and-label alert record, and the surges the poller finds.

The poller decides which story an item joins (:mod:`stories` is pure and storage-free);
the store writes the decision in the same transaction as the item
(:meth:`StoriesMixin._group`), keeps each story's counts and labels, and lets a poller read
back the signatures of the last 72 hours to rebuild its index.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from store import schema
from store.base import StoreBase
from store.items import decode_cursor, encode_cursor, item_from_row
from store.outbox import outbox_rows
from store.records import (
    Alert,
    KeptSignature,
    NewItem,
    NewSurge,
    Story,
    SurgeRecord,
)

STORY_ITEMS = 20  # items shown per story in a listing (newest first)
SIGNATURE_BATCH = 5_000  # rows read per round trip when rebuilding an index
EXPIRE_BATCH = 5_000  # signatures or stories deleted per statement in housekeeping


class StoriesMixin(StoreBase):
    """Stories: grouping items as they are stored, listing, the kept signatures."""

    def _group(
        self,
        conn: Connection,
        feed_id: int,
        added: Sequence[tuple[int, NewItem]],
        now: datetime,
        owner: str,
    ) -> dict[int, int]:
        """Put the added items in their stories (new ones are created), keep their
        signatures, update the touched stories' counts; return item id -> story id."""
        wanted = {i: item.grouping.story for i, item in added if item.grouping is not None}
        if not wanted:
            return {}
        alive = self._lock_stories(conn, {s for s in wanted.values() if isinstance(s, int)})
        # a story gone meanwhile is started anew, once for all of its items here
        keyed = {
            i: (s if isinstance(s, str) or s in alive else f"gone:{s}") for i, s in wanted.items()
        }
        new_keys = sorted({s for s in keyed.values() if isinstance(s, str)})
        created = self._create_stories(conn, new_keys, now)
        alive.update({sid: ([], now) for sid in created.values()})
        story_of = {i: (created[s] if isinstance(s, str) else s) for i, s in keyed.items()}
        i = schema.items
        conn.execute(
            update(i).where(i.c.id == bindparam("iid")).values(story_id=bindparam("sid")),
            [{"iid": item_id, "sid": sid} for item_id, sid in story_of.items()],
        )
        conn.execute(
            insert(schema.item_signatures),
            [
                {
                    "item_id": item_id,
                    "seen_at": now,
                    "owner": owner,
                    "scheme": item.grouping.scheme,
                    "signature": item.grouping.signature,
                }
                for item_id, item in added
                if item.grouping is not None
            ],
        )
        self._count_in(conn, feed_id, added, story_of, alive, now)
        return story_of

    def _lock_stories(
        self, conn: Connection, ids: set[int]
    ) -> dict[int, tuple[list[str], datetime]]:
        """Lock the stories' rows (in id order: no deadlock); the labels and last-seen
        time of those that exist.

        The lock serialises writers adding to one story (PostgreSQL), so that each adds
        its counts and labels to what the other committed; SQLite has one writer anyway.
        """
        if not ids:
            return {}
        s = schema.stories
        query = (
            select(s.c.id, s.c.labels, s.c.last_seen_at)
            .where(s.c.id.in_(sorted(ids)))
            .order_by(s.c.id)
            .with_for_update()
        )
        return {int(r[0]): (list(r[1]), r[2]) for r in conn.execute(query).all()}

    def _create_stories(self, conn: Connection, keys: list[str], now: datetime) -> dict[str, int]:
        """A new, empty story per key; key -> its id."""
        if not keys:
            return {}
        s = schema.stories
        rows = [
            {
                "first_seen_at": now,
                "last_seen_at": now,
                "item_count": 0,
                "feed_count": 0,
                "labels": [],
            }
            for _ in keys
        ]
        stmt = insert(s).returning(s.c.id, sort_by_parameter_order=True)
        ids = [int(r[0]) for r in conn.execute(stmt, rows).all()]
        return dict(zip(keys, ids, strict=True))

    def _count_in(
        self,
        conn: Connection,
        feed_id: int,
        added: Sequence[tuple[int, NewItem]],
        story_of: dict[int, int],
        known: dict[int, tuple[list[str], datetime]],
        now: datetime,
    ) -> None:
        """Add the items to their stories' counts and labels: constant work per story,
        however many items it has (a feed is counted the first time it carries it)."""
        count: dict[int, int] = defaultdict(int)
        labels: dict[int, set[str]] = defaultdict(set)
        for item_id, item in added:
            if item_id in story_of:
                count[story_of[item_id]] += 1
                labels[story_of[item_id]].update(item.labels)
        t = schema.story_feeds
        pairs = [{"story_id": sid, "feed_id": feed_id} for sid in sorted(count)]
        stmt = (
            self._insert(t)
            .values(pairs)
            .on_conflict_do_nothing(index_elements=["story_id", "feed_id"])
            .returning(t.c.story_id)
        )
        new_feed = {int(r[0]) for r in conn.execute(stmt).all()}
        s = schema.stories
        conn.execute(
            update(s)
            .where(s.c.id == bindparam("sid"))
            .values(
                item_count=s.c.item_count + bindparam("n"),
                feed_count=s.c.feed_count + bindparam("f"),
                labels=bindparam("l", type_=s.c.labels.type),
                last_seen_at=bindparam("at", type_=schema.UTCDateTime()),
            ),
            [
                {
                    "sid": sid,
                    "n": n,
                    "f": int(sid in new_feed),
                    "l": sorted(labels[sid].union(known[sid][0])),
                    "at": max(now, known[sid][1]),
                }
                for sid, n in sorted(count.items())
            ],
        )

    def _story_alerts_first(
        self,
        conn: Connection,
        added: Sequence[tuple[int, NewItem]],
        story_of: dict[int, int],
        now: datetime,
    ) -> set[tuple[int, str]]:
        """Record which (story, label) pairs alert now; return the pairs that had not
        alerted before (the caller queues only their first alert)."""
        pairs = sorted(
            {
                (story_of[item_id], a.label)
                for item_id, item in added
                if item_id in story_of
                for a in item.alerts
            }
        )
        if not pairs:
            return set()
        t = schema.story_alerts
        stmt = (
            self._insert(t)
            .values([{"story_id": sid, "label": label, "created_at": now} for sid, label in pairs])
            .on_conflict_do_nothing(index_elements=["story_id", "label"])
            .returning(t.c.story_id, t.c.label)
        )
        return {(int(r[0]), str(r[1])) for r in conn.execute(stmt).all()}

    # -- the index's food -------------------------------------------------------------

    def recent_signatures(
        self,
        since: datetime,
        scheme: str,
        *,
        exclude_owner: str | None = None,
        limit: int | None = None,
    ) -> list[KeptSignature]:
        """The kept signatures of items seen at or after ``since`` with ``scheme``, oldest
        first (the newest ``limit`` of them), leaving out those ``exclude_owner`` stored."""
        g, i = schema.item_signatures, schema.items
        query: Any = (
            select(g.c.item_id, i.c.story_id, g.c.seen_at, g.c.signature)
            .select_from(g.join(i, i.c.id == g.c.item_id))
            .where(g.c.seen_at >= since, g.c.scheme == scheme, i.c.story_id.is_not(None))
        )
        if exclude_owner is not None:
            query = query.where(g.c.owner != exclude_owner)
        query = query.order_by(g.c.seen_at.desc(), g.c.item_id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._tx() as conn:
            result = conn.execute(query.execution_options(yield_per=SIGNATURE_BATCH))
            found = [KeptSignature(int(r[0]), int(r[1]), r[2], bytes(r[3])) for r in result]
        found.reverse()
        return found

    def expire_signatures(self, before: datetime) -> int:
        """Delete up to EXPIRE_BATCH kept signatures of items seen before ``before``."""
        g = schema.item_signatures
        pick = select(g.c.item_id).where(g.c.seen_at < before).limit(EXPIRE_BATCH)
        with self._tx(write=True) as conn:
            result = conn.execute(delete(g).where(g.c.item_id.in_(pick.scalar_subquery())))
        return int(result.rowcount or 0)

    def delete_empty_stories(
        self, last_seen_before: datetime, after: tuple[datetime, int] | None = None
    ) -> tuple[int, tuple[datetime, int] | None]:
        """Look at the next EXPIRE_BATCH stories last seen before ``last_seen_before``
        (oldest first, after the ``after`` cursor) and delete those left with no items
        (retention deleted them); (how many were deleted, the cursor to go on from, None
        when the scan reached the end)."""
        s, i = schema.stories, schema.items
        query = select(s.c.id, s.c.last_seen_at).where(s.c.last_seen_at < last_seen_before)
        if after is not None:
            at, last_id = after
            query = query.where(
                or_(s.c.last_seen_at > at, and_(s.c.last_seen_at == at, s.c.id > last_id))
            )
        query = query.order_by(s.c.last_seen_at, s.c.id).limit(EXPIRE_BATCH)
        with self._tx() as conn:  # read first: the write lock is held only to delete
            scanned = [(int(r[0]), r[1]) for r in conn.execute(query).all()]
        if not scanned:
            return 0, None
        ids = [story_id for story_id, _ in scanned]
        empty = ~exists().where(i.c.story_id == s.c.id)
        with self._tx(write=True) as conn:
            result = conn.execute(delete(s).where(s.c.id.in_(ids), empty))
        last_id, last_at = scanned[-1]
        cursor = (last_at, last_id) if len(scanned) == EXPIRE_BATCH else None
        return int(result.rowcount or 0), cursor

    # -- listings ---------------------------------------------------------------------

    def list_stories(
        self,
        *,
        label: str | None = None,
        since: datetime | None = None,
        feed_id: int | None = None,
        limit: int = 50,
        cursor: str | None = None,
        per_story: int = STORY_ITEMS,
    ) -> tuple[list[Story], str | None]:
        """Stories, newest activity first, each with its newest ``per_story`` items, and
        the next page's cursor.  ``label``: a story one of whose items the model tagged
        with it; ``feed_id``: a story with an item of that feed; ``since``: last seen at
        or after.  ValueError on a bad cursor or limit."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        s, i, sc = schema.stories, schema.items, schema.item_scores
        query = select(s)
        if label is not None:
            tagged = exists().where(
                i.c.story_id == s.c.id, sc.c.item_id == i.c.id, sc.c.label == label, sc.c.assigned
            )
            query = query.where(tagged)
        if feed_id is not None:
            query = query.where(exists().where(i.c.story_id == s.c.id, i.c.feed_id == feed_id))
        if since is not None:
            query = query.where(s.c.last_seen_at >= since)
        if cursor is not None:
            at, last_id = decode_cursor(cursor)
            query = query.where(
                or_(s.c.last_seen_at < at, and_(s.c.last_seen_at == at, s.c.id < last_id))
            )
        query = query.order_by(s.c.last_seen_at.desc(), s.c.id.desc()).limit(limit + 1)
        with self._tx() as conn:
            rows = conn.execute(query).all()
            more = len(rows) > limit
            rows = list(rows[:limit])
            items = self._story_items(conn, [r.id for r in rows], per_story)
        stories = [
            Story(
                id=r.id,
                first_seen_at=r.first_seen_at,
                last_seen_at=r.last_seen_at,
                item_count=r.item_count,
                feed_count=r.feed_count,
                labels=list(r.labels),
                items=items.get(r.id, []),
            )
            for r in rows
        ]
        next_cursor = encode_cursor(rows[-1].last_seen_at, rows[-1].id) if more else None
        return stories, next_cursor

    def _story_items(
        self, conn: Connection, ids: list[int], per_story: int
    ) -> dict[int, list[Any]]:
        """The newest ``per_story`` items of each story, newest first."""
        if not ids:
            return {}
        i = schema.items
        rank = (
            func.row_number()
            .over(partition_by=i.c.story_id, order_by=(i.c.sort_at.desc(), i.c.id.desc()))
            .label("rank")
        )
        inner = select(i, rank).where(i.c.story_id.in_(ids)).subquery()
        query = (
            select(inner).where(inner.c.rank <= per_story).order_by(inner.c.story_id, inner.c.rank)
        )
        found: dict[int, list[Any]] = defaultdict(list)
        for row in conn.execute(query):
            found[row.story_id].append(item_from_row(row))
        return found

    # -- surges -----------------------------------------------------------------------

    def first_story_at(self) -> datetime | None:
        """When the first story still stored was first seen (None: no story yet)."""
        s = schema.stories
        with self._tx() as conn:
            found: datetime | None = conn.scalar(select(func.min(s.c.first_seen_at)))
        return found

    def new_story_labels(self, start: datetime, end: datetime) -> dict[str, int]:
        """Per label, the stories first seen in [start, end) that carry it."""
        s = schema.stories
        query = select(s.c.labels).where(s.c.first_seen_at >= start, s.c.first_seen_at < end)
        counts: dict[str, int] = defaultdict(int)
        with self._tx() as conn:
            for labels in cast(list[list[str]], conn.scalars(query).all()):
                for label in set(labels):
                    counts[label] += 1
        return dict(counts)

    def record_surges(self, surges: Iterable[NewSurge], now: datetime) -> list[NewSurge]:
        """Store surges not stored yet (per label and hour) and queue their alerts in the
        same transaction; return those this call stored (another poller may have)."""
        stored = []
        t = schema.surges
        with self._tx(write=True) as conn:
            for surge in surges:
                stmt = (
                    self._insert(t)
                    .values(
                        label=surge.label,
                        hour_start=surge.hour_start,
                        count=surge.count,
                        expected=surge.expected,
                        p_value=surge.p_value,
                        detected_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["label", "hour_start"])
                    .returning(t.c.id)
                )
                if conn.execute(stmt).first() is None:
                    continue
                stored.append(surge)
                self._enqueue_events(conn, surge.alerts, now)
        return stored

    def _enqueue_events(self, conn: Connection, alerts: Sequence[Alert], now: datetime) -> None:
        """Outbox rows for alerts about no one item."""
        if alerts:
            conn.execute(insert(schema.outbox), outbox_rows(None, alerts, now))

    def list_surges(
        self, *, label: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[SurgeRecord]:
        """Surges, newest hour first (``since``: hours starting at or after it)."""
        t = schema.surges
        query = select(t)
        if label is not None:
            query = query.where(t.c.label == label)
        if since is not None:
            query = query.where(t.c.hour_start >= since)
        query = query.order_by(t.c.hour_start.desc(), t.c.id.desc()).limit(limit)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [SurgeRecord(**r._mapping) for r in rows]

    def surge_counts(self) -> dict[str, int]:
        """How many surges are stored, per label (the service's metric)."""
        t = schema.surges
        query = select(t.c.label, func.count()).group_by(t.c.label)
        with self._tx() as conn:
            rows = cast(list[tuple[str, int]], conn.execute(query).all())
        return {label: int(n) for label, n in rows}


def once_per_story(
    added: Sequence[tuple[int, NewItem]], story_of: dict[int, int], fresh: set[tuple[int, str]]
) -> list[tuple[int, NewItem]]:
    """The added items with only the alerts that fire: an ungrouped item's all, a grouped
    item's for each (story, label) pair that is ``fresh`` and not yet taken in this batch."""
    taken: set[tuple[int, str]] = set()
    kept = []
    for item_id, item in added:
        story = story_of.get(item_id)
        if story is None or not item.alerts:
            kept.append((item_id, item))
            continue
        alerts = []
        for alert in item.alerts:
            pair = (story, alert.label)
            if pair in fresh and pair not in taken:
                taken.add(pair)
                alerts.append(alert)
        kept.append((item_id, replace(item, alerts=tuple(alerts))))
    return kept
