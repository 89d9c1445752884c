"""feedparser's own suite of 2,106 feed files, each served once: the poller survives all,
and stores every entry of every well-formed file exactly once.

"Entry" means what :mod:`poller.parse` says: a feedparser entry, identified within its
feed by GUID, else link, else a hash of title and summary; an entry with none of GUID,
link, title or summary/content carries nothing to tag or show and is not stored.  Two
entries of one file with the same identity are one entry (that is what deduplication is
for).  The expected set per file comes from parsing the same bytes with the same headers;
the test checks that fetching, deduplication and storage lose and repeat nothing.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest
from poller_testkit import FeedServer, Request, poll_once
from storekit import item_keys

from model import Model
from poller.parse import NotAFeed, parse_feed
from settings import Settings
from store import Store

pytestmark = pytest.mark.slow
_HEADER = re.compile(r"^Header:\s*([A-Za-z-]+):\s*(.*?)\s*$", re.MULTILINE)


def declared_headers(body: bytes) -> dict[str, str]:
    """The HTTP headers a suite file asks to be served with (its ``Header:`` lines)."""
    head = body[: body.find(b"-->") + 1 if b"-->" in body else 2000]
    headers = {"Content-Type": "application/xml"}
    for name, value in _HEADER.findall(head.decode("latin-1")):
        headers[name.title() if name.lower() != "etag" else "ETag"] = value
    return headers


def _route(body: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return lambda req: Request.send(req, 200, body, headers)


def test_every_suite_file_served_once(
    db_url: str,
    feed_server: FeedServer,
    store: Store,
    model: Model,
    poll_settings: Settings,
    tmp_path: Path,
    shared: Path,
) -> None:
    with tarfile.open(shared / "fixtures" / "feedparser-tests.tar.gz") as archive:
        archive.extractall(tmp_path / "suite", filter="data")
    root = next((tmp_path / "suite").rglob("tests"))
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert len(files) > 2000
    expected: dict[int, list[str]] = {}
    for path in files:
        rel = path.relative_to(root).as_posix()
        body = path.read_bytes()
        headers = declared_headers(body)
        feed_server.routes[f"/fp/{rel}"] = _route(body, headers)
        feed = store.add_feed(feed_server.url(f"/fp/{rel}"))
        if rel.startswith("wellformed/"):
            lowered = {k.lower(): v for k, v in headers.items()}
            try:
                parsed = parse_feed(body, lowered, feed.url)
                expected[feed.id] = sorted({e.key for e in parsed.entries})
            except NotAFeed:
                expected[feed.id] = []

    outcomes = poll_once(store, model, poll_settings.with_overrides(poll_concurrency=8))

    assert len(outcomes) == len(files)  # the poller never died: every feed has an outcome
    assert all(hits == 1 for hits in feed_server.hits.values())
    assert len(feed_server.hits) == len(files)
    assert all(f.last_checked_at is not None for f in store.feeds_health())
    with_entries = [keys for keys in expected.values() if keys]
    assert len(with_entries) > 500 and sum(map(len, with_entries)) > 500
    wrong = {
        feed_id: (sorted(item_keys(db_url, feed_id)), keys)
        for feed_id, keys in expected.items()
        if sorted(item_keys(db_url, feed_id)) != keys
    }
    assert not wrong, list(wrong.items())[:5]
