"""Re-tagging: stored items whose tags came from another model version, read and rewritten
in batches by id (``python -m poller retag``).

Each batch is one short transaction, so a poller keeps storing meanwhile; the work left is
always "items not at this version", so a killed run resumes by running again.  Only the
model's columns change (``items.labels/scores/model_version``, ``item_scores``, and the
labels of the items' stories, recomputed from their items): analysts' corrections live in
their own table and keep winning when items are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, delete, func, select, update

from store import schema
from store.items import item_from_row, score_rows
from store.records import Retagged, StoredItem
from store.stories import StoriesMixin


def _stale(version: str, since: datetime | None) -> list[ColumnElement[bool]]:
    i = schema.items
    found = [i.c.model_version != version]
    if since is not None:
        found.append(i.c.sort_at >= since)
    return found


class RetagMixin(StoriesMixin):
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
            found = conn.execute(select(i.c.id, i.c.story_id).where(i.c.id.in_(ids))).all()
            present = {int(r[0]) for r in found}
            kept = [r for r in retagged if r.item_id in present]
            if kept:
                scored = sorted({label for r in kept for label in r.scores})
                # a label the model no longer scores loses its rows; the others are
                # updated in place (cheaper than delete and insert: no foreign-key checks)
                conn.execute(delete(s).where(s.c.item_id.in_(ids), s.c.label.not_in(scored)))
                conn.execute(
                    self._upsert_scores(),
                    score_rows((r.item_id, r.labels, r.scores) for r in kept),
                )
            self._relabel_stories(conn, {int(r[1]) for r in found if r[1] is not None})
        return len(present)

    def _relabel_stories(self, conn: Connection, story_ids: set[int]) -> None:
        """Set these stories' labels to the union of their items' labels, as they are now
        (the re-tagged ones new): the story listing and the surge counts read them.  The
        stories' rows are locked first, as a poller adding to them does
        (:meth:`StoriesMixin._lock_stories`), so neither loses the other's labels."""
        alive = self._lock_stories(conn, story_ids)
        if not alive:
            return
        i, s = schema.items, schema.stories
        labels: dict[int, set[str]] = {story_id: set() for story_id in alive}
        query = select(i.c.story_id, i.c.labels).where(i.c.story_id.in_(sorted(alive)))
        for row in conn.execute(query):
            labels[int(row.story_id)].update(row.labels)
        conn.execute(
            update(s)
            .where(s.c.id == bindparam("sid"))
            .values(labels=bindparam("l", type_=s.c.labels.type)),
            [{"sid": sid, "l": sorted(found)} for sid, found in sorted(labels.items())],
        )

    def _upsert_scores(self) -> Any:
        """INSERT into item_scores that updates the score and decision of a present row."""
        stmt = self._insert(schema.item_scores)
        return stmt.on_conflict_do_update(
            index_elements=["item_id", "label"],
            set_={"score": stmt.excluded.score, "assigned": stmt.excluded.assigned},
        )
