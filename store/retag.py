"""Re-tagging: stored items whose tags came from another model version, read and rewritten
in batches by id (``python -m poller retag``).

Each batch is one short transaction, so a poller keeps storing meanwhile; the work left is
always "items not at this version", so a killed run resumes by running again.  Only the
model's columns change (``items.labels/scores/model_version``, ``item_scores``):
analysts' corrections live in their own table and keep winning when items are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, insert, select, update

from store import schema
from store.base import StoreBase
from store.items import item_from_row
from store.records import Retagged, StoredItem


def _stale(version: str, since: datetime | None) -> list[ColumnElement[bool]]:
    i = schema.items
    found = [i.c.model_version != version]
    if since is not None:
        found.append(i.c.sort_at >= since)
    return found


class RetagMixin(StoreBase):
    """Find the items another model tagged, and write their new tags."""

    def count_stale(self, version: str, since: datetime | None = None) -> int:
        """How many items (from ``since`` on, by sort time) another model version tagged."""
        query = select(func.count()).select_from(schema.items).where(*_stale(version, since))
        with self._tx() as conn:
            return int(conn.scalar(query) or 0)

    def stale_items(
        self, version: str, *, after_id: int = 0, limit: int = 500, since: datetime | None = None
    ) -> list[StoredItem]:
        """Up to ``limit`` items after ``after_id``, by id, that another version tagged."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        i = schema.items
        query = (
            select(i)
            .where(i.c.id > after_id, *_stale(version, since))
            .order_by(i.c.id)
            .limit(limit)
        )
        with self._tx() as conn:
            return [item_from_row(r) for r in conn.execute(query)]

    def write_retags(self, retagged: Sequence[Retagged], version: str) -> int:
        """Write new tags and their ``item_scores`` rows in one transaction; return how
        many items were rewritten (an item deleted meanwhile is skipped)."""
        if not retagged:
            return 0
        i, s = schema.items, schema.item_scores
        rows = [
            {"b_id": r.item_id, "b_labels": list(r.labels), "b_scores": dict(r.scores)}
            for r in retagged
        ]
        stmt = (
            update(i)
            .where(i.c.id == bindparam("b_id"))
            .values(
                labels=bindparam("b_labels", type_=i.c.labels.type),
                scores=bindparam("b_scores", type_=i.c.scores.type),
                model_version=version,
            )
        )
        ids = [r.item_id for r in retagged]
        with self._tx(write=True) as conn:
            conn.execute(stmt, rows)
            present: set[int] = set(conn.scalars(select(i.c.id).where(i.c.id.in_(ids))))
            conn.execute(delete(s).where(s.c.item_id.in_(ids)))
            scores = _score_rows([r for r in retagged if r.item_id in present])
            if scores:
                conn.execute(insert(s), scores)
        return len(present)


def _score_rows(retagged: Sequence[Retagged]) -> list[dict[str, Any]]:
    return [
        {"item_id": r.item_id, "label": label, "score": score, "assigned": label in r.labels}
        for r in retagged
        for label, score in r.scores.items()
    ]
