"""Plain dataclasses that cross the store's boundary; no SQL types leak out of store/."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from store.search import SearchQuery


def iso(moment: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 text (``None`` stays ``None``)."""
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class Feed:
    """A subscribed feed and what the poller remembers about it."""

    id: int
    url: str
    title: str | None
    interval_minutes: int | None  # None: the default interval from the settings
    etag: str | None
    last_modified: str | None
    next_check_at: datetime
    last_checked_at: datetime | None
    last_status: int | None
    error_count: int
    last_error: str | None
    last_warning: str | None  # e.g. feedparser's bozo reason on a feed that still parsed
    created_at: datetime
    paused_at: datetime | None = None  # paused by an operator: never due until resumed

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, times as ISO 8601."""
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "interval_minutes": self.interval_minutes,
            "paused": self.paused_at is not None,
            "paused_at": iso(self.paused_at),
            "last_status": self.last_status,
            "error_count": self.error_count,
            "last_error": self.last_error,
            "last_warning": self.last_warning,
            "next_check_at": iso(self.next_check_at),
            "last_checked_at": iso(self.last_checked_at),
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class FeedHealth:
    """A feed's health for ``GET /v1/feeds``: last status, error streak, recent yield."""

    id: int
    url: str
    title: str | None
    interval_minutes: int | None
    last_status: int | None
    error_count: int
    last_error: str | None
    next_check_at: datetime
    last_checked_at: datetime | None
    items_24h: int
    label_counts: dict[str, int]  # labels carried by the items fetched in the last 24 h
    paused: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, times as ISO 8601."""
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "interval_minutes": self.interval_minutes,
            "paused": self.paused,
            "last_status": self.last_status,
            "error_count": self.error_count,
            "last_error": self.last_error,
            "next_check_at": iso(self.next_check_at),
            "last_checked_at": iso(self.last_checked_at),
            "items_24h": self.items_24h,
            "label_counts": dict(self.label_counts),
        }


@dataclass(frozen=True)
class StoredItem:
    """A tagged feed entry as stored."""

    id: int
    feed_id: int
    link: str | None
    title: str
    summary: str
    published_at: datetime | None
    fetched_at: datetime
    labels: list[str]
    scores: dict[str, float]
    model_version: str
    story_id: int | None = None
    story_items: int | None = None  # the story's item count, in a listing collapsed by story

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, times as ISO 8601 (``story_items`` only when collapsed)."""
        found = {
            "id": self.id,
            "feed_id": self.feed_id,
            "link": self.link,
            "title": self.title,
            "summary": self.summary,
            "published_at": iso(self.published_at),
            "fetched_at": iso(self.fetched_at),
            "labels": list(self.labels),
            "scores": dict(self.scores),
            "model_version": self.model_version,
            "story_id": self.story_id,
        }
        if self.story_items is not None:
            found["story_items"] = self.story_items
        return found


@dataclass(frozen=True)
class Alert:
    """A webhook POST to queue with a new item: the URL and the body the poller built."""

    label: str
    url: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Grouping:
    """The story a new item joins, decided by the poller, and the signature to keep.

    ``story`` is a stored story's id, or a key of the poller's choosing that names a new
    story (the batch's items with the same key start it together).  A stored story gone
    meanwhile (its items deleted) is started anew.
    """

    story: int | str
    signature: bytes
    scheme: str  # what made the signature (stories.Params.scheme)


@dataclass(frozen=True)
class NewItem:
    """A classified entry the poller hands to :meth:`Store.record_fetch`, with the webhook
    alerts it sets off (written to the outbox only if the item is new to the store, and
    only once per story and label when it is grouped)."""

    dedupe_key: str
    link: str | None
    title: str
    summary: str
    published_at: datetime | None
    labels: list[str]
    scores: dict[str, float]
    model_version: str
    alerts: tuple[Alert, ...] = ()
    grouping: Grouping | None = None


@dataclass(frozen=True)
class Added:
    """An item :meth:`Store.record_poll` added, and the story it was stored in."""

    id: int
    dedupe_key: str
    story_id: int | None


@dataclass(frozen=True)
class FeedUpdate:
    """What one fetch of a feed taught us; the poller decides, the store writes it."""

    checked_at: datetime
    next_check_at: datetime
    status: int | None  # HTTP status, None when no response came (timeout, refused, unsafe)
    error_count: int  # the new streak: 0 after a success
    error: str | None = None
    warning: str | None = None
    etag: str | None = None  # None keeps the stored validator
    last_modified: str | None = None
    title: str | None = None  # None keeps the stored title


