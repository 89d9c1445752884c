"""Pure checks of what clients send: classify bodies, query strings, feed bodies.

Each function takes parsed JSON or query arguments and returns plain values, or raises an
:class:`~service.errors.ApiError` naming the item index and the field at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.booleans import parse_bool
from common.labels import LABELS
from model import Item
from service.errors import PayloadTooLarge, Unprocessable

MAX_ITEMS_PAGE = 500
MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger id cannot exist and must not reach SQL
DEFAULT_ITEMS_PAGE = 50
ITEM_FIELDS = ("id", "title", "text", "summary", "url")


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Classify:
    """A checked classify request: items ready for the model, and which ones were cut."""

    items: list[Item]
    truncated: list[bool]


def parse_classify(payload: Any, *, max_items: int, max_text_chars: int) -> Classify:
    """One item ``{...}`` or a batch ``{"items": [...]}`` into model items, texts cut."""
    if not isinstance(payload, dict):
        raise Unprocessable(f"the body must be a JSON object, not {json_type(payload)}")
    if "items" not in payload:
        raws: list[Any] = [payload]
    else:
        raws = _item_list(payload["items"], max_items)
    items, truncated = [], []
    for index, raw in enumerate(raws):
        item, cut = parse_item(raw, index, max_text_chars)
        items.append(item)
        truncated.append(cut)
    return Classify(items, truncated)


def _item_list(value: Any, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise Unprocessable(f"'items' must be an array, not {json_type(value)}", field="items")
    if not value:
        raise Unprocessable("'items' must hold at least one item", field="items")
    if len(value) > max_items:
        raise PayloadTooLarge(
            f"{len(value)} items sent, at most {max_items} per request", field="items"
        )
    return value


def parse_item(raw: Any, index: int, max_text_chars: int) -> tuple[Item, bool]:
    """One item object into an :class:`Item` (title and text cut to the maximum)."""
    if not isinstance(raw, dict):
        raise Unprocessable(
            f"item {index} must be a JSON object, not {json_type(raw)}", index=index
        )
    values = {name: _optional_string(raw, name, index) for name in ITEM_FIELDS}
    # "text" is the article body; feeds give a "summary" instead: text wins when both come.
    body = values["text"] if values["text"] is not None else values["summary"] or ""
    title = values["title"] or ""
    if not title.strip() and not body.strip():
        raise Unprocessable(
            f"item {index} has neither a title nor a text (or summary)", index=index, field="text"
        )
    cut = len(title) > max_text_chars or len(body) > max_text_chars
    return Item(values["id"], title[:max_text_chars], body[:max_text_chars]), cut


def _optional_string(raw: dict[str, Any], name: str, index: int) -> str | None:
    value = raw.get(name)
    if value is None or isinstance(value, str):
        return value
    raise Unprocessable(
        f"item {index}: '{name}' must be a string, not {json_type(value)}", index=index, field=name
    )


def parse_flag(args: Mapping[str, str], name: str, default: bool) -> bool:
    """A true/false query argument such as ``?explain=false``."""
    raw = args.get(name)
    if raw is None:
        return default
    try:
        return parse_bool(raw)
    except ValueError as exc:
        raise Unprocessable(f"'{name}' {exc}, not {raw!r}", field=name) from None


def reject_unknown(args: Mapping[str, str], known: tuple[str, ...]) -> None:
    """Refuse query arguments the endpoint does not know (a typo must not widen a query)."""
    unknown = sorted(set(args) - set(known))
    if unknown:
        raise Unprocessable(
            f"unknown query argument(s) {', '.join(unknown)}; known: {', '.join(known)}",
            field=unknown[0],
        )


@dataclass(frozen=True)
class ItemsQuery:
    """A checked ``GET /v1/items`` query, in the store's terms."""

    label: str | None = None
    min_score: float | None = None
    since: datetime | None = None
    feed_id: int | None = None
    limit: int = DEFAULT_ITEMS_PAGE
    cursor: str | None = None


ITEMS_ARGS = ("label", "min_score", "since", "feed", "limit", "cursor")


def parse_items_query(args: Mapping[str, str]) -> ItemsQuery:
    """``label``, ``min_score``, ``since``, ``feed``, ``limit`` and ``cursor``, checked."""
    reject_unknown(args, ITEMS_ARGS)
    label = args.get("label")
    if label is not None and label not in LABELS:
        raise Unprocessable(f"'label' must be one of {', '.join(LABELS)}", field="label")
    return ItemsQuery(
        label=label,
        min_score=_score(args.get("min_score")),
        since=_since(args.get("since")),
        feed_id=_whole(args.get("feed"), "feed", 1, MAX_ID),
        limit=_whole(args.get("limit"), "limit", 1, MAX_ITEMS_PAGE) or DEFAULT_ITEMS_PAGE,
        cursor=args.get("cursor") or None,
    )


def _score(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        score = float(raw)
    except ValueError:
        score = -1.0
    if not 0.0 <= score <= 1.0:
        raise Unprocessable(
            f"'min_score' must be a number from 0 to 1, not {raw!r}", field="min_score"
        )
    return score


def _since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise Unprocessable(
            f"'since' must be an ISO-8601 time such as 2026-01-31T12:00:00Z, not {raw!r} "
            "(in a URL, write '+' as %2B)",
            field="since",
        ) from None
    # a time without an offset is taken as UTC, the store's clock
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _whole(raw: str | None, name: str, low: int, high: int | None) -> int | None:
    if raw is None:
        return None
    digits = raw.strip()
    value = int(digits) if digits.isascii() and digits.isdigit() else low - 1
    if value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise Unprocessable(f"'{name}' must be a whole number {span}, not {raw!r}", field=name)
    return value


@dataclass(frozen=True)
class NewFeed:
    """A checked ``POST /v1/feeds`` body (the URL is not yet checked for safety)."""

    url: str
    interval_minutes: int | None
    title: str | None


def parse_new_feed(payload: Any) -> NewFeed:
    """``{"url", "interval_minutes"?, "title"?}`` checked for presence and types."""
    if not isinstance(payload, dict):
        raise Unprocessable(f"the body must be a JSON object, not {json_type(payload)}")
    url = payload.get("url")
    if not isinstance(url, str) or not url.strip():
        raise Unprocessable("'url' must be a non-empty string", field="url")
    interval = payload.get("interval_minutes")
    if interval is not None and (
        isinstance(interval, bool) or not isinstance(interval, int) or interval < 1
    ):
        raise Unprocessable(
            "'interval_minutes' must be a whole number of at least 1", field="interval_minutes"
        )
    title = payload.get("title")
    if title is not None and not isinstance(title, str):
        raise Unprocessable(f"'title' must be a string, not {json_type(title)}", field="title")
    return NewFeed(url.strip(), interval, title)


@dataclass(frozen=True)
class CorrectionsQuery:
    """A checked ``GET /v1/corrections`` query."""

    since: datetime | None = None
    after_id: int | None = None
    limit: int = DEFAULT_ITEMS_PAGE


def parse_corrections_query(args: Mapping[str, str]) -> CorrectionsQuery:
    """``since``, ``limit`` and ``cursor`` (the last id seen), checked."""
    reject_unknown(args, ("since", "limit", "cursor"))
    cursor = args.get("cursor")
    return CorrectionsQuery(
        since=_since(args.get("since")),
        after_id=_whole(cursor, "cursor", 1, None) if cursor else None,
        limit=_whole(args.get("limit"), "limit", 1, MAX_ITEMS_PAGE) or DEFAULT_ITEMS_PAGE,
    )
