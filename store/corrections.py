"""Analysts' corrections: verdicts on an item's labels, kept apart from the model's tags.

The model's labels and scores (``items``, ``item_scores``) are the model's alone: a
re-tag may rewrite them.  What analysts said lives here, one row per verdict, and the
latest verdict per (item, label) wins; :func:`store.records.effective_labels` applies it.
Items with a correction are training data: retention keeps them (see
:meth:`CorrectionsMixin.corrected_clause`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, exists, insert, select

from common.clock import utcnow
from common.labels import LABELS
from store import schema
from store.base import StoreBase
from store.errors import ItemNotFound
from store.items import item_from_row
from store.records import Correction, StoredItem, Uncertain, latest_verdicts_of

MAX_ANALYST_CHARS = 100
_CHUNK = 500  # bound on IN (...) lists


def _correction(row: Row[Any]) -> Correction:
    m = row._mapping
    return Correction(
        m["id"], m["item_id"], m["label"], m["verdict"], m["analyst"], m["created_at"]
    )


def check_verdicts(verdicts: Sequence[tuple[str, str]], analyst: str) -> None:
    """ValueError unless every (label, verdict) is known and the analyst is named."""
    if not analyst.strip() or len(analyst) > MAX_ANALYST_CHARS:
        raise ValueError(f"the analyst's name must have 1 to {MAX_ANALYST_CHARS} characters")
    for label, verdict in verdicts:
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}; known: {', '.join(LABELS)}")
        if verdict not in schema.VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}; known: {', '.join(schema.VERDICTS)}")


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CHUNK):
        yield wanted[start : start + _CHUNK]


class CorrectionsMixin(StoreBase):
    """Record verdicts, read them back per item or as a feed, and find corrected items."""

    def add_corrections(
        self,
        item_id: int,
        verdicts: Sequence[tuple[str, str]],
        analyst: str,
        now: datetime | None = None,
    ) -> list[Correction]:
        """Record (label, verdict) pairs on one item, in one transaction.

        ValueError for an unknown label or verdict or an unnamed analyst; ItemNotFound if
        the item is not (or no longer) stored.
        """
        check_verdicts(verdicts, analyst)
        moment = now or utcnow()
        c, i = schema.corrections, schema.items
        rows = [
            {
                "item_id": item_id,
                "label": label,
                "verdict": verdict,
                "analyst": analyst.strip(),
                "created_at": moment,
            }
            for label, verdict in verdicts
        ]
        with self._tx(write=True) as conn:
            if conn.scalar(select(i.c.id).where(i.c.id == item_id)) is None:
                raise ItemNotFound(item_id)
            if not rows:
                return []
            added = conn.execute(insert(c).returning(*c.c), rows).all()
        return sorted(map(_correction, added), key=lambda x: x.id)

    def list_corrections(
        self, *, since: datetime | None = None, after_id: int | None = None, limit: int = 100
    ) -> list[Correction]:
        """Corrections in the order they were made (by id), from ``since`` and after the
        correction ``after_id`` (the paging cursor)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        c = schema.corrections
        query = select(c).order_by(c.c.id).limit(limit)
        if since is not None:
            query = query.where(c.c.created_at >= since)
        if after_id is not None:
            query = query.where(c.c.id > after_id)
        with self._tx() as conn:
            return [_correction(r) for r in conn.execute(query)]

    def corrections_for(self, item_ids: Iterable[int]) -> dict[int, list[Correction]]:
        """Every correction of these items, newest first, per item."""
        c = schema.corrections
        found: dict[int, list[Correction]] = {}
        with self._tx() as conn:
            for chunk in _chunks(item_ids):
                query = (
                    select(c)
                    .where(c.c.item_id.in_(chunk))
                    .order_by(c.c.created_at.desc(), c.c.id.desc())
                )
                for row in conn.execute(query):
                    found.setdefault(row.item_id, []).append(_correction(row))
        return found

    def latest_verdicts(self, item_ids: Iterable[int]) -> dict[int, dict[str, str]]:
        """The verdict that counts per item and label: the latest one."""
        found = self.corrections_for(item_ids).items()
        return {item_id: latest_verdicts_of(history) for item_id, history in found}

    @staticmethod
    def corrected_clause(item_id: ColumnElement[Any]) -> ColumnElement[bool]:
        """``EXISTS`` a correction of the item whose id is ``item_id``: for statements that
        must spare corrected items (retention) or pick them (export)."""
        c = schema.corrections
        return exists().where(c.c.item_id == item_id)

    def corrected_item_ids(self, item_ids: Iterable[int] | None = None) -> set[int]:
        """Which of ``item_ids`` (or of all items, if None) an analyst corrected."""
        c = schema.corrections
        with self._tx() as conn:
            if item_ids is None:
                return set(conn.scalars(select(c.c.item_id).distinct()))
            found: set[int] = set()
            for chunk in _chunks(item_ids):
                found.update(conn.scalars(select(c.c.item_id).where(c.c.item_id.in_(chunk))))
            return found

    def corrected_items(self, batch: int = 500) -> Iterator[tuple[StoredItem, dict[str, str]]]:
        """Every corrected item with its latest verdicts, by id, read ``batch`` at a time
        (short transactions: an export never holds the store)."""
        after = 0
        while True:
            with self._tx() as conn:
                items = _corrected_batch(conn, after, batch)
            if not items:
                return
            latest = self.latest_verdicts(item.id for item in items)
            for item in items:
                yield item, latest.get(item.id, {})
            after = items[-1].id


