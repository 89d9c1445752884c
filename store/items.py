"""Tagged items: what the poller adds, what ``GET /v1/items`` pages through, and its cursor."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Row, Select, and_, exists, insert, or_, select

from store import schema
from store.base import StoreBase
from store.records import NewItem, StoredItem

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


def _item(row: Row[Any]) -> StoredItem:
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


def _score_filter(query: Select[Any], label: str | None, min_score: float | None) -> Select[Any]:
    """Keep items carrying ``label``, or scoring ``min_score`` for it (or for any label)."""
    if label is None and min_score is None:
        return query
    i, s = schema.items, schema.item_scores
    match = [s.c.item_id == i.c.id]
    if label is not None:
        match.append(s.c.label == label)
    match.append(s.c.score >= min_score if min_score is not None else s.c.assigned.is_(True))
    return query.where(exists().where(*match))


def _after(query: Select[Any], cursor: str | None) -> Select[Any]:
    """Keep the items after the cursor's (sort time, id) in newest-first order."""
    if cursor is None:
        return query
    i = schema.items
    at, last_id = decode_cursor(cursor)
    return query.where(or_(i.c.sort_at < at, and_(i.c.sort_at == at, i.c.id < last_id)))


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

    def list_items(
        self,
        *,
        label: str | None = None,
        min_score: float | None = None,
        since: datetime | None = None,
        feed_id: int | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[StoredItem], str | None]:
        """Items newest first (published, else fetched time) and the next page's cursor.

        ``label`` alone keeps items carrying that label; with ``min_score`` it keeps items
        whose score for that label is at least ``min_score``; ``min_score`` alone keeps
        items with any label scoring at least that.  ValueError on a bad cursor or limit.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        i = schema.items
        query = select(i).order_by(i.c.sort_at.desc(), i.c.id.desc()).limit(limit + 1)
        query = _after(_score_filter(query, label, min_score), cursor)
        if since is not None:
            query = query.where(i.c.sort_at >= since)
        if feed_id is not None:
            query = query.where(i.c.feed_id == feed_id)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        page = rows[:limit]
        last = page[-1]._mapping if len(rows) > limit else None
        next_cursor = encode_cursor(last["sort_at"], last["id"]) if last else None
        return [_item(r) for r in page], next_cursor

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
        rows = [
            {"item_id": item_id, "label": label, "score": score, "assigned": label in item.labels}
            for item_id, item in added
            for label, score in item.scores.items()
        ]
        if rows:
            conn.execute(insert(schema.item_scores), rows)
