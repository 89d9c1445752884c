"""The :class:`Store`: every query wiretag runs, for SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    and_,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from common.clock import utcnow
from store import schema
from store.errors import FeedExists, StoreError
from store.migrations import migrate
from store.records import Delivery, Feed, FeedHealth, FeedUpdate, NewItem, StoredItem

SQLITE_BUSY_TIMEOUT_MS = 30_000  # the service and the poller share the file
_KEY_CHUNK = 500  # bound on IN (...) lists


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself (pysqlite's own
        # implicit transactions cannot say IMMEDIATE).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoint, never corrupt
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Write transactions take the write lock up front: a deferred one that read first
        # would fail with SQLITE_BUSY_SNAPSHOT instead of waiting for the busy timeout.
        write = conn.get_execution_options().get("wiretag_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def open_store(url: str) -> Store:
    """Connect to the database at ``url``, apply pending migrations, return a Store."""
    engine = _engine(url)
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"cannot open the store at {make_url(url)!r}: {exc}") from exc
    except StoreError:
        engine.dispose()
        raise
    return Store(engine)


def _feed(row: Row[Any]) -> Feed:
    m = row._mapping
    return Feed(
        id=m["id"],
        url=m["url"],
        title=m["title"],
        interval_minutes=m["interval_minutes"],
        etag=m["etag"],
        last_modified=m["last_modified"],
        next_check_at=m["next_check_at"],
        last_checked_at=m["last_checked_at"],
        last_status=m["last_status"],
        error_count=m["error_count"],
        last_error=m["last_error"],
        last_warning=m["last_warning"],
        created_at=m["created_at"],
    )


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


def _sort_at(item: NewItem, fetched_at: datetime) -> datetime:
    """Publication time when credible (not after the fetch), else the fetch time."""
    if item.published_at is not None and item.published_at <= fetched_at:
        return item.published_at
    return fetched_at


class Store:
    """wiretag's database: feeds, tagged items and the webhook outbox."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name
        self._write_lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[Connection]:
        """One transaction; foreign errors become StoreError."""
        # SQLite has one writer at a time: threads of this process queue on a lock
        # instead of SQLite's busy handler, which sleeps in steps of up to 100 ms.
        lock = self._write_lock if write and self.dialect == "sqlite" else nullcontext()
        try:
            with lock, self._engine.connect() as conn:
                if write:
                    conn.execution_options(wiretag_write=True)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StoreError(str(exc).splitlines()[0]) from exc

    def _insert(self, table: Any) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT DO NOTHING."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return dialect_insert(table)

    def ping(self) -> None:
        """Raise StoreError if the database does not answer."""
        with self._tx() as conn:
            conn.execute(select(1))

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    # -- feeds -------------------------------------------------------------------------

    def add_feed(
        self,
        url: str,
        interval_minutes: int | None = None,
        title: str | None = None,
        now: datetime | None = None,
    ) -> Feed:
        """Subscribe to ``url`` (due at once); FeedExists if it is already there."""
        if interval_minutes is not None and interval_minutes < 1:
            raise ValueError("interval_minutes must be at least 1")
        moment = now or utcnow()
        values = {
            "url": url,
            "title": title,
            "interval_minutes": interval_minutes,
            "next_check_at": moment,
            "error_count": 0,
            "created_at": moment,
        }
        with self._tx(write=True) as conn:
            if conn.scalar(select(schema.feeds.c.id).where(schema.feeds.c.url == url)):
                raise FeedExists(url)
            try:
                row = conn.execute(
                    insert(schema.feeds).values(values).returning(*schema.feeds.c)
                ).one()
            except IntegrityError as exc:  # a concurrent add of the same URL won the race
                raise FeedExists(url) from exc
        return _feed(row)

    def get_feed(self, feed_id: int) -> Feed | None:
        """The feed with this id, or None."""
        with self._tx() as conn:
            row = conn.execute(select(schema.feeds).where(schema.feeds.c.id == feed_id)).first()
        return _feed(row) if row else None

    def find_feed(self, url: str) -> Feed | None:
        """The feed with exactly this URL, or None."""
        with self._tx() as conn:
            row = conn.execute(select(schema.feeds).where(schema.feeds.c.url == url)).first()
        return _feed(row) if row else None

    def list_feeds(self) -> list[Feed]:
        """Every feed, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(select(schema.feeds).order_by(schema.feeds.c.id)).all()
        return [_feed(r) for r in rows]

    def count_feeds(self) -> int:
        """How many feeds are subscribed."""
        with self._tx() as conn:
            return int(conn.scalar(select(func.count()).select_from(schema.feeds)) or 0)

    def remove_feed(self, feed_id: int) -> bool:
        """Unsubscribe (its items go with it); False if there was no such feed."""
        with self._tx(write=True) as conn:
            # SQLite cascades through its foreign keys pragma, PostgreSQL natively.
            result = conn.execute(delete(schema.feeds).where(schema.feeds.c.id == feed_id))
        return bool(result.rowcount)

    def feeds_health(self, now: datetime | None = None) -> list[FeedHealth]:
        """Every feed with its last status, error streak and last-24-hours yield."""
        since = (now or utcnow()) - timedelta(hours=24)
        items, scores = schema.items, schema.item_scores
        with self._tx() as conn:
            feeds = conn.execute(select(schema.feeds).order_by(schema.feeds.c.id)).all()
            counts: dict[int, int] = dict(
                conn.execute(
                    select(items.c.feed_id, func.count())
                    .where(items.c.fetched_at >= since)
                    .group_by(items.c.feed_id)
                ).all()
            )
            label_rows = conn.execute(
                select(items.c.feed_id, scores.c.label, func.count())
                .join(scores, scores.c.item_id == items.c.id)
                .where(items.c.fetched_at >= since, scores.c.assigned.is_(True))
                .group_by(items.c.feed_id, scores.c.label)
            ).all()
        labels: dict[int, dict[str, int]] = {}
        for feed_id, label, count in cast(list[tuple[int, str, int]], label_rows):
            labels.setdefault(feed_id, {})[label] = int(count)
        return [
            FeedHealth(
                id=f.id,
                url=f.url,
                title=f.title,
                interval_minutes=f.interval_minutes,
                last_status=f.last_status,
                error_count=f.error_count,
                last_error=f.last_error,
                next_check_at=f.next_check_at,
                last_checked_at=f.last_checked_at,
                items_24h=int(counts.get(f.id, 0)),
                label_counts=labels.get(f.id, {}),
            )
            for f in map(_feed, feeds)
        ]

    # -- polling -----------------------------------------------------------------------

    def claim_due_feeds(
        self,
        owner: str,
        limit: int,
        lease_seconds: int,
        now: datetime | None = None,
        due_before: datetime | None = None,
    ) -> list[Feed]:
        """Lease up to ``limit`` due feeds to ``owner`` for ``lease_seconds``.

        One conditional UPDATE: on PostgreSQL its subquery locks the rows it picks with
        ``FOR UPDATE SKIP LOCKED``, so concurrent pollers pick disjoint feeds; on SQLite
        the statement runs under the database's single write lock.  A lease left by a
        dead poller expires after ``lease_seconds``.
        """
        moment = now or utcnow()
        f = schema.feeds
        due = (
            select(f.c.id)
            .where(
                f.c.next_check_at <= (due_before or moment),
                or_(f.c.lease_until.is_(None), f.c.lease_until < moment),
            )
            .order_by(f.c.next_check_at, f.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(f)
            .where(f.c.id.in_(due.scalar_subquery()))
            .values(lease_owner=owner, lease_until=moment + timedelta(seconds=lease_seconds))
            .returning(*f.c)
        )
        with self._tx(write=True) as conn:
            rows = conn.execute(stmt).all()
        return sorted(map(_feed, rows), key=lambda feed: (feed.next_check_at, feed.id))

    def release_feed(self, feed_id: int, owner: str) -> None:
        """Give back a lease without polling (a poller stopping before it started)."""
        f = schema.feeds
        with self._tx(write=True) as conn:
            conn.execute(
                update(f)
                .where(f.c.id == feed_id, f.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    def known_keys(self, feed_id: int, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` this feed already has items for."""
        wanted = sorted(set(keys))
        found: set[str] = set()
        i = schema.items
        with self._tx() as conn:
            for start in range(0, len(wanted), _KEY_CHUNK):
                chunk = wanted[start : start + _KEY_CHUNK]
                found.update(
                    conn.scalars(
                        select(i.c.dedupe_key).where(
                            i.c.feed_id == feed_id, i.c.dedupe_key.in_(chunk)
                        )
                    )
                )
        return found

    def record_fetch(
        self,
        feed_id: int,
        owner: str,
        result: FeedUpdate,
        new_items: Sequence[NewItem] = (),
        webhooks: Mapping[str, str] | None = None,
    ) -> list[int]:
        """Write one poll of a feed in ONE transaction; return the ids of items added.

        Updates the feed (validators, status, error streak, next check; the lease is
        released), inserts the items not already stored (a key stored meanwhile by another
        poller is skipped, never duplicated), their per-label scores, and one outbox row
        per new item and webhook label it carries.  A crash leaves all or nothing.
        """
        with self._tx(write=True) as conn:
            if not self._update_feed(conn, feed_id, owner, result):
                return []  # the feed was removed while it was being fetched
            added = self._insert_items(conn, feed_id, result.checked_at, new_items)
            self._insert_scores(conn, added)
            self._enqueue(conn, feed_id, added, webhooks or {}, result.checked_at)
        return [item_id for item_id, _ in added]

    def _update_feed(self, conn: Connection, feed_id: int, owner: str, r: FeedUpdate) -> bool:
        f = schema.feeds
        values: dict[str, Any] = {
            "last_checked_at": r.checked_at,
            "next_check_at": r.next_check_at,
            "last_status": r.status,
            "error_count": r.error_count,
            "last_error": r.error,
            "last_warning": r.warning,
            # release only our own lease: after expiry another poller may hold it
            "lease_owner": case((f.c.lease_owner == owner, None), else_=f.c.lease_owner),
            "lease_until": case((f.c.lease_owner == owner, None), else_=f.c.lease_until),
        }
        if r.etag is not None:
            values["etag"] = r.etag
        if r.last_modified is not None:
            values["last_modified"] = r.last_modified
        if r.title is not None:
            values["title"] = r.title
        return bool(conn.execute(update(f).where(f.c.id == feed_id).values(values)).rowcount)

    def _insert_items(
        self, conn: Connection, feed_id: int, fetched_at: datetime, new: Sequence[NewItem]
    ) -> list[tuple[int, NewItem]]:
        if not new:
            return []
        by_key = {item.dedupe_key: item for item in new}
        rows = [
            {
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
            for item in by_key.values()
        ]
        stmt = (
            self._insert(schema.items)
            .on_conflict_do_nothing(index_elements=["feed_id", "dedupe_key"])
            .returning(schema.items.c.id, schema.items.c.dedupe_key)
        )
        inserted = cast(list[tuple[int, str]], conn.execute(stmt, rows).all())
        return [(item_id, by_key[key]) for item_id, key in inserted]

    def _insert_scores(self, conn: Connection, added: Sequence[tuple[int, NewItem]]) -> None:
        rows = [
            {"item_id": item_id, "label": label, "score": score, "assigned": label in item.labels}
            for item_id, item in added
            for label, score in item.scores.items()
        ]
        if rows:
            conn.execute(insert(schema.item_scores), rows)

    def _enqueue(
        self,
        conn: Connection,
        feed_id: int,
        added: Sequence[tuple[int, NewItem]],
        webhooks: Mapping[str, str],
        now: datetime,
    ) -> None:
        rows = [
            {
                "item_id": item_id,
                "label": label,
                "url": webhooks[label],
                "payload": {"label": label, "feed_id": feed_id, "item": _payload(item_id, item)},
                "attempts": 0,
                "next_attempt_at": now,
                "state": "pending",
                "created_at": now,
            }
            for item_id, item in added
            for label in item.labels
            if label in webhooks
        ]
        if rows:
            conn.execute(insert(schema.outbox), rows)

    # -- reading items -----------------------------------------------------------------

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
        i, s = schema.items, schema.item_scores
        query = select(i).order_by(i.c.sort_at.desc(), i.c.id.desc()).limit(limit + 1)
        if label is not None or min_score is not None:
            score_match = [s.c.item_id == i.c.id]
            if label is not None:
                score_match.append(s.c.label == label)
            if min_score is not None:
                score_match.append(s.c.score >= min_score)
            else:
                score_match.append(s.c.assigned.is_(True))
            query = query.where(exists().where(*score_match))
        if since is not None:
            query = query.where(i.c.sort_at >= since)
        if feed_id is not None:
            query = query.where(i.c.feed_id == feed_id)
        if cursor is not None:
            at, last_id = decode_cursor(cursor)
            query = query.where(or_(i.c.sort_at < at, and_(i.c.sort_at == at, i.c.id < last_id)))
        with self._tx() as conn:
            rows = conn.execute(query).all()
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]._mapping
            next_cursor = encode_cursor(last["sort_at"], last["id"])
        return [_item(r) for r in page], next_cursor

    def count_items(self, feed_id: int | None = None) -> int:
        """How many items are stored (for one feed, or in all)."""
        query = select(func.count()).select_from(schema.items)
        if feed_id is not None:
            query = query.where(schema.items.c.feed_id == feed_id)
        with self._tx() as conn:
            return int(conn.scalar(query) or 0)

    def item_keys(self, feed_id: int) -> list[str]:
        """Every dedupe key stored for a feed, duplicates included (for checks)."""
        i = schema.items
        with self._tx() as conn:
            return list(conn.scalars(select(i.c.dedupe_key).where(i.c.feed_id == feed_id)))

    # -- webhook outbox ----------------------------------------------------------------

    def claim_deliveries(
        self, limit: int, lease_seconds: int, now: datetime | None = None
    ) -> list[Delivery]:
        """Lease up to ``limit`` due webhook deliveries (same scheme as feeds)."""
        moment = now or utcnow()
        o = schema.outbox
        due = (
            select(o.c.id)
            .where(
                o.c.state == "pending",
                o.c.next_attempt_at <= moment,
                or_(o.c.lease_until.is_(None), o.c.lease_until < moment),
            )
            .order_by(o.c.next_attempt_at, o.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(o)
            .where(o.c.id.in_(due.scalar_subquery()))
            .values(lease_until=moment + timedelta(seconds=lease_seconds))
            .returning(o.c.id, o.c.item_id, o.c.label, o.c.url, o.c.payload, o.c.attempts)
        )
        with self._tx(write=True) as conn:
            rows = conn.execute(stmt).all()
        deliveries = [
            Delivery(
                id=r.id,
                item_id=r.item_id,
                label=r.label,
                url=r.url,
                payload=r.payload,
                attempts=r.attempts,
            )
            for r in rows
        ]
        return sorted(deliveries, key=lambda d: d.id)

    def delivery_sent(self, delivery_id: int) -> None:
        """Mark a delivery done."""
        o = schema.outbox
        with self._tx(write=True) as conn:
            conn.execute(
                update(o)
                .where(o.c.id == delivery_id)
                .values(state="sent", attempts=o.c.attempts + 1, lease_until=None, last_error=None)
            )

    def delivery_failed(
        self, delivery_id: int, error: str, next_attempt_at: datetime, give_up: bool = False
    ) -> None:
        """Record a failed attempt: retry at ``next_attempt_at``, or give up for good."""
        o = schema.outbox
        with self._tx(write=True) as conn:
            conn.execute(
                update(o)
                .where(o.c.id == delivery_id)
                .values(
                    state="failed" if give_up else "pending",
                    attempts=o.c.attempts + 1,
                    next_attempt_at=next_attempt_at,
                    lease_until=None,
                    last_error=error[:1000],
                )
            )

    def outbox_counts(self) -> dict[str, int]:
        """How many deliveries are pending, sent and failed."""
        o = schema.outbox
        with self._tx() as conn:
            rows = conn.execute(select(o.c.state, func.count()).group_by(o.c.state)).all()
        return {str(state): int(count) for state, count in cast(list[tuple[str, int]], rows)}


def _payload(item_id: int, item: NewItem) -> dict[str, Any]:
    """The JSON a webhook receives for one item."""
    return {
        "id": item_id,
        "link": item.link,
        "title": item.title,
        "summary": item.summary,
        "published_at": item.published_at.isoformat() if item.published_at else None,
        "labels": list(item.labels),
        "scores": dict(item.scores),
        "model_version": item.model_version,
    }
