"""Feed bytes to entries (feedparser's only home) and the pure rules about entries.

What counts as one entry: feedparser's entry, keyed per feed by its GUID, else its link,
else a hash of its title and summary (:func:`dedupe_key`).  An entry that has none of GUID,
link, title or summary/content carries nothing to tag or show, and is skipped.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import feedparser

from poller.errors import PollerError

Parse = Callable[[bytes, Mapping[str, str], str], "ParsedFeed"]  # parse_feed's shape

_MAX_KEY = 200  # longer keys are hashed so the unique index stays small
_SPACES = re.compile(r"\s+")
_SKIPPED_TAGS = {"script", "style"}
_BLOCK_TAGS = {"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}


class NotAFeed(PollerError):
    """The bytes are not a feed feedparser can read (it reports why)."""


@dataclass(frozen=True)
class Entry:
    """One feed entry, as plain text, with its dedupe key."""

    key: str
    guid: str | None
    link: str | None
    title: str
    summary: str
    published_at: datetime | None


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed: its title, entries, and feedparser's bozo reason if any."""

    title: str | None
    entries: list[Entry]
    skipped: int  # entries with nothing to key, tag or show
    bozo_reason: str | None


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def strip_html(markup: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, spaces collapsed."""
    if "<" not in markup and "&" not in markup:
        return _SPACES.sub(" ", markup).strip()
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return _SPACES.sub(" ", "".join(extractor.parts)).strip()


def dedupe_key(guid: str | None, link: str | None, title: str, summary: str) -> str:
    """The entry's identity within its feed: GUID, else link, else hash of title+summary."""
    if guid and guid.strip():
        raw = "guid:" + guid.strip()
    elif link and link.strip():
        raw = "link:" + link.strip()
    else:
        digest = hashlib.sha256(f"{title}\x00{summary}".encode()).hexdigest()
        return "hash:" + digest
    if len(raw) > _MAX_KEY:
        return raw[:5] + "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    return raw


def _published(entry: Mapping[str, Any]) -> datetime | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: feedparser's own get() maps updated to published with a warning
        stamp = dict.get(entry, name)  # type: ignore[call-overload]
        if stamp:
            try:
                year, month, day, hour, minute, second = stamp[:6]
                return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except (TypeError, ValueError, OverflowError):
                continue
    return None


def _summary(entry: Mapping[str, Any]) -> str:
    text = entry.get("summary") or ""
    if not text:
        for content in entry.get("content") or []:
            text = content.get("value") or ""
            if text:
                break
    return strip_html(str(text))


def to_entry(entry: Mapping[str, Any]) -> Entry | None:
    """An :class:`Entry` from a feedparser entry, or None when it carries nothing."""
    guid = str(entry.get("id") or "").strip() or None
    link = str(entry.get("link") or "").strip() or None
    title = strip_html(str(entry.get("title") or ""))
    summary = _summary(entry)
    if not (guid or link or title or summary):
        return None
    key = dedupe_key(guid, link, title, summary)
    return Entry(key, guid, link, title, summary, _published(entry))


def _parser_headers(headers: Mapping[str, str], url: str) -> dict[str, str]:
    """Response headers for feedparser, with Content-Location made absolute (base URI)."""
    out = {k.lower(): v for k, v in headers.items()}
    out["content-location"] = urljoin(url, out.get("content-location", "").strip())
    # the body is already decoded; a stale Content-Encoding would mislead feedparser
    out.pop("content-encoding", None)
    return out


def parse_feed(body: bytes, headers: Mapping[str, str], url: str) -> ParsedFeed:
    """Parse feed bytes; NotAFeed when feedparser finds neither a feed nor entries."""
    # A stream, never bytes or str: feedparser opens a str that looks like a URL, and
    # tries bytes as a file name.  Its HTML sanitiser and relative-URI rewriting are off:
    # wiretag keeps plain text only (strip_html), and on escaped markup those two passes
    # were nine tenths of the parse (bench_poller --hostile).
    try:
        result = feedparser.parse(
            io.BytesIO(body),
            response_headers=_parser_headers(headers, url),
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except MemoryError:
        raise  # the budget's business (poller.sandbox), not the feed's shape
    except Exception as exc:  # feedparser is a large foreign parser: wrap whatever it raises
        raise NotAFeed(f"feedparser failed: {type(exc).__name__}: {exc}") from exc
    bozo = (str(result.get("bozo_exception", "")) or "malformed") if result.get("bozo") else None
    raw_entries = result.get("entries") or []
    if not raw_entries and (bozo or not result.get("version")):
        raise NotAFeed(f"not a feed: {bozo or 'no feed format recognised'}")
    entries: list[Entry] = []
    for raw in raw_entries:
        entry = to_entry(raw)
        if entry is not None:
            entries.append(entry)
    title = strip_html(str(result.get("feed", {}).get("title") or "")) or None
    return ParsedFeed(title, entries, len(raw_entries) - len(entries), bozo)
