"""One deadline per fetch, from connect to the last byte, headers included (issue 11.3).

Each tarpit sends something more often than the read timeout, so no single read ever
times out: only the fetch's own deadline can end it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from poller_testkit import FeedServer, poll_once, redirect, rss, slow, static, tarpit, trickle

from model import Model
from poller.errors import FetchTimeout
from poller.fetch import Fetcher
from settings import Settings
from store import Store

GAP = 0.2  # seconds between the tarpits' lines or bytes: under the 0.5 s read timeout
TARPIT_SECONDS = 100 * GAP  # how long the tarpits would hold a fetch (20 s)


@pytest.fixture
def fetch() -> Iterator[Fetcher]:
    """Connect 0.5 s, read 0.5 s: a deadline of 1.5 s per fetch."""
    fetcher = Fetcher(connect_timeout=0.5, read_timeout=0.5, allow_private=True)
    yield fetcher
    fetcher.close()


@pytest.mark.parametrize("route", ["/headers", "/body", "/redirects"])
def test_a_tarpit_is_cut_at_the_deadline(
    feed_server: FeedServer, fetch: Fetcher, route: str
) -> None:
    feed_server.routes["/headers"] = tarpit(GAP)
    feed_server.routes["/body"] = trickle(GAP)
    # each hop answers within the read timeout; together they pass the deadline
    for n in range(5):
        feed_server.routes[f"/hop{n}"] = slow(redirect(f"/hop{n + 1}"), 0.4)
    feed_server.routes["/redirects"] = redirect("/hop0")
    feed_server.routes["/hop5"] = static(rss([("a", "b")]))
    began = time.monotonic()
    with pytest.raises(FetchTimeout, match=r"no complete answer within 1\.5 s"):
        fetch(feed_server.url(route), None, None)
    assert fetch.deadline == 1.5
    assert time.monotonic() - began < TARPIT_SECONDS / 4  # ended by the deadline, not the server


def test_a_slow_but_honest_feed_within_the_deadline_is_read(
    feed_server: FeedServer, fetch: Fetcher
) -> None:
    feed_server.routes["/feed"] = trickle(0.05, pieces=10)  # about 0.5 s in all
    response = fetch(feed_server.url("/feed"), None, None)
    assert response.status == 200 and b"Late" in response.body


def test_tarpits_never_stall_the_poller(
    feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    # Two fetch slots and four tarpits: the good feed waits for a slot twice at most, one
    # deadline each, and every tarpit ends as a timeout on its own feed.
    settings = poll_settings.with_overrides(
        fetch_connect_timeout=0.5, fetch_read_timeout=0.5, poll_concurrency=2
    )
    for n in range(4):
        feed_server.routes[f"/tarpit{n}"] = tarpit(GAP)
        store.add_feed(feed_server.url(f"/tarpit{n}"))
    feed_server.routes["/good"] = static(rss([("Good", "news")]))
    good = store.add_feed(feed_server.url("/good"))
    began = time.monotonic()
    outcomes = {o.url: o for o in poll_once(store, model, settings)}
    assert time.monotonic() - began < TARPIT_SECONDS / 2
    assert outcomes[good.url].error is None and outcomes[good.url].new_items == 1
    for n in range(4):
        error = outcomes[feed_server.url(f"/tarpit{n}")].error
        assert error is not None and "no complete answer within 1.5 s" in error


def test_a_dns_lookup_that_hangs_is_cut_at_the_deadline(feed_server: FeedServer) -> None:
    """The system resolver cannot be interrupted; the fetch stops waiting for it."""
    released = threading.Event()

    def hanging_resolver(host: str, port: int) -> list[str]:
        released.wait(TARPIT_SECONDS)  # a resolver retrying a dead name server
        return ["127.0.0.1"]

    fetcher = Fetcher(
        connect_timeout=0.5, read_timeout=0.5, allow_private=True, resolve=hanging_resolver
    )
    try:
        began = time.monotonic()
        with pytest.raises(FetchTimeout, match=r"DNS lookup of 127\.0\.0\.1 took longer"):
            fetcher(feed_server.url("/feed"), None, None)
        assert time.monotonic() - began < 1.5 + 1.0
        # once the resolver answers, the same fetcher fetches again
        released.set()
        feed_server.routes["/feed"] = static(rss([("a", "b")]))
        assert fetcher(feed_server.url("/feed"), None, None).status == 200
    finally:
        released.set()
        fetcher.close()
