"""Test-side access to a store: a throw-away PostgreSQL schema, and the counts that tests
(and bench/bench_poller.py) check but the product never asks for, read straight from the
tables so that a test does not trust the code it checks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text


@contextmanager
def scratch_schema(base_url: str, prefix: str = "wt") -> Iterator[str]:
    """Yield a URL whose connections use a new, empty schema; drop the schema afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        sep = "&" if "?" in base_url else "?"
        try:
            yield f"{base_url}{sep}options=-csearch_path%3D{name}"
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    finally:
        admin.dispose()


def _rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


def count_items(url: str, feed_id: int | None = None) -> int:
    """How many items the store at ``url`` holds (for one feed, or in all)."""
    if feed_id is None:
        return int(_rows(url, "SELECT count(*) FROM items")[0][0])
    return int(_rows(url, "SELECT count(*) FROM items WHERE feed_id = :f", f=feed_id)[0][0])


def item_keys(url: str, feed_id: int) -> list[str]:
    """Every dedupe key stored for a feed, duplicates included."""
    rows = _rows(url, "SELECT dedupe_key FROM items WHERE feed_id = :f", f=feed_id)
    return [str(key) for (key,) in rows]


def outbox_counts(url: str) -> dict[str, int]:
    """How many webhook deliveries are pending, sent and failed."""
    rows = _rows(url, "SELECT state, count(*) FROM webhook_outbox GROUP BY state")
    return {str(state): int(count) for state, count in rows}