@dataclass(frozen=True)
class Delivery:
    """One pending webhook POST from the outbox: an :class:`Alert` and its item's id
    (None for an event about no one item: a surge)."""

    id: int
    item_id: int | None
    label: str
    url: str
    payload: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    story_id: int | None = None  # the item's story, when it has one


@dataclass(frozen=True)
class Correction:
    """An analyst's verdict on one label of one item: ``confirm``, ``reject`` or ``add``."""

    id: int
    item_id: int
    label: str
    verdict: str
    analyst: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, times as ISO 8601."""
        return {
            "id": self.id,
            "item_id": self.item_id,
            "label": self.label,
            "verdict": self.verdict,
            "analyst": self.analyst,
            "created_at": iso(self.created_at),
        }


def latest_verdicts_of(history: Iterable[Correction]) -> dict[str, str]:
    """The verdict that counts per label in one item's newest-first history (as
    ``corrections_for`` gives it): the latest one."""
    latest: dict[str, str] = {}
    for correction in history:
        latest.setdefault(correction.label, correction.verdict)
    return latest


def effective_labels(
    model_labels: Iterable[str], latest: Mapping[str, str], order: Sequence[str]
) -> list[str]:
    """The model's labels with the latest verdict per label applied (``reject`` removes,
    ``confirm`` and ``add`` keep or add), in ``order``."""
    kept = set(model_labels)
    for label, verdict in latest.items():
        if verdict == "reject":
            kept.discard(label)
        else:
            kept.add(label)
    return [label for label in order if label in kept]


@dataclass(frozen=True)
class ItemFilter:
    """Which items a listing keeps; every field left at its default keeps all."""

    labels: tuple[str, ...] = ()  # any of these (analysts' verdicts applied)
    min_score: float | None = None  # with labels: one of theirs; else any label's
    since: datetime | None = None
    until: datetime | None = None
    feed_id: int | None = None
    search: SearchQuery | None = None
    collapse: bool = False  # one item per story: its newest (items of no story each count)


@dataclass(frozen=True)
class ItemPage:
    """A page of items, newest first, with the cursors of the older and newer pages."""

    items: list[StoredItem]
    older: str | None
    newer: str | None


@dataclass(frozen=True)
class Uncertain:
    """An item in the review queue: the label whose score is nearest its threshold."""

    item: StoredItem
    label: str
    score: float
    threshold: float

    @property
    def margin(self) -> float:
        """How far the score is from the threshold."""
        return abs(self.score - self.threshold)


@dataclass(frozen=True)
class Retagged:
    """A stored item's new tags from another model (:meth:`Store.write_retags`)."""

    item_id: int
    labels: list[str]
    scores: dict[str, float]


@dataclass(frozen=True)
class KeptSignature:
    """A stored item's signature as kept for the story index."""

    item_id: int
    story_id: int
    seen_at: datetime
    signature: bytes


@dataclass(frozen=True)
class Story:
    """A story: copies of one report across feeds, with its newest items."""

    id: int
    first_seen_at: datetime
    last_seen_at: datetime
    item_count: int
    feed_count: int
    labels: list[str]
    items: list[StoredItem]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, times as ISO 8601."""
        return {
            "id": self.id,
            "first_seen_at": iso(self.first_seen_at),
            "last_seen_at": iso(self.last_seen_at),
            "item_count": self.item_count,
            "feed_count": self.feed_count,
            "labels": list(self.labels),
            "items": [item.to_dict() for item in self.items],
        }


@dataclass(frozen=True)
class NewSurge:
    """A surge the poller found, and the webhook alerts it sets off (queued only by the
    poller that stores it first)."""

    label: str
    hour_start: datetime
    count: int
    expected: float
    p_value: float
    alerts: tuple[Alert, ...] = ()


@dataclass(frozen=True)
class SurgeRecord:
    """A stored surge."""

    id: int
    label: str
    hour_start: datetime
    count: int
    expected: float
    p_value: float
    detected_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, times as ISO 8601."""
        return {
            "id": self.id,
            "label": self.label,
            "hour_start": iso(self.hour_start),
            "count": self.count,
            "expected": self.expected,
            "p_value": self.p_value,
            "detected_at": iso(self.detected_at),
        }
