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
    LargeBinary,
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
    # the story the item is a copy in (migration 3); None: stored before stories, or
    # nothing to sign
    Column("story_id", BigId, ForeignKey("stories.id", ondelete="SET NULL")),
    UniqueConstraint("feed_id", "dedupe_key", name="uq_items_feed_key"),
    Index("ix_items_sort", "sort_at", "id"),
    Index("ix_items_feed_fetched", "feed_id", "fetched_at"),
    # a story's items newest first: its newest item (collapse) is one index probe
    Index("ix_items_story", "story_id", "sort_at", "id"),
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

# The webhook outbox, written in the same transaction as the items it announces.  A
# ``surge`` event announces no item: its item_id is None (migration 3).
outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_id", BigId, ForeignKey("items.id", ondelete="CASCADE")),
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


# -- stories and surges (migration 3) ---------------------------------------------------

# A story: the items that are copies of one report.  The counts and labels are kept by
# the writer that adds items, under a lock on the story's row: they count the items and
# feeds added, and items deleted later (retention, a removed feed) are not taken off.
stories = Table(
    "stories",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("feed_count", Integer, nullable=False),
    Column("labels", JSON, nullable=False),  # the union of its items' labels
    Index("ix_stories_last_seen", "last_seen_at", "id"),
    Index("ix_stories_first_seen", "first_seen_at"),
)

# Which feeds carried each story (its feed count grows when a feed carries it first).
story_feeds = Table(
    "story_feeds",
    metadata,
    Column("story_id", BigId, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("feed_id", BigId, ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True),
)

# Each recent item's MinHash signature, so that a poller rebuilds its index of the last
# 72 hours at start and picks up the items other pollers stored since it last looked.
item_signatures = Table(
    "item_signatures",
    metadata,
    Column("item_id", BigId, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Column("owner", String(200), nullable=False),  # the poller that stored it
    Column("scheme", String(100), nullable=False),  # stories.Params.scheme
    Column("signature", LargeBinary, nullable=False),
    Index("ix_item_signatures_seen", "seen_at"),
)

# One row per story and label that has alerted: a webhook fires once per story and label.
story_alerts = Table(
    "story_alerts",
    metadata,
    Column("story_id", BigId, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("label", String(64), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# Surges found: once per label and clock hour, whichever poller found it first.
surges = Table(
    "surges",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("label", String(64), nullable=False),
    Column("hour_start", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False),
    Column("expected", Float, nullable=False),
    Column("p_value", Float, nullable=False),
    Column("detected_at", UTCDateTime, nullable=False),
    UniqueConstraint("label", "hour_start", name="uq_surges_label_hour"),
    Index("ix_surges_detected", "detected_at", "id"),
)
