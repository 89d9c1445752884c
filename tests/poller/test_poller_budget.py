"""Parsing has a budget per feed (issue 11.7): a feed that takes too long or needs too much
memory to parse is that feed's error, costs the poller no more, and delays no other feed."""

from __future__ import annotations

from pathlib import Path

import pytest
from poller_testkit import FeedServer, escaped_markup_feed, poll_once, rss, static
from storekit import count_items

from model import Model
from poller.errors import ParseBudgetExceeded
from poller.parse import NotAFeed, parse_feed
from poller.sandbox import ParserPool
from settings import Settings
from store import Store

FIXTURES = ["guardian.rss", "feedburner.atom", "uolNoticias.rss", "heise.atom"]


@pytest.fixture
def pool() -> ParserPool:
    return ParserPool(seconds=1.0, memory_bytes=64 * 2**20)


def test_a_worker_parses_exactly_as_in_process(pool: ParserPool, shared: Path) -> None:
    try:
        for name in FIXTURES:
            body = (shared / "fixtures" / "feeds" / name).read_bytes()
            headers = {"content-type": "application/xml"}
            assert pool(body, headers, "http://x/feed") == parse_feed(
                body, headers, "http://x/feed"
            )
        with pytest.raises(NotAFeed, match="not a feed"):
            pool(b"<html><p>no feed</p></html>", {"content-type": "text/html"}, "http://x/")
    finally:
        pool.close()


def test_a_parse_past_its_time_is_cut_and_the_next_feed_parses(pool: ParserPool) -> None:
    try:
        with pytest.raises(ParseBudgetExceeded, match=r"parsing took longer than 1 s"):
            pool(escaped_markup_feed(), {}, "http://x/blob")
        parsed = pool(rss([("Next", "feed")]), {}, "http://x/next")  # a fresh worker
        assert [e.title for e in parsed.entries] == ["Next"]
    finally:
        pool.close()


def test_a_parse_past_its_memory_is_refused() -> None:
    pool = ParserPool(seconds=60.0, memory_bytes=64 * 2**20)  # memory is the only limit here
    big = rss([(f"Item {n}", "word " * 4000) for n in range(1000)])  # 20 MB of text
    try:
        with pytest.raises(ParseBudgetExceeded, match=r"needed more than 64 MiB"):
            pool(big, {}, "http://x/big")
    finally:
        pool.close()


def test_the_escaped_markup_feed_is_its_own_error_and_delays_no_other(
    feed_server: FeedServer, store: Store, db_url: str, model: Model, poll_settings: Settings
) -> None:
    feed_server.routes["/blob"] = static(escaped_markup_feed())
    feed_server.routes["/news"] = static(rss([("Ordinary", "news")]))
    blob = store.add_feed(feed_server.url("/blob"))
    news = store.add_feed(feed_server.url("/news"))
    settings = poll_settings.with_overrides(parse_timeout_seconds=1.0)
    outcomes = {o.feed_id: o for o in poll_once(store, model, settings)}
    stuck = store.get_feed(blob.id)
    assert stuck is not None and stuck.error_count == 1 and stuck.last_status == 200
    assert stuck.last_error == "parsing took longer than 1 s" == outcomes[blob.id].error
    assert count_items(db_url, blob.id) == 0
    assert outcomes[news.id].error is None and count_items(db_url, news.id) == 1
    # not held behind it: stored while the blob was still being parsed
    assert list(outcomes) == [news.id, blob.id]
    assert outcomes[news.id].seconds < outcomes[blob.id].seconds
