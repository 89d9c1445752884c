"""Tagged items: what the poller adds, what ``GET /v1/items`` pages through, and its cursor."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
)

from store import schema
from store.base import StoreBase
from store.listing import filtered
from store.records import ItemFilter, ItemPage, NewItem, StoredItem

_KEY_CHUNK = 500  # bound on IN (...) lists


def encode_cursor(sort_at: datetime, item_id: int) -> str:
    """The opaque paging cursor: the last item's (sort time, id)."""
    raw = json.dumps([sort_at.isoformat(), item_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Inverse of :func:`encode_cursor`; ValueError on anything it did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, item_id = json.loads(raw)
        when = datetime.fromisoformat(moment)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError("bad cursor") from exc
    if when.tzinfo is None or not isinstance(item_id, int):
        raise ValueError("bad cursor")
    return when, item_id


def item_from_row(row: Row[Any]) -> StoredItem:
    """The :class:`StoredItem` of an ``items`` row."""
    m = row._mapping
    return StoredItem(
        id=m["id"],
        feed_id=m["feed_id"],
        link=m["link"],
        title=m["title"],
        summary=m["summary"],
        published_at=m["published_at"],
        fetched_at=m["fetched_at"],
        labels=list(m["labels"]),
        scores={k: float(v) for k, v in m["scores"].items()},
        model_version=m["model_version"],
        story_id=m.get("story_id"),
        story_items=m.get("story_items"),
    )


def _sort_at(item: NewItem, fetched_at: datetime) -> datetime:
    """Publication time when credible (not after the fetch), else the fetch time."""
    if item.published_at is not None and item.published_at <= fetched_at:
        return item.published_at
    return fetched_at


def _row(feed_id: int, item: NewItem, fetched_at: datetime) -> dict[str, Any]:
    """The ``items`` row of a new item."""
    return {
        "feed_id": feed_id,
        "dedupe_key": item.dedupe_key,
        "link": item.link,
        "title": item.title,
        "summary": item.summary,
        "published_at": item.published_at,
        "fetched_at": fetched_at,
        "sort_at": _sort_at(item, fetched_at),
        "labels": list(item.labels),
        "scores": dict(item.scores),
        "model_version": item.model_version,
    }


def _after(query: Select[Any], cursor: str | None) -> Select[Any]:
    """Keep the items after the cursor's (sort time, id) in newest-first order."""
    if cursor is None:
        return query
    i = schema.items
    at, last_id = decode_cursor(cursor)
    # (sort_at, id) < (at, last_id), with the bound ``sort_at <= at`` spelt out: without
    # it both planners walk the sort index from its newest end and filter, so paging deep
    # (an export) costs a scan per page; with it they start at the cursor.
    return query.where(i.c.sort_at <= at, or_(i.c.sort_at < at, i.c.id < last_id))


def _before(query: Select[Any], cursor: str) -> Select[Any]:
    """Keep the items before the cursor's (sort time, id) in newest-first order."""
    i = schema.items
    at, first_id = decode_cursor(cursor)
    return query.where(i.c.sort_at >= at, or_(i.c.sort_at > at, i.c.id > first_id))


def _cursor_of(row: Row[Any]) -> str:
    return encode_cursor(row._mapping["sort_at"], row._mapping["id"])


class ItemsMixin(StoreBase):
    """Items and their per-label scores: adding new ones, recognising known ones, paging."""

    def known_keys(self, feed_id: int, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` this feed already has items for."""
        wanted = sorted(set(keys))
        found: set[str] = set()
        i = schema.items
        with self._tx() as conn:
            for start in range(0, len(wanted), _KEY_CHUNK):
                chunk = wanted[start : start + _KEY_CHUNK]
                query = select(i.c.dedupe_key).where(
                    i.c.feed_id == feed_id, i.c.dedupe_key.in_(chunk)
                )
                found.update(conn.scalars(query))
        return found

    def get_item(self, item_id: int) -> StoredItem | None:
        """The item with this id, or None."""
        i = schema.items
        with self._tx() as conn:
            row = conn.execute(select(i).where(i.c.id == item_id)).first()
        return item_from_row(row) if row else None

    def list_items(
        self,
        *,
        label: str | None = None,
        min_score: float | None = None,
        since: datetime | None = None,
        feed_id: int | None = None,
        limit: int = 50,
        cursor: str | None = None,
        collapse: bool = False,
    ) -> tuple[list[StoredItem], str | None]:
        """Items newest first (published, else fetched time) and the next page's cursor.

        ``label`` alone keeps items carrying that label; with ``min_score`` it keeps items
        whose score for that label is at least ``min_score``; ``min_score`` alone keeps
        items with any label scoring at least that.  ``collapse``: one row per
        story, its newest item (with the story's item count), listed when that item passes
        the filters (:func:`store.listing.newest_of_story`).  ValueError on a bad cursor
        or limit.
        """
        filters = ItemFilter(
            labels=(label,) if label else (),
            min_score=min_score,
            since=since,
            feed_id=feed_id,
            collapse=collapse,
        )
        page = self.page_items(filters, limit=limit, after=cursor)
        return page.items, page.older

    def page_items(
        self,
        filters: ItemFilter,
        *,
        limit: int = 50,
        after: str | None = None,
        before: str | None = None,
    ) -> ItemPage:
        """One page of the items that pass ``filters``, newest first, after (older than)
        or before (newer than) a cursor, with the cursors of the pages either side.

        ValueError on a bad cursor or limit.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        i, s = schema.items, schema.stories
        base = select(i)
        if filters.collapse:  # each row also says how many items its story has
            count = func.coalesce(s.c.item_count, 1).label("story_items")
            base = select(i, count).select_from(i.outerjoin(s, s.c.id == i.c.story_id))
        with self._tx() as conn:
            query = filtered(conn, self.dialect, base, filters).limit(limit + 1)
            if before is not None:
                query = _before(query, before).order_by(i.c.sort_at.asc(), i.c.id.asc())
            else:
                query = _after(query, after).order_by(i.c.sort_at.desc(), i.c.id.desc())
            rows = conn.execute(query).all()
        more = len(rows) > limit
        rows = list(rows[:limit])
        if before is not None:
            rows.reverse()
        items = [item_from_row(r) for r in rows]
        if not rows:
            return ItemPage(items, None, None)
        older = _cursor_of(rows[-1]) if (more if before is None else True) else None
        newer = _cursor_of(rows[0]) if (more if before is not None else after) else None
        return ItemPage(items, older, newer)

    def _insert_items(
        self, conn: Connection, feed_id: int, fetched_at: datetime, new: Sequence[NewItem]
    ) -> list[tuple[int, NewItem]]:
        """Insert the items whose key the feed lacks; return (id, item) of those added."""
        if not new:
            return []
        by_key = {item.dedupe_key: item for item in new}
        stmt = (
            self._insert(schema.items)
            .on_conflict_do_nothing(index_elements=["feed_id", "dedupe_key"])
            .returning(schema.items.c.id, schema.items.c.dedupe_key)
        )
        rows = [_row(feed_id, item, fetched_at) for item in by_key.values()]
        inserted = cast(list[tuple[int, str]], conn.execute(stmt, rows).all())
        return [(item_id, by_key[key]) for item_id, key in inserted]

    def _insert_scores(self, conn: Connection, added: Sequence[tuple[int, NewItem]]) -> None:
        """One ``item_scores`` row per added item and label."""
        rows = score_rows((item_id, item.labels, item.scores) for item_id, item in added)
        if rows:
            conn.execute(insert(schema.item_scores), rows)


def score_rows(
    tagged: Iterable[tuple[int, Sequence[str], Mapping[str, float]]],
) -> list[dict[str, Any]]:
    """``item_scores`` rows: one per item and scored label, ``assigned`` if the label was
    given; ``tagged`` is (item id, labels, scores)."""
    return [
        {"item_id": item_id, "label": label, "score": score, "assigned": label in labels}
        for item_id, labels, scores in tagged
        for label, score in scores.items()
    ]


def _bucket(dialect: str, unit: str) -> ColumnElement[str]:
    """The start of the hour or day of an item's sort time, as ISO text."""
    i = schema.items
    if dialect == "postgresql":
        pattern = 'YYYY-MM-DD"T"HH24:00' if unit == "hour" else "YYYY-MM-DD"
        return func.to_char(i.c.sort_at, pattern)
    return func.strftime("%Y-%m-%dT%H:00" if unit == "hour" else "%Y-%m-%d", i.c.sort_at)


class LabelCountsMixin(StoreBase):
    """Items per label and hour or day, for the workspace's overview charts."""

    def label_counts(self, since: datetime, unit: str) -> dict[str, dict[datetime, int]]:
        """Per label, the items the model gave it per ``unit`` ("hour" or "day") of their
        sort time, from ``since`` on; empty buckets are left out."""
        if unit not in ("hour", "day"):
            raise ValueError("unit must be 'hour' or 'day'")
        i, s = schema.items, schema.item_scores
        bucket = _bucket(self.dialect, unit).label("bucket")
        query: Any = (
            select(s.c.label, bucket, func.count())
            .select_from(i.join(s, s.c.item_id == i.c.id))
            .where(i.c.sort_at >= since, s.c.assigned)
            .group_by(s.c.label, bucket)
        )
        if self.dialect == "sqlite":
            query = _sqlite_counts(unit, since)
        with self._tx() as conn:
            rows = cast(list[tuple[str, str, int]], conn.execute(query).all())
        counts: dict[str, dict[datetime, int]] = {}
        for label, start, count in rows:
            moment = datetime.fromisoformat(start).replace(tzinfo=UTC)
            counts.setdefault(label, {})[moment] = int(count)
        return counts


def _sqlite_counts(unit: str, since: datetime) -> Any:
    """label_counts' query for SQLite, which keeps the tables of a CROSS JOIN in the order
    written: recent items first (a range of the sort index), then their scores by primary
    key.  Left to itself it reads every tagged score and looks each item up."""
    pattern = "%Y-%m-%dT%H:00" if unit == "hour" else "%Y-%m-%d"
    return text(
        "SELECT item_scores.label, strftime(:pattern, items.sort_at) AS bucket, count(*) "
        "FROM items CROSS JOIN item_scores ON item_scores.item_id = items.id "
        "WHERE items.sort_at >= :since AND item_scores.assigned = 1 "
        "GROUP BY item_scores.label, bucket"
    ).bindparams(
        bindparam("pattern", pattern), bindparam("since", since, type_=schema.UTCDateTime())
    )
