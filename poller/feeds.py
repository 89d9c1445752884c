"""Managing the feed list: add, import from OPML, remove (shared by the CLI and start-up)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from common.urls import UnresolvableHost, UnsafeURL, check_feed_url, normalise
from poller.opml import read_opml
from store import Feed, FeedExists, Store

log = logging.getLogger("wiretag.poller")


@dataclass
class ImportReport:
    """What an OPML import did."""

    added: list[Feed] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # added, though DNS fails for now
    present: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)


def add_feed(
    store: Store,
    url: str,
    interval: int | None = None,
    title: str | None = None,
    *,
    allow_private: bool = False,
) -> Feed:
    """Check ``url`` (UnsafeURL) and subscribe to it (FeedExists if present)."""
    safe = check_feed_url(url, allow_private=allow_private)
    return store.add_feed(safe, interval_minutes=interval, title=title)


def import_opml(store: Store, path: Path, *, allow_private: bool = False) -> ImportReport:
    """Subscribe to every feed an OPML file lists; OPMLError if it cannot be read."""
    report = ImportReport()
    for outline in read_opml(path):
        try:
            try:
                safe = check_feed_url(outline.url, allow_private=allow_private)
            except UnresolvableHost:
                # A list imported while DNS is down (first start, offline build) must not
                # lose its feeds; every fetch checks the addresses again anyway.
                safe = normalise(outline.url)
                report.unresolved.append(outline.url)
            report.added.append(store.add_feed(safe, title=outline.title))
        except FeedExists:
            report.present.append(outline.url)
        except UnsafeURL as exc:
            report.refused.append((outline.url, str(exc)))
    return report


def find(store: Store, id_or_url: str) -> Feed | None:
    """The feed named by its id or its URL (as given, or normalised)."""
    if id_or_url.isdigit():
        return store.get_feed(int(id_or_url))
    feed = store.find_feed(id_or_url)
    if feed is None:
        try:
            feed = store.find_feed(normalise(id_or_url))
        except UnsafeURL:
            return None
    return feed


def seed_from_file(store: Store, path: Path, *, allow_private: bool = False) -> ImportReport | None:
    """On a store without feeds, import the OPML file at ``path`` if it exists."""
    if store.count_feeds() or not path.is_file():
        return None
    report = import_opml(store, path, allow_private=allow_private)
    log.info(
        "first start: imported %d feeds from %s (%d refused)",
        len(report.added),
        path,
        len(report.refused),
    )
    for url, reason in report.refused:
        log.warning("not imported: %s: %s", url, reason)
    return report
