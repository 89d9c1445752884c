"""The poller as a process: signals, SIGKILL and restart, two pollers on PostgreSQL, the CLI."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from poller_testkit import (
    FeedServer,
    Handler,
    Request,
    poller_env,
    rss,
    slow,
    start_poller,
    static,
    wait_for,
)
from sqlalchemy import create_engine, text
from storekit import count_items, item_keys

from poller.__main__ import main
from settings import Settings
from store import Store, open_store

pytestmark = pytest.mark.slow


def _serve_many(server: FeedServer, count: int, per_feed: int, delay: float) -> list[str]:
    urls = []
    for n in range(count):
        items = [(f"Feed {n} entry {i}", f"Body of entry {i} in feed {n}") for i in range(per_feed)]
        server.routes[f"/f{n}"] = slow(static(rss(items, title=f"F{n}")), delay)
        urls.append(server.url(f"/f{n}"))
    return urls


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def shared_url(data_dir: Path) -> str:
    """The URL of the SQLite store a poller subprocess with WIRETAG_DATA_DIR=data_dir uses."""
    return Settings(data_dir=data_dir).sqlalchemy_url


@pytest.fixture
def shared_store(shared_url: str) -> Iterator[Store]:
    """That store, opened."""
    s = open_store(shared_url)
    yield s
    s.close()


def test_sigterm_finishes_the_feeds_in_hand_and_exits_0(
    feed_server: FeedServer, shared_store: Store, shared_url: str, data_dir: Path
) -> None:
    urls = _serve_many(feed_server, 2, 3, delay=1.5)
    ids = [shared_store.add_feed(u).id for u in urls]
    process = start_poller(poller_env(data_dir))
    try:
        wait_for(lambda: sum(feed_server.hits.values()) == 2, 20, "both fetches to start")
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, out
    assert "SIGTERM" in out and "stopped" in out
    assert [count_items(shared_url, i) for i in ids] == [3, 3]


def test_sigkill_in_the_middle_then_restart_loses_nothing_and_doubles_nothing(
    feed_server: FeedServer, shared_store: Store, shared_url: str, data_dir: Path
) -> None:
    feeds, per_feed = 24, 20
    urls = _serve_many(feed_server, feeds, per_feed, delay=0.25)
    ids = [shared_store.add_feed(u).id for u in urls]
    env = poller_env(data_dir, lease_seconds="1", poll_concurrency="4")
    daemon = start_poller(env)
    try:
        wait_for(lambda: count_items(shared_url) > 0, 30, "the first items")
        daemon.send_signal(signal.SIGKILL)
    finally:
        daemon.kill()
        daemon.communicate(timeout=10)
    at_kill = count_items(shared_url)
    assert 0 < at_kill < feeds * per_feed, "the kill should land in the middle of the poll"
    time.sleep(1.2)  # the dead poller's leases expire
    again = start_poller(env, "--once")
    out, _ = again.communicate(timeout=60)
    assert again.returncode == 0, out
    for feed_id in ids:
        keys = item_keys(shared_url, feed_id)
        assert len(keys) == per_feed and len(set(keys)) == per_feed, feed_id
    engine = create_engine(Settings(data_dir=data_dir).sqlalchemy_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()


@pytest.mark.postgres
def test_two_pollers_on_one_postgresql_never_poll_one_feed_at_once(
    feed_server: FeedServer, pg_url: str, tmp_path: Path
) -> None:
    feeds, per_feed = 16, 5
    urls = _serve_many(feed_server, feeds, per_feed, delay=0.3)
    both_polling = threading.Event()

    def gate(handler: Handler) -> Handler:
        # Hold every answer until more fetches are in flight than one poller may run
        # (3): both pollers are then leasing from the same list at the same time.
        def handle(req: Request) -> None:
            if sum(feed_server.active.values()) > 3:
                both_polling.set()
            both_polling.wait(30)
            handler(req)

        return handle

    for n in range(feeds):
        feed_server.routes[f"/f{n}"] = gate(feed_server.routes[f"/f{n}"])
    store = open_store(pg_url)
    try:
        ids = [store.add_feed(u).id for u in urls]
        env = poller_env(tmp_path, database_url=pg_url, poll_concurrency="3")
        pollers = [start_poller(env, "--once") for _ in range(2)]
        outputs = [p.communicate(timeout=60)[0] for p in pollers]
        assert [p.returncode for p in pollers] == [0, 0], outputs
        polled = [int(re.search(r"polled (\d+) feeds", out).group(1)) for out in outputs]  # type: ignore[union-attr]
        assert both_polling.is_set()
        assert sum(polled) == feeds and min(polled) > 0, polled  # shared, not doubled
        for n in range(feeds):
            assert feed_server.hits[f"/f{n}"] == 1 and feed_server.max_active[f"/f{n}"] == 1
        for feed_id in ids:
            keys = item_keys(pg_url, feed_id)
            assert len(keys) == len(set(keys)) == per_feed
    finally:
        store.close()


def test_feeds_commands(
    feed_server: FeedServer,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    for name, value in poller_env(data_dir).items():
        if name.startswith("WIRETAG_"):
            monkeypatch.setenv(name, value)
    url = feed_server.url("/feed")
    assert main(["feeds", "add", url, "--interval", "30"]) == 0
    assert main(["feeds", "add", url]) == 1
    assert main(["feeds", "add", "ftp://example.org/feed"]) == 1
    opml = tmp_path / "list.opml"
    opml.write_text(
        "<?xml version='1.0'?><opml version='2.0'><body><outline text='group'>"
        f"<outline type='rss' text='One' xmlUrl='{feed_server.url('/one')}'/>"
        f"<outline type='rss' text='Again' xmlUrl='{url}'/>"
        "<outline type='rss' text='Offline' xmlUrl='http://no-such-host.invalid/rss'/>"
        "<outline type='rss' text='Bad' xmlUrl='gopher://x/'/></outline></body></opml>"
    )
    assert main(["feeds", "import", str(opml)]) == 0
    assert main(["feeds", "list"]) == 0
    assert main(["feeds", "remove", url]) == 0
    assert main(["feeds", "remove", "999"]) == 1
    out, err = capsys.readouterr()
    assert "added feed 1" in out and "feed already present" in err and "not an http(s)" in err
    assert "imported 2 feeds, 1 already present, 1 refused" in out
    assert "no-such-host.invalid/rss does not resolve now" in out
    assert url in out and feed_server.url("/one") in out and "removed feed 1" in out
    assert "no feed 999" in err
    s = open_store(Settings(data_dir=data_dir).sqlalchemy_url)
    try:
        feeds = s.feeds_health()
        assert [f.url for f in feeds] == [
            feed_server.url("/one"),
            "http://no-such-host.invalid/rss",
        ]
        assert feeds[0].title == "One"
    finally:
        s.close()


def test_first_start_imports_the_feeds_file(
    feed_server: FeedServer, shared_store: Store, shared_url: str, data_dir: Path, tmp_path: Path
) -> None:
    feed_server.routes["/one"] = static(rss([("Only entry", "Text")]))
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        "<?xml version='1.0'?><opml version='2.0'><body>"
        f"<outline type='rss' text='One' xmlUrl='{feed_server.url('/one')}'/></body></opml>"
    )
    env = poller_env(data_dir, feeds_file=str(opml))
    first = start_poller(env, "--once")
    out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    assert "imported 1 feeds" in out and count_items(shared_url) == 1
    shared_store.remove_feed(shared_store.feeds_health()[0].id)
    shared_store.add_feed(feed_server.url("/other"))  # not empty any more: no re-import
    second = start_poller(env, "--once")
    out, _ = second.communicate(timeout=60)
    assert second.returncode == 0 and "imported" not in out
    assert [f.url for f in shared_store.feeds_health()] == [feed_server.url("/other")]
