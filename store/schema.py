"""The tables, written once in SQLAlchemy Core for SQLite and PostgreSQL.

Times are stored as naive UTC (``UTCDateTime``) so that SQLite's text timestamps sort and
compare the same way as PostgreSQL's; the boundary converts to and from aware datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

# SQLite only autoincrements a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, naive UTC in the column, aware UTC datetimes out."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

feeds = Table(
    "feeds",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False, unique=True),
    Column("title", Text),
    Column("interval_minutes", Integer),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("next_check_at", UTCDateTime, nullable=False),
    Column("last_checked_at", UTCDateTime),
    Column("last_status", Integer),
    Column("error_count", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("last_warning", Text),
    Column("lease_owner", String(200)),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    # when an operator paused the feed (migration 4); a paused feed is never due
    Column("paused_at", UTCDateTime),
    Index("ix_feeds_due", "next_check_at"),
)

items = Table(
    "items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("feed_id", BigId, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("dedupe_key", String(255), nullable=False),
    Column("link", Text),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("published_at", UTCDateTime),
    Column("fetched_at", UTCDateTime, nullable=False),
    # published time when it is credible (not after the fetch), else fetched time: the
    # "newest first" order, kept in a column so that it can be indexed and paged on.
    Column("sort_at", UTCDateTime, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("scores", JSON, nullable=False),
    Column("model_version", String(100), nullable=False),
    UniqueConstraint("feed_id", "dedupe_key", name="uq_items_feed_key"),
    Index("ix_items_sort", "sort_at", "id"),
    Index("ix_items_feed_fetched", "feed_id", "fetched_at"),
)

# One row per item and label: what the label/min_score filters and label counts query.
item_scores = Table(
    "item_scores",
    metadata,
    Column("item_id", BigId, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("label", String(64), primary_key=True),
    Column("score", Float, nullable=False),
    Column("assigned", Boolean, nullable=False),
    Index("ix_item_scores_label", "label", "score"),
)

# The webhook outbox, written in the same transaction as the items it announces.
outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_id", BigId, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("last_error", Text),
    Column("state", String(16), nullable=False, default="pending"),  # pending|sent|failed
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_outbox_due", "state", "next_attempt_at"),
)

# Analysts' verdicts on an item's labels (migration 2).  Never folded into ``items``:
# re-tagging rewrites the model's labels and scores, and the verdicts must outlive that.
# The latest verdict per (item, label) wins.
VERDICTS = ("confirm", "reject", "add")
corrections = Table(
    "corrections",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_id", BigId, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(64), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("analyst", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_corrections_item_label", "item_id", "label", "created_at"),
    Index("ix_corrections_created", "created_at", "id"),
)
