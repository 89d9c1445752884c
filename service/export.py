"""``GET /v1/items`` as CSV or JSON lines: which format a request wants, and the streamed
body, built a store chunk at a time (constant memory, whatever the number of items)."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

import msgspec
from werkzeug.datastructures import MIMEAccept

from common.labels import LABELS
from store import StoredItem, StoreError

log = logging.getLogger(__name__)

# what each format is answered as; the Accept header may name any of these types
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
}
_ACCEPTED = {
    "application/json": "json",
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
}
CSV_COLUMNS = (
    "id",
    "feed_id",
    "published_at",
    "fetched_at",
    "title",
    "summary",
    "link",
    "labels",
    *(f"score_{label}" for label in LABELS),
    "model_version",
    "story_id",
    "story_items",  # with collapse=story: the story's item count
)
# A cell a spreadsheet would read as a formula (OWASP's list: = + - @, and tab and
# carriage return, which some readers strip first) is written with a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_encode = msgspec.json.Encoder().encode
# Under gunicorn (service.workers), the WSGI environ holds a callable under this key that
# gives the request's deadline WIRETAG_REQUEST_TIMEOUT afresh: called before each part.
STREAM_DEADLINE = "wiretag.stream_deadline"


def no_deadline() -> None:
    """No deadline to re-arm (not under gunicorn)."""


def chosen_format(asked: str | None, accept: MIMEAccept) -> str:
    """``format=`` when given, else the best type the Accept header names (JSON when it
    names none of ours: the header is a preference, not a condition)."""
    if asked is not None:
        return asked
    best = accept.best_match(list(_ACCEPTED), default="application/json")
    return _ACCEPTED[best or "application/json"]


def filename(fmt: str, now: datetime) -> str:
    """The download's name, e.g. ``wiretag-items-20260131T120000Z.csv``."""
    return f"wiretag-items-{now.strftime('%Y%m%dT%H%M%SZ')}.{fmt}"


def safe_cell(value: str) -> str:
    """A text cell that no spreadsheet runs as a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def csv_row(item: StoredItem) -> list[str | int | float]:
    """One item as a CSV row in :data:`CSV_COLUMNS` order (scores rounded to 4 places)."""
    return [
        item.id,
        item.feed_id,
        item.published_at.isoformat() if item.published_at else "",
        item.fetched_at.isoformat(),
        safe_cell(item.title),
        safe_cell(item.summary),
        safe_cell(item.link or ""),
        ";".join(item.labels),
        *(round(item.scores.get(label, 0.0), 4) for label in LABELS),
        safe_cell(item.model_version),
        "" if item.story_id is None else item.story_id,
        "" if item.story_items is None else item.story_items,
    ]


def csv_body(
    chunks: Iterable[list[StoredItem]], next_part: Callable[[], None] = no_deadline
) -> Iterator[bytes]:
    """The header, then one block of rows per store chunk (RFC 4180: CRLF, quotes doubled)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for chunk in _logged(chunks, next_part):
        writer.writerows(csv_row(item) for item in chunk)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # no item at all: the header alone
        yield buffer.getvalue().encode()


def jsonl_body(
    chunks: Iterable[list[StoredItem]], next_part: Callable[[], None] = no_deadline
) -> Iterator[bytes]:
    """One :class:`schema.StoredItem` JSON object per line, a block per store chunk."""
    for chunk in _logged(chunks, next_part):
        # to_dict is the StoredItem answer's shape (the JSON pages check it with msgspec)
        yield b"".join(_encode(item.to_dict()) + b"\n" for item in chunk)


def _logged(
    chunks: Iterable[list[StoredItem]], next_part: Callable[[], None]
) -> Iterator[list[StoredItem]]:
    """The chunks, the deadline re-armed before each; a store failure midway is logged
    and raised on, so that the server closes the connection without the body's end and
    the client sees the export is cut."""
    try:
        for chunk in chunks:
            yield chunk
            next_part()  # the next chunk (read and sent) has a deadline of its own
    except StoreError as exc:
        log.error("export cut short: the store failed: %s", exc)
        raise
