"""Storage failures are data on the feed (issue 11.4, poller side): a feed whose entries
cannot be stored, for any reason, carries that as its error — streak, last error, backoff —
in ``feeds list`` and /v1/feeds (both read ``feeds_health``), loses nothing, and
``poller --once`` exits non-zero when a feed failed for a reason on our side.

The database refuses for real: a trigger makes SQLite abort every insert of one feed's
items, as a full disk, a quota or a constraint would."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from poller_testkit import FeedServer, poll_once, poller_env, rss, start_poller, static
from sqlalchemy import create_engine, text
from storekit import count_items

from model import Model
from poller.__main__ import main
from poller.schedule import FAR
from settings import Settings
from store import Store, open_store

REFUSAL = "disk quota exceeded"


def _refuse_items_of(url: str, feed_id: int) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER refuse_items BEFORE INSERT ON items "
                f"WHEN NEW.feed_id = {feed_id} BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            )
        )
    engine.dispose()


def _accept_items_again(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_items"))
    engine.dispose()


def test_entries_that_cannot_be_stored_are_the_feeds_error_and_are_not_lost(
    feed_server: FeedServer, store: Store, db_url: str, model: Model, poll_settings: Settings
) -> None:
    feed_server.routes["/refused"] = static(rss([("One", "a"), ("Two", "b")]))
    feed_server.routes["/fine"] = static(rss([("Three", "c")], title="Fine"))
    refused = store.add_feed(feed_server.url("/refused"))
    fine = store.add_feed(feed_server.url("/fine"))
    _refuse_items_of(db_url, refused.id)
    started = datetime.now(UTC)

    outcomes = {o.feed_id: o for o in poll_once(store, model, poll_settings)}

    bad = outcomes[refused.id]
    assert bad.ours and bad.error is not None and REFUSAL in bad.error
    assert bad.error.startswith("entries not stored: StoreError")
    assert not outcomes[fine.id].ours and count_items(db_url, fine.id) == 1
    health = {h.id: h for h in store.feeds_health()}[refused.id]
    assert health.error_count == 1 and health.last_error == bad.error
    assert health.last_status == 200 and health.next_check_at > started  # backed off
    feed = store.get_feed(refused.id)
    assert feed is not None and feed.etag is None  # not marked as seen: fetched again in full
    assert count_items(db_url, refused.id) == 0

    _accept_items_again(db_url)
    retry = feed.next_check_at + timedelta(seconds=1)
    # the fine feed may be due by then too (backoff and schedule carry jitter): take ours
    again = {o.feed_id: o for o in poll_once(store, model, poll_settings, now=lambda: retry)}[
        refused.id
    ]
    assert again.error is None and again.new_items == 2 and not again.ours
    assert store.get_feed(refused.id).error_count == 0  # type: ignore[union-attr]


def test_a_huge_interval_is_scheduled_far_ahead_not_lost_to_an_overflow(
    feed_server: FeedServer, store: Store, db_url: str, model: Model, poll_settings: Settings
) -> None:
    # issue 11: interval_minutes 10^12 made every poll fail to store (OverflowError) unseen
    feed_server.routes["/feed"] = static(rss([("One", "a")]))
    for minutes in (10**12, 2**63 - 1):
        store.add_feed(feed_server.url(f"/feed?{minutes}"), interval_minutes=minutes)
    outcomes = poll_once(store, model, poll_settings)
    assert [o.error for o in outcomes] == [None, None] and count_items(db_url) == 2
    for health in store.feeds_health():
        assert health.error_count == 0 and health.next_check_at <= datetime.now(UTC) + FAR


@pytest.mark.slow
def test_poller_once_exits_1_when_a_feed_failed_on_our_side(
    feed_server: FeedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir = tmp_path / "data"
    url = Settings(data_dir=data_dir).sqlalchemy_url
    feed_server.routes["/refused"] = static(rss([("One", "a")]))
    feed_server.routes["/gone"] = lambda req: req.send(404, b"gone")  # the feed's own failure
    store = open_store(url)
    try:
        refused = store.add_feed(feed_server.url("/refused"))
        store.add_feed(feed_server.url("/gone"))
    finally:
        store.close()
    _refuse_items_of(url, refused.id)
    env = poller_env(data_dir)
    once = start_poller(env, "--once")
    out, _ = once.communicate(timeout=60)
    assert once.returncode == 1, out
    assert "polled 2 feeds: 0 new items, 2 failed (1 on our side)" in out
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["feeds", "list"]) == 0
    listed = capsys.readouterr().out
    assert re.search(f"last error: entries not stored: StoreError: .*{REFUSAL}", listed), listed
    assert "last error: HTTP 404" in listed