def _corrected_batch(conn: Connection, after: int, limit: int) -> list[StoredItem]:
    i = schema.items
    query = (
        select(i)
        .where(i.c.id > after, CorrectionsMixin.corrected_clause(i.c.id))
        .order_by(i.c.id)
        .limit(limit)
    )
    return [item_from_row(r) for r in conn.execute(query)]


class ReviewMixin(CorrectionsMixin):
    """The review queue: uncorrected items whose scores lie nearest their thresholds."""

    def uncertain_items(
        self, thresholds: Mapping[str, float], *, limit: int = 50, offset: int = 0
    ) -> list[Uncertain]:
        """Items no analyst has corrected, the least certain first: by the smallest gap
        between one of their scores and that label's threshold (the model in service's).

        Each label's nearest scores above and below its threshold come from the
        (label, score) index; nothing scans every item.
        """
        if limit < 1 or offset < 0:
            raise ValueError("limit must be at least 1 and offset at least 0")
        wanted = offset + limit
        nearest: dict[int, tuple[float, str, float]] = {}
        with self._tx() as conn:
            for label, threshold in thresholds.items():
                for item_id, score in _nearest(conn, label, threshold, wanted):
                    gap = abs(score - threshold)
                    if item_id not in nearest or gap < nearest[item_id][0]:
                        nearest[item_id] = (gap, label, score)
            chosen = sorted(nearest.items(), key=lambda kv: (kv[1][0], kv[0]))
            chosen = chosen[offset:wanted]
            items = _items_by_id(conn, [item_id for item_id, _ in chosen])
        return [
            Uncertain(items[item_id], label, score, thresholds[label])
            for item_id, (_, label, score) in chosen
            if item_id in items
        ]


def _nearest(conn: Connection, label: str, threshold: float, n: int) -> list[tuple[int, float]]:
    """Up to ``n`` uncorrected items scoring nearest ``threshold`` from above, and ``n``
    from below."""
    s = schema.item_scores
    base = select(s.c.item_id, s.c.score).where(
        s.c.label == label, ~CorrectionsMixin.corrected_clause(s.c.item_id)
    )
    above = base.where(s.c.score >= threshold).order_by(s.c.score.asc()).limit(n)
    below = base.where(s.c.score < threshold).order_by(s.c.score.desc()).limit(n)
    found: list[tuple[int, float]] = []
    for query in (above, below):
        found += [(int(r[0]), float(r[1])) for r in conn.execute(query)]
    return found


def _items_by_id(conn: Connection, ids: Sequence[int]) -> dict[int, StoredItem]:
    i = schema.items
    found: dict[int, StoredItem] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(select(i).where(i.c.id.in_(chunk))):
            found[row.id] = item_from_row(row)
    return found
