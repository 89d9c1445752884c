"""Reading what clients send into the types of :mod:`service.schema`, and msgspec's
complaints into :class:`~service.errors.ApiError` answers naming the item and field.

The rules themselves are the types' annotations; this module only applies them: body
bytes are decoded and checked in one pass, query strings converted field by field, and a
few values the document states as formats (times, cursors) are turned into the store's
terms here, before any SQL sees them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from common.booleans import FALSE_WORDS, TRUE_WORDS, parse_bool
from common.items import NO_CONTENT, Item, located
from model import Item as ModelItem
from service import schema
from service.errors import BadRequest, PayloadTooLarge, Unprocessable
from store import ItemFilter
from store.items import decode_cursor  # the store's own codec: one definition of a cursor

T = TypeVar("T")
_NAMED = re.compile(r"(?:unknown|missing required) field `(?P<name>[^`]*)`")
_ENVELOPE = msgspec.json.Decoder(schema.Envelope)
_NO_ARGS = schema.ClassifyQuery()
# what a value that misses its field's pattern should have been, in words
_PATTERN_MEANING = {
    "explain": f"must be true or false ({'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)})",
    "url": "must be an http(s) URL",
    "cursor": "is not a cursor this service gave out",
}
_ITEM = msgspec.json.Decoder(Item)


def _bad_json(raw: bytes, exc: msgspec.DecodeError | RecursionError) -> BadRequest:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return BadRequest(f"the body is not UTF-8 (byte {bad.start})", code="invalid_encoding")
    return BadRequest(f"the body is not valid JSON: {exc}")


def _position(path: list[str | int], message: str) -> tuple[int | None, list[str | int]]:
    """(item index, path within the item) for a classify body's error."""
    if path[:1] == ["items"]:  # a batch: items[i].field, or 'items' itself
        if len(path) > 1 and isinstance(path[1], int):
            return path[1], path[2:]
        return None, path
    if path or message == NO_CONTENT:
        return 0, path  # a single item: its fields are at the top
    return None, path  # the body itself


def unprocessable(exc: msgspec.ValidationError, *, items: bool = False) -> Unprocessable:
    """A 422 naming the field (and, for classify bodies, the item) msgspec complained of."""
    message, path = located(exc)
    index, within = _position(path, message) if items else (None, path)
    unknown = _NAMED.search(message)
    if message == NO_CONTENT:
        field: str | None = "text"
    elif unknown:
        field = unknown["name"]
    else:
        field = next((step for step in within if isinstance(step, str)), None)
    if field in _PATTERN_MEANING and "matching regex" in message:
        shown = f"'{field}' {_PATTERN_MEANING[field]}"
    else:
        shown = f"'{field}': {message}" if field else message
    if index is not None:
        shown = f"item {index}: {shown}"
    elif not field:
        shown = f"the body: {shown}"
    return Unprocessable(shown, index=index, field=field)


