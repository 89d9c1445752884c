"""The workspace's URLs: what a queue URL asks for, checked, and the URLs around it.

The URL holds the whole view (filters, search, page), so a view can be bookmarked and
shared; a bad value is reported next to its field instead of being ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict

from common.clock import utcnow
from common.labels import LABELS
from service.schema import MAX_ID
from store import ItemFilter, decode_cursor, parse_query

WITHIN = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
QUEUE_ARGS = ("q", "label", "min_score", "feed", "within", "since", "until", "after", "before")


@dataclass
class QueueView:
    """A checked queue URL: the store's filter, the page asked for, the raw values (to
    refill the form) and an error message per bad field."""

    raw: MultiDict[str, str]
    filters: ItemFilter = field(default_factory=ItemFilter)
    after: str | None = None
    before: str | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def url(self, **changes: Any) -> str:
        """This view's URL with some arguments replaced (None drops one); paging
        arguments are dropped unless given."""
        args = MultiDict(self.raw)
        for name in ("after", "before", *changes):
            args.poplist(name)
        for name, value in changes.items():
            if value is None:
                continue
            for one in value if isinstance(value, list | tuple) else [value]:
                args.add(name, str(one))
        pairs = [(k, v) for k, v in args.items(multi=True) if v != ""]
        return "/?" + urlencode(pairs) if pairs else "/"

    @property
    def labels(self) -> list[str]:
        """The labels ticked."""
        return [label for label in self.raw.getlist("label") if label in LABELS]


def parse_queue(args: Mapping[str, Any], now: datetime | None = None) -> QueueView:
    """The queue URL's arguments, checked; errors are collected, never raised."""
    raw: MultiDict[str, str] = MultiDict(
        [(k, v) for k, v in MultiDict(args).items(multi=True) if k in QUEUE_ARGS]
    )
    view = QueueView(raw)
    values: dict[str, Any] = {}
    for name, check in _CHECKS.items():
        try:
            values.update(check(raw, now or utcnow()))
        except ValueError as exc:
            view.errors[name] = str(exc)
    if "since" in values and values.get("until") and values["since"] >= values["until"]:
        view.errors["until"] = "'until' must be after 'since'"
    view.after, view.before = values.pop("after", None), values.pop("before", None)
    if not view.errors:
        view.filters = ItemFilter(**values)
    return view


def _search(raw: MultiDict[str, str], now: datetime) -> dict[str, Any]:
    text = raw.get("q", "")
    return {"search": parse_query(text)} if text.strip() else {}


def _labels(raw: MultiDict[str, str], now: datetime) -> dict[str, Any]:
    labels = raw.getlist("label")
    unknown = [label for label in labels if label not in LABELS]
    if unknown:
        raise ValueError(f"unknown label {unknown[0]!r}; known: {', '.join(LABELS)}")
    return {"labels": tuple(label for label in LABELS if label in labels)}


def _min_score(raw: MultiDict[str, str], now: datetime) -> dict[str, Any]:
    text = raw.get("min_score", "").strip()
    if not text:
        return {}
    try:
        score = float(text)
    except ValueError:
        score = -1.0
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"the minimum score must be a number from 0 to 1, not {text!r}")
    return {"min_score": score}


def _feed(raw: MultiDict[str, str], now: datetime) -> dict[str, Any]:
    text = raw.get("feed", "").strip()
    if not text:
        return {}
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_ID):
        raise ValueError(f"the feed must be a feed's number, not {text!r}")
    return {"feed_id": int(text)}


def _time(raw: MultiDict[str, str], name: str) -> datetime | None:
    text = raw.get(name, "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"'{name}' must be a date or time such as 2026-03-01 or 2026-03-01T14:30 (UTC), "
            f"not {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _since(raw: MultiDict[str, str], now: datetime) -> dict[str, Any]:
    within = raw.get("within", "").strip()
    if within and within not in WITHIN:
        raise ValueError(f"'within' must be one of {', '.join(WITHIN)}, not {within!r}")
    since = _time(raw, "since")
    if within:
        moment = now - WITHIN[within]
        since = max(since, moment) if since else moment
    return {"since": since} if since else {}


def _until(raw: MultiDict[str, str], now: datetime) -> dict[str, Any]:
    until = _time(raw, "until")
    return {"until": until} if until else {}


def _cursors(raw: MultiDict[str, str], now: datetime) -> dict[str, Any]:
    found = {}
    for name in ("after", "before"):
        cursor = raw.get(name, "").strip()
        if cursor:
            try:
                decode_cursor(cursor)
            except ValueError:
                raise ValueError(
                    "this page link is damaged; start again from the first page"
                ) from None
            found[name] = cursor
    return found


_CHECKS = {
    "q": _search,
    "label": _labels,
    "min_score": _min_score,
    "feed": _feed,
    "since": _since,
    "until": _until,
    "page": _cursors,
}


def review_page(args: Mapping[str, Any], last: int) -> int:
    """The review queue's page number (1 to ``last``); out of range or junk gives 1."""
    text = str(args.get("page", "1")).strip()
    number = int(text) if text.isascii() and text.isdigit() else 1
    return number if 1 <= number <= last else 1
