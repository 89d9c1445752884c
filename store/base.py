"""The store's base: the engine (SQLite pragmas, PostgreSQL pool), transactions, leases.

Every domain mixin (:mod:`store.feeds`, :mod:`store.items`, :mod:`store.outbox`) builds on
:class:`StoreBase`, the way lemon24/reader's storage mixins share one base.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    Update,
    create_engine,
    event,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from store.errors import StoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000  # the service and the poller share the file


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


def make_engine(url: str) -> Engine:
    """The engine for ``url``: SQLite in WAL mode, or a pre-pinged PostgreSQL pool."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def lease_due(
    table: Table,
    due: ColumnElement[bool],
    order: Sequence[ColumnElement[Any]],
    limit: int,
    now: datetime,
    values: Mapping[str, Any],
) -> Update:
    """The lease: one UPDATE that sets ``values`` on up to ``limit`` due, unleased rows.

    On PostgreSQL the subquery locks the rows it picks with ``FOR UPDATE SKIP LOCKED``, so
    concurrent takers pick disjoint rows; on SQLite the statement runs under the
    database's single write lock.  A lease whose ``lease_until`` has passed (its holder
    died) is free again.  Feeds and webhook deliveries are leased alike.
    """
    c = table.c
    free = or_(c.lease_until.is_(None), c.lease_until < now)
    pick = (
        select(c.id)
        .where(due, free)
        .order_by(*order)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return update(table).where(c.id.in_(pick.scalar_subquery())).values(dict(values))


class StoreBase:
    """One engine, and transactions over it that turn foreign errors into StoreError."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name
        self._write_lock = threading.Lock()

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

    def _insert(self, table: Table) -> Any:
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
