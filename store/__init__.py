"""The store: wiretag's schema and every SQL statement, for SQLite and PostgreSQL alike.

The service, the poller and the command line open it with :func:`open_store` (which
applies the schema migrations) and talk to it through :class:`Store` and the plain
dataclasses of :mod:`store.records`; nothing outside this package writes SQL.

One room per concern, over one base (:mod:`store.base`: engine, pragmas, transactions,
the lease query): :mod:`store.feeds` (feeds and their leases), :mod:`store.items` (items,
the paging cursor, full-text search with :mod:`store.search`, per-label counts),
:mod:`store.outbox` (webhook deliveries), :mod:`store.corrections` (analysts' verdicts and
the review queue), :mod:`store.stories` (stories, kept signatures, surges);
:mod:`store.store` joins them into :class:`Store`.  :mod:`store.schema` and :mod:`store.migrations` hold
the tables and their history.

Exceptions::

    StoreError          the database cannot be reached or refused a statement
    ├── FeedExists      add_feed was given a URL that is already in the store
    └── ItemNotFound    a correction names an item that is not stored
"""

from store.errors import FeedExists, ItemNotFound, StoreError
from store.items import decode_cursor
from store.records import (
    Added,
    Alert,
    Correction,
    Delivery,
    Feed,
    FeedHealth,
    FeedUpdate,
    Grouping,
    ItemFilter,
    ItemPage,
    KeptSignature,
    NewItem,
    NewSurge,
    Retagged,
    StoredItem,
    Story,
    SurgeRecord,
    Uncertain,
    effective_labels,
    latest_verdicts_of,
)
from store.search import SearchQuery, parse_query
from store.store import Store, open_store

__all__ = [
    "Added",
    "Alert",
    "Correction",
    "Delivery",
    "Feed",
    "FeedExists",
    "FeedHealth",
    "FeedUpdate",
    "Grouping",
    "ItemFilter",
    "ItemNotFound",
    "ItemPage",
    "KeptSignature",
    "NewItem",
    "NewSurge",
    "Retagged",
    "SearchQuery",
    "Store",
    "StoreError",
    "StoredItem",
    "Story",
    "SurgeRecord",
    "Uncertain",
    "decode_cursor",
    "effective_labels",
    "latest_verdicts_of",
    "open_store",
    "parse_query",
]