def decode(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """The body decoded and checked into the decoder's type, or 400/422."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        found = _with_integral_floats(raw, decoder)
        if found is None:
            raise unprocessable(exc) from None
        return found
    except (msgspec.DecodeError, RecursionError) as exc:  # malformed, or absurdly nested
        raise _bad_json(raw, exc) from None


def _integral(value: Any) -> Any:
    """``value`` with every float that is a whole number (1.0) made an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _with_integral_floats(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T | None:
    """The body checked again with ``1.0`` read as ``1``, which JSON Schema counts as an
    integer (and so does the document); None if it is still refused (on a refusal only:
    the usual body is decoded once)."""
    try:
        found = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    try:
        return msgspec.convert(_integral(found), decoder.type, strict=True)
    except msgspec.ValidationError:
        return None


@dataclass(frozen=True)
class Classify:
    """A checked classify request: items ready for the model, and which ones were cut."""

    items: list[ModelItem]
    truncated: list[bool]


def parse_classify(raw: bytes, *, max_items: int, max_text_chars: int) -> Classify:
    """One item ``{...}`` or a batch ``{"items": [...]}`` into model items, texts cut."""
    try:
        envelope = _ENVELOPE.decode(raw)
        found = [_ITEM.decode(raw)] if envelope.items is msgspec.UNSET else envelope.items
    except msgspec.ValidationError as exc:
        raise unprocessable(exc, items=True) from None
    except (msgspec.DecodeError, RecursionError) as exc:  # malformed, or absurdly nested
        raise _bad_json(raw, exc) from None
    if not found:
        raise Unprocessable("'items' must hold at least one item", field="items")
    if len(found) > max_items:
        raise PayloadTooLarge(
            f"{len(found)} items sent, at most {max_items} per request", field="items"
        )
    items, truncated = [], []
    for item in found:
        title, body = item.title or "", item.body
        truncated.append(len(title) > max_text_chars or len(body) > max_text_chars)
        items.append(ModelItem(item.id, title[:max_text_chars], body[:max_text_chars]))
    return Classify(items, truncated)


def parse_query(args: Mapping[str, str], query: type[T]) -> T:
    """Query arguments converted into ``query``'s fields; unknown or bad ones are a 422."""
    try:
        return msgspec.convert(dict(args), query, strict=False)
    except msgspec.ValidationError as exc:
        raise unprocessable(exc) from None


def parse_explain(args: Mapping[str, str]) -> bool:
    """``?explain=`` (default true) as a boolean; any other query argument is refused."""
    query = parse_query(args, schema.ClassifyQuery) if args else _NO_ARGS
    return parse_bool(query.explain)  # the pattern admitted only its words


@dataclass(frozen=True)
class ItemsQuery:
    """A checked ``GET /v1/items`` query, in the store's terms."""

    label: str | None = None
    min_score: float | None = None
    since: datetime | None = None
    feed_id: int | None = None
    limit: int = schema.DEFAULT_ITEMS_PAGE
    cursor: str | None = None
    format: str | None = None  # None: as the Accept header asks
    limit_given: bool = False  # an export is capped only by a limit the client gave
    collapse: bool = False

    @property
    def filters(self) -> ItemFilter:
        """The store's filter for these arguments (a page and an export alike)."""
        return ItemFilter(
            labels=(self.label,) if self.label else (),
            min_score=self.min_score,
            since=self.since,
            feed_id=self.feed_id,
            collapse=self.collapse,
        )


def _given(value: Any) -> Any:
    return None if value is msgspec.UNSET else value


def _since(value: str | msgspec.UnsetType) -> datetime | None:
    """A ``since`` argument in UTC, None when not given."""
    return None if value is msgspec.UNSET else parse_since(value)


def parse_items_query(args: Mapping[str, str]) -> ItemsQuery:
    """``label``, ``min_score``, ``since``, ``feed``, ``limit``, ``cursor``, ``collapse``
    and ``format``, checked."""
    q = parse_query(args, schema.ItemsQuery)
    cursor = _given(q.cursor)
    return ItemsQuery(
        label=_given(q.label),
        min_score=_given(q.min_score),
        since=_since(q.since),
        feed_id=_given(q.feed),
        limit=q.limit,
        cursor=None if cursor is None else check_cursor(cursor),
        format=_given(q.format),
        limit_given="limit" in args,
        collapse=q.collapse == "story",
    )


@dataclass(frozen=True)
class StoriesQuery:
    """A checked ``GET /v1/stories`` query, in the store's terms."""

    label: str | None = None
    since: datetime | None = None
    feed_id: int | None = None
    limit: int = schema.DEFAULT_STORIES_PAGE
    cursor: str | None = None


def parse_stories_query(args: Mapping[str, str]) -> StoriesQuery:
    """``label``, ``since``, ``feed``, ``limit`` and ``cursor``, checked."""
    q = parse_query(args, schema.StoriesQuery)
    cursor = _given(q.cursor)
    return StoriesQuery(
        label=_given(q.label),
        since=_since(q.since),
        feed_id=_given(q.feed),
        limit=q.limit,
        cursor=None if cursor is None else check_cursor(cursor),
    )


@dataclass(frozen=True)
class SurgesQuery:
    """A checked ``GET /v1/surges`` query, in the store's terms."""

    label: str | None = None
    since: datetime | None = None
    limit: int = schema.DEFAULT_SURGES_PAGE


def parse_surges_query(args: Mapping[str, str]) -> SurgesQuery:
    """``label``, ``since`` and ``limit``, checked."""
    q = parse_query(args, schema.SurgesQuery)
    return SurgesQuery(label=_given(q.label), since=_since(q.since), limit=q.limit)


@dataclass(frozen=True)
class CorrectionsQuery:
    """A checked ``GET /v1/corrections`` query, in the store's terms."""

    since: datetime | None = None
    after_id: int | None = None
    limit: int = schema.DEFAULT_ITEMS_PAGE


def parse_corrections_query(args: Mapping[str, str]) -> CorrectionsQuery:
    """``since``, ``limit`` and ``cursor`` (the last id seen), checked."""
    q = parse_query(args, schema.CorrectionsQuery)
    return CorrectionsQuery(
        since=_since(q.since),
        after_id=_given(q.cursor),
        limit=q.limit,
    )


def in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (naive: taken as UTC), clamped to what a datetime can hold.

    0001-01-01T00:00:00+14:00 is before the earliest UTC datetime: it means "since the
    beginning", so it becomes that; likewise the far end.  Nothing then overflows in SQL.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if moment.year == datetime.min.year else datetime.max
        return edge.replace(tzinfo=UTC)


def parse_since(raw: str) -> datetime:
    """An RFC 3339 time (offset optional, then UTC) for ``since``; 422 otherwise."""
    try:
        moment = msgspec.convert(raw, datetime)
    except msgspec.ValidationError:
        raise Unprocessable(
            f"'since' must be an RFC 3339 time such as 2026-01-31T12:00:00Z, not {raw!r} "
            "(in a URL, write '+' as %2B)",
            field="since",
        ) from None
    return in_utc(moment)


def check_cursor(cursor: str) -> str:
    """The cursor, if it is one this service gave out (its parts in range); 422 otherwise."""
    refused = Unprocessable("'cursor' is not a cursor this service gave out", field="cursor")
    try:
        moment, item_id = decode_cursor(cursor)
    except ValueError:
        raise refused from None
    if type(item_id) is not int or not 1 <= item_id <= schema.MAX_ID:
        raise refused
    if moment.tzinfo is None or in_utc(moment) != moment:
        raise refused  # out of range once in UTC: the store never writes such a cursor
    return cursor


def parse_new_feed(raw: bytes) -> schema.NewFeed:
    """``{"url", "interval_minutes"?, "title"?}`` checked (the URL not yet for safety)."""
    return decode(raw, _NEW_FEED)


def parse_feed_patch(raw: bytes) -> dict[str, Any]:
    """A JSON merge patch of a feed: the fields it sets (``None`` clears), checked."""
    patch = decode(raw, _FEED_PATCH)
    return {
        name: getattr(patch, name)
        for name in patch.__struct_fields__
        if getattr(patch, name) is not msgspec.UNSET
    }


_NEW_FEED = msgspec.json.Decoder(schema.NewFeed)
_FEED_PATCH = msgspec.json.Decoder(schema.FeedPatch)
