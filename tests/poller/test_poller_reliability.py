"""Reliability: a real loopback server misbehaving on purpose costs only its own feed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from poller_testkit import (
    FeedServer,
    gzip_bomb,
    gzipped,
    hang,
    huge,
    huge_chunked,
    poll_once,
    redirect,
    rss,
    static,
    status,
)
from storekit import count_items

from model import Model
from poller.errors import FeedTooLarge
from poller.fetch import USER_AGENT, Fetcher, Response
from poller.poll import fetcher_for
from settings import Settings
from store import Store

# entries per fixture feed (../shared/fixtures/README.md); every one has its own GUID/link
FIXTURES = {
    "reuters_world_from_rn-rss-parser.xml": 10,
    "guardian.rss": 55,
    "huffpost_world_from_rn-rss-parser.xml": 31,
    "feedburner.atom": 25,
    "heise.atom": 15,
    "uolNoticias.rss": 15,
}
MiB = 1024 * 1024


def _serve_fixtures(server: FeedServer, shared: Path) -> dict[str, str]:
    urls = {}
    for name in FIXTURES:
        feed = shared / "fixtures" / "feeds" / name
        server.routes[f"/feeds/{name}"] = static(feed.read_bytes())
        urls[name] = server.url(f"/feeds/{name}")
    return urls


def _misbehaving(server: FeedServer) -> dict[str, str]:
    routes = {
        "/hang": hang,
        "/500": status(500),
        "/garbage-html": static(b"<html><body><p>Not a feed at all</p></body></html>", "text/html"),
        "/garbage-bytes": static(bytes(range(256)) * 64, "application/octet-stream"),
        "/empty": static(b"", "application/xml"),
        "/huge": huge(20 * MiB),
        "/huge-chunked": huge_chunked(20 * MiB),
        "/bomb": gzip_bomb(200 * MiB),
        "/loop": redirect("/loop"),
        "/chain-0": redirect("/chain-1"),
        **{f"/chain-{i}": redirect(f"/chain-{i + 1}") for i in range(1, 9)},
        "/to-file": redirect("file:///etc/passwd"),
        "/to-nowhere": redirect("http://no-such-host.invalid/feed"),
        "/429": status(429, **{"Retry-After": "3600"}),
        "/503": status(503, **{"Retry-After": "Wed, 01 Jan 2099 00:00:00 GMT"}),
    }
    server.routes.update(routes)
    return {
        path: server.url(path)
        for path in routes
        if path[1:] not in {f"chain-{i}" for i in range(1, 10)}
    }


def test_each_misbehaving_feed_costs_only_itself(
    db_url: str,
    feed_server: FeedServer,
    store: Store,
    model: Model,
    poll_settings: Settings,
    shared: Path,
) -> None:
    good = _serve_fixtures(feed_server, shared)
    feed_server.routes["/moved"] = redirect("/feeds/heise.atom", 301)
    feed_server.routes["/gz"] = gzipped(rss([("Gzip item", "compressed on the wire")]))
    bad = _misbehaving(feed_server)
    ids = {url: store.add_feed(url).id for url in [*good.values(), *bad.values()]}
    moved = store.add_feed(feed_server.url("/moved")).id
    gz = store.add_feed(feed_server.url("/gz")).id
    started = datetime.now(UTC)

    outcomes = poll_once(store, model, poll_settings)

    assert len(outcomes) == len(ids) + 2  # every feed polled, none crashed the run
    for name, url in good.items():
        feed = store.get_feed(ids[url])
        assert feed is not None and (feed.last_status, feed.last_error) == (200, None), name
        assert count_items(db_url, ids[url]) == FIXTURES[name], name
        assert feed.etag and feed.title
    assert count_items(db_url, moved) == FIXTURES["heise.atom"]
    assert count_items(db_url, gz) == 1
    uol = store.get_feed(ids[good["uolNoticias.rss"]])
    assert uol is not None and uol.last_warning and "windows-1252" in uol.last_warning
    expected_errors = {
        "/hang": r"timed out",
        "/500": r"HTTP 500",
        "/garbage-html": r"not a feed",
        "/garbage-bytes": r"not a feed",
        "/empty": r"not a feed",
        "/huge": r"larger than 15728640 bytes",
        "/huge-chunked": r"larger than 15728640 bytes",
        "/bomb": r"inflates past 15728640 bytes",
        "/loop": r"more than 5 redirects",
        "/chain-0": r"more than 5 redirects",
        "/to-file": r"not an http\(s\) URL",
        "/to-nowhere": r"does not resolve",
        "/429": r"HTTP 429",
        "/503": r"HTTP 503",
    }
    for path, pattern in expected_errors.items():
        feed = store.get_feed(ids[bad[path]])
        assert feed is not None and feed.last_error, path
        assert re.search(pattern, feed.last_error), (path, feed.last_error)
        assert feed.error_count == 1 and feed.next_check_at > started, path
        assert count_items(db_url, feed.id) == 0, path
    retry = store.get_feed(ids[bad["/429"]])
    assert retry is not None and retry.next_check_at >= started + timedelta(seconds=3590)
    unavailable = store.get_feed(ids[bad["/503"]])
    assert unavailable is not None  # Retry-After in 2099: capped at max_backoff_hours
    assert unavailable.next_check_at >= started + timedelta(hours=poll_settings.max_backoff_hours)
    assert feed_server.hits["/loop"] == 6 and feed_server.hits["/chain-6"] == 0
    headers = feed_server.request_headers[f"/feeds/{next(iter(FIXTURES))}"][0]
    assert headers["user-agent"] == USER_AGENT and "gzip" in headers["accept-encoding"]


def test_unchanged_feed_costs_a_304_and_no_items(
    db_url: str,
    feed_server: FeedServer,
    store: Store,
    model: Model,
    poll_settings: Settings,
    shared: Path,
) -> None:
    url = _serve_fixtures(feed_server, shared)["guardian.rss"]
    feed = store.add_feed(url)
    poll_once(store, model, poll_settings)
    later = datetime.now(UTC) + timedelta(minutes=poll_settings.default_interval_minutes + 1)
    (outcome,) = poll_once(store, model, poll_settings, now=lambda: later)
    assert (outcome.status, outcome.new_items, outcome.error) == (304, 0, None)
    sent = feed_server.request_headers["/feeds/guardian.rss"]
    assert len(sent) == 2 and "if-none-match" not in sent[0]
    assert sent[1]["if-none-match"] == store.get_feed(feed.id).etag  # type: ignore[union-attr]
    assert count_items(db_url, feed.id) == FIXTURES["guardian.rss"]


def test_changed_feed_adds_only_new_entries(
    db_url: str, feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    items = [(f"Entry {i}", f"Text {i}") for i in range(5)]
    feed_server.routes["/feed"] = static(rss(items))
    feed = store.add_feed(feed_server.url("/feed"))
    poll_once(store, model, poll_settings)
    feed_server.routes["/feed"] = static(rss([*items, ("Entry 5", "Text 5")]))
    later = datetime.now(UTC) + timedelta(hours=1)
    (outcome,) = poll_once(store, model, poll_settings, now=lambda: later)
    assert outcome.new_items == 1 and count_items(db_url, feed.id) == 6


def test_private_addresses_are_refused_before_connecting(
    db_url: str, feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    feed_server.routes["/feed"] = static(rss([("a", "b")]))
    feed = store.add_feed(feed_server.url("/feed"))  # e.g. added while it was allowed
    strict = poll_settings.with_overrides(allow_private_networks=False)
    (outcome,) = poll_once(store, model, strict)
    assert outcome.error and "loopback address" in outcome.error
    assert feed_server.hits["/feed"] == 0 and count_items(db_url, feed.id) == 0


def test_fetcher_pins_plain_http_to_the_checked_address(
    feed_server: FeedServer, poll_settings: Settings
) -> None:
    body = rss([("a", "b")])
    feed_server.routes["/feed"] = static(body)
    port = feed_server.server_address[1]
    fetcher = fetcher_for(poll_settings)
    try:
        response = fetcher(f"http://localhost:{port}/feed", None, None)
    finally:
        fetcher.close()
    assert response.status == 200 and response.body == body
    assert response.url == f"http://localhost:{port}/feed"
    assert feed_server.request_headers["/feed"][0]["host"] == f"localhost:{port}"


@pytest.mark.parametrize("cap", [1000, 64 * 1024 + 1])
def test_decompressed_cap_is_exact(
    feed_server: FeedServer, poll_settings: Settings, cap: int
) -> None:
    feed_server.routes["/bomb"] = gzip_bomb(cap)  # inflates to cap + 14 bytes
    tight = Fetcher(allow_private=True, max_bytes=cap)
    enough = Fetcher(allow_private=True, max_bytes=cap + 14)
    try:
        with pytest.raises(FeedTooLarge, match="inflates past"):
            tight(feed_server.url("/bomb"), None, None)
        assert len(enough(feed_server.url("/bomb"), None, None).body) == cap + 14
    finally:
        tight.close()
        enough.close()


class _BrokenModel:
    version = "broken"

    def classify(self, items: object, explain: bool = False) -> list[object]:
        raise RuntimeError("model exploded")


def test_a_failing_model_loses_nothing(
    db_url: str, feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    feed_server.routes["/feed"] = static(rss([("One", "a"), ("Two", "b")]))
    feed = store.add_feed(feed_server.url("/feed"))
    (outcome,) = poll_once(store, _BrokenModel(), poll_settings)  # type: ignore[arg-type]
    assert outcome.error and "model exploded" in outcome.error and outcome.new_items == 0
    assert count_items(db_url, feed.id) == 0
    stored = store.get_feed(feed.id)
    assert stored is not None and stored.etag is None  # not marked as seen
    retry = stored.next_check_at + timedelta(seconds=1)
    (outcome,) = poll_once(store, model, poll_settings, now=lambda: retry)
    assert outcome.error is None and outcome.new_items == 2


def test_an_unexpected_fetch_failure_costs_one_feed(
    feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    feed_server.routes["/good"] = static(rss([("One", "a")]))
    good = store.add_feed(feed_server.url("/good"))
    bad = store.add_feed(feed_server.url("/bad"))
    real = fetcher_for(poll_settings)

    def fetch(url: str, etag: str | None, last_modified: str | None) -> Response:
        if url.endswith("/bad"):
            raise KeyError("a bug in a library")
        return real(url, etag, last_modified)

    try:
        outcomes = poll_once(store, model, poll_settings, fetch=fetch)
    finally:
        real.close()
    by_id = {o.feed_id: o for o in outcomes}
    assert by_id[good.id].new_items == 1 and by_id[good.id].error is None
    assert by_id[bad.id].error is not None and "internal error: KeyError" in by_id[bad.id].error
