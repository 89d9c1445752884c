"""How a filtered, newest-first listing of items is asked of the database.

Two plans, chosen per request, because neither planner can tell them apart by itself
(SQLite knows nothing of how many rows a full-text match returns):

* **walk** the ``(sort_at, id)`` index newest first and keep the rows that pass every
  filter, until the page is full.  Cheap when matches are dense: a label that one item in
  twenty carries fills a page of 50 after about a thousand rows.
* **gather** the ids that match the search (at most ``GATHER_LIMIT`` of them), intersect
  them with the ids that carry a wanted label, then fetch and sort only those.  Cheap when
  the search is rare, and the only fast way when a search and a label rarely meet.

The set operations touch only indexes: the FTS5 table (or the GIN index), and a partial
index of the tagged ``(label, item_id)`` pairs.  A filter that the sets only approximate
(analysts' verdicts, scores) is applied exactly to the rows that remain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    Select,
    and_,
    case,
    exists,
    func,
    intersect,
    literal_column,
    or_,
    select,
    text,
    union,
)

from store import schema
from store.records import ItemFilter
from store.search import SearchQuery

GATHER_LIMIT = 20_000  # beyond this many search matches, walking is cheaper
# A search alone gathers only while its matches are few: every match is then fetched and
# sorted, where a walk meets a dense search's first page within a few hundred rows.
GATHER_LIMIT_ALONE = 2_000


def tagged_index_ddl(dialect: str) -> str:
    """The partial index of tagged (label, item_id) pairs, written the way each dialect
    matches it against the listing's ``assigned`` test."""
    where = "assigned" if dialect == "postgresql" else "assigned = 1"
    return f"CREATE INDEX ix_item_scores_tagged ON item_scores (label, item_id) WHERE {where}"


def search_ids(dialect: str, search: SearchQuery) -> Select[Any]:
    """The ids of the items whose title or summary match ``search``."""
    if dialect == "postgresql":
        tsquery = func.websearch_to_tsquery(
            literal_column("'english'::regconfig"), search.websearch()
        )
        return select(schema.items.c.id).where(literal_column("items.search").op("@@")(tsquery))
    return (
        select(literal_column("rowid"))
        .select_from(text("items_fts"))
        .where(text("items_fts MATCH :match").bindparams(match=search.fts5()))
    )


def count_matches(conn: Connection, dialect: str, search: SearchQuery, bound: int) -> int:
    """How many items match ``search``, counted up to ``bound``."""
    limited = search_ids(dialect, search).limit(bound).subquery()
    return int(conn.scalar(select(func.count()).select_from(limited)) or 0)


def label_ids(labels: Sequence[str]) -> Select[Any]:
    """The ids of the items that may carry one of ``labels``: tagged by the model, or given
    any verdict on it (the exact rule, :func:`carries`, is applied to what remains)."""
    s, c = schema.item_scores, schema.corrections
    tagged = select(s.c.item_id).where(s.c.label.in_(labels), s.c.assigned)
    judged = select(c.c.item_id).where(c.c.label.in_(labels))
    return _flat(union(tagged, judged))


def _flat(compound: CompoundSelect) -> Select[Any]:
    """A compound SELECT as a plain one (SQLite refuses parenthesised compound parts)."""
    inner = compound.subquery()
    return select(inner.c[0])


def carries(label: str) -> ColumnElement[bool]:
    """The item carries ``label``: the latest analyst's verdict on it if there is one
    (``reject`` or not), else the model's decision."""
    i, s, c = schema.items, schema.item_scores, schema.corrections
    latest = (
        select(c.c.verdict)
        .where(c.c.item_id == i.c.id, c.c.label == label)
        .order_by(c.c.created_at.desc(), c.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    tagged = exists().where(s.c.item_id == i.c.id, s.c.label == label, s.c.assigned)
    return case((latest.is_(None), tagged), else_=latest != "reject")


def _scored(labels: Sequence[str], min_score: float) -> ColumnElement[bool]:
    i, s = schema.items, schema.item_scores
    match = [s.c.item_id == i.c.id, s.c.score >= min_score]
    if labels:
        match.append(s.c.label.in_(labels))
    return exists().where(*match)


def _id_column(dialect: str, walk: bool) -> ColumnElement[Any]:
    # SQLite drives a query from any rowid IN (...) list it may; the unary plus hides the
    # list from its planner, so it walks the sort index instead.
    return literal_column("+items.id") if walk and dialect == "sqlite" else schema.items.c.id


def filtered(
    conn: Connection, dialect: str, query: Select[Any], filters: ItemFilter
) -> Select[Any]:
    """``query`` over ``items`` narrowed by every filter that is set, planned as above."""
    i = schema.items
    bound = GATHER_LIMIT if filters.labels and filters.min_score is None else GATHER_LIMIT_ALONE
    walk = filters.search is None or (count_matches(conn, dialect, filters.search, bound) >= bound)
    ids = _id_column(dialect, walk)
    if walk:
        if filters.search is not None:
            query = query.where(ids.in_(search_ids(dialect, filters.search)))
        if filters.labels and filters.min_score is None and dialect == "sqlite":
            # PostgreSQL hashes the exact test's subqueries by itself (see carries)
            query = query.where(ids.in_(label_ids(filters.labels)))
    else:
        assert filters.search is not None
        gathered: Any = search_ids(dialect, filters.search)
        if filters.labels and filters.min_score is None:
            gathered = _flat(intersect(gathered, label_ids(filters.labels)))
        query = query.where(ids.in_(gathered))
    if filters.min_score is not None:
        query = query.where(_scored(filters.labels, filters.min_score))
    elif filters.labels:
        query = query.where(or_(*map(carries, filters.labels)))
    if filters.since is not None:
        query = query.where(i.c.sort_at >= filters.since)
    if filters.until is not None:
        query = query.where(i.c.sort_at < filters.until)
    if filters.feed_id is not None:
        query = query.where(i.c.feed_id == filters.feed_id)
    if filters.collapse:
        query = query.where(newest_of_story())
    return query


def newest_of_story() -> ColumnElement[bool]:
    """The item is its story's newest (by sort time, then id), or in no story: one probe
    of the ``(story_id, sort_at, id)`` index per item."""
    i = schema.items
    j = schema.items.alias("newer")
    newer = exists().where(
        j.c.story_id == i.c.story_id,
        or_(j.c.sort_at > i.c.sort_at, and_(j.c.sort_at == i.c.sort_at, j.c.id > i.c.id)),
    )
    return or_(i.c.story_id.is_(None), ~newer)
