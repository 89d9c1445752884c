"""The store's maintenance rooms, on SQLite and PostgreSQL: pausing and refreshing feeds,
re-tagging, retention and the chunked export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from common.labels import LABELS
from store import FeedUpdate, ItemFilter, NewItem, Retagged, Store, open_store, parse_query
from store.feed_admin import change_values
from store.migrations import MIGRATIONS

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def scores(*tagged: str) -> dict[str, float]:
    return {label: (0.9 if label in tagged else 0.1) for label in LABELS}


def add_items(
    store: Store, feed_id: int, n: int, fetched: datetime, prefix: str = "k", version: str = "v1"
) -> list[int]:
    items = [
        NewItem(
            f"{prefix}{k}",
            None,
            f"{prefix} title {k} attack",
            f"summary {k}",
            fetched - timedelta(minutes=k),
            ["attack"],
            scores("attack"),
            version,
        )
        for k in range(n)
    ]
    return store.record_fetch(feed_id, "t", FeedUpdate(fetched, fetched, 200, 0), items)


def count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


# -- feeds: pause, change, refresh -----------------------------------------------------


def test_a_paused_feed_is_never_due_until_resumed(store: Store) -> None:
    feed = store.add_feed("https://a.example/feed", now=NOW)
    paused = store.change_feed(feed.id, {"paused": True}, now=NOW)
    assert paused is not None and paused.paused_at == NOW
    assert paused.to_dict()["paused"] is True
    assert store.claim_due_feeds("p", 10, 60, now=NOW + timedelta(days=9)) == []
    again = store.change_feed(feed.id, {"paused": True}, now=NOW + timedelta(hours=1))
    assert again is not None and again.paused_at == NOW  # the first pause's time is kept
    assert store.refresh_feed(feed.id, now=NOW + timedelta(days=1)) == again  # no effect
    resumed = store.change_feed(feed.id, {"paused": False}, now=NOW)
    assert resumed is not None and resumed.paused_at is None
    assert [f.id for f in store.claim_due_feeds("p", 10, 60, now=NOW)] == [feed.id]
    assert store.feeds_health(now=NOW)[0].paused is False


def test_title_and_interval_are_changed_and_cleared(store: Store) -> None:
    feed = store.add_feed("https://a.example/feed", interval_minutes=5, title="A", now=NOW)
    changed = store.change_feed(feed.id, {"title": "B", "interval_minutes": 60})
    assert changed is not None and (changed.title, changed.interval_minutes) == ("B", 60)
    cleared = store.change_feed(feed.id, {"title": None, "interval_minutes": None})
    assert cleared is not None and (cleared.title, cleared.interval_minutes) == (None, None)
    assert store.change_feed(feed.id, {}) == cleared
    assert store.change_feed(feed.id + 1, {"title": "x"}) is None
    with pytest.raises(ValueError, match="at least 1"):
        store.change_feed(feed.id, {"interval_minutes": 0})
    with pytest.raises(ValueError, match="cannot change url"):
        store.change_feed(feed.id, {"url": "https://b.example/"})


def test_change_values_is_pure() -> None:
    assert change_values({"paused": True}, False, NOW) == {"paused_at": NOW}
    assert change_values({"paused": False}, True, NOW) == {"paused_at": None}
    assert change_values({"paused": False}, False, NOW) == {}
    assert change_values({"title": None}, False, NOW) == {"title": None}


def test_refresh_makes_a_feed_due_now(store: Store) -> None:
    feed = store.add_feed("https://a.example/feed", now=NOW)
    later = NOW + timedelta(hours=1)
    store.record_fetch(feed.id, "t", FeedUpdate(NOW, later, 200, 0))
    assert store.claim_due_feeds("p", 10, 60, now=NOW + timedelta(minutes=1)) == []
    refreshed = store.refresh_feed(feed.id, now=NOW + timedelta(minutes=2))
    assert refreshed is not None and refreshed.next_check_at == NOW + timedelta(minutes=2)
    claimed = store.claim_due_feeds("p", 10, 60, now=NOW + timedelta(minutes=2))
    assert [f.id for f in claimed] == [feed.id]
    assert store.refresh_feed(feed.id + 1) is None


def test_migration_4_adds_the_pause_to_an_older_database(store_url: str) -> None:
    """A store made before migration 4 (no feeds.paused_at) gets the column."""
    assert MIGRATIONS[-1].__name__ == "_v4_feed_paused"
    open_store(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE feeds DROP COLUMN paused_at"))
        conn.execute(text("DELETE FROM schema_version WHERE version = :v"), {"v": len(MIGRATIONS)})
    engine.dispose()
    store = open_store(store_url)
    try:
        feed = store.add_feed("https://a.example/feed", now=NOW)
        assert store.change_feed(feed.id, {"paused": True}, now=NOW) is not None
    finally:
        store.close()


# -- re-tagging ------------------------------------------------------------------------


def test_retag_rewrites_the_models_tags_and_leaves_corrections(store: Store) -> None:
    feed = store.add_feed("https://a.example/feed", now=NOW)
    ids = add_items(store, feed.id, 5, NOW)
    store.add_corrections(ids[0], [("attack", "confirm")], "ana", now=NOW)
    assert store.count_stale("v2") == 5 and store.count_stale("v1") == 0
    first = store.stale_items("v2", limit=3)
    assert [i.id for i in first] == sorted(ids)[:3]
    new = [Retagged(i.id, ["recruitment"], scores("recruitment")) for i in first]
    assert store.write_retags(new, "v2") == 3
    assert store.count_stale("v2") == 2
    rest = store.stale_items("v2", after_id=first[-1].id)
    assert [i.id for i in rest] == sorted(ids)[3:]
    again = store.get_item(first[0].id)
    assert again is not None
    assert (again.labels, again.model_version) == (["recruitment"], "v2")
    assert again.scores == scores("recruitment")
    page = store.page_items(ItemFilter(labels=("recruitment",)), limit=50)
    assert sorted(i.id for i in page.items) == sorted(ids)[:3]
    # the analyst's verdict is still there, and still wins for the label it names
    assert store.latest_verdicts([ids[0]]) == {ids[0]: {"attack": "confirm"}}
    attack = store.page_items(ItemFilter(labels=("attack",)), limit=50)
    assert sorted(i.id for i in attack.items) == sorted({ids[0], *sorted(ids)[3:]})


def test_retag_since_and_a_deleted_item(store: Store, store_url: str) -> None:
    feed = store.add_feed("https://a.example/feed", now=NOW)
    ids = add_items(store, feed.id, 3, NOW)
    fewer = {label: 0.2 for label in LABELS[1:]}  # a model that no longer scores one label
    assert store.write_retags([Retagged(ids[0], [], fewer)], "v3") == 1
    assert count(store_url, "item_scores") == 3 * len(LABELS) - 1
    assert store.count_stale("v2", since=NOW - timedelta(minutes=1)) == 2
    assert len(store.stale_items("v2", since=NOW - timedelta(minutes=1))) == 2
    assert store.write_retags([Retagged(10**6, [], scores())], "v2") == 0
    assert store.write_retags([], "v2") == 0
    with pytest.raises(ValueError):
        store.stale_items("v2", limit=0)


# -- retention -------------------------------------------------------------------------


def test_retention_deletes_old_uncorrected_items_in_batches(store: Store, store_url: str) -> None:
    feed = store.add_feed("https://a.example/feed", now=NOW)
    other = store.add_feed("https://b.example/feed", now=NOW)
    old = add_items(store, feed.id, 7, NOW - timedelta(days=40), prefix="old")
    old += add_items(store, other.id, 2, NOW - timedelta(days=40), prefix="old")
    young = add_items(store, feed.id, 3, NOW - timedelta(days=1), prefix="young")
    store.add_corrections(old[0], [("attack", "reject")], "ana", now=NOW)
    before = count(store_url, "item_scores")
    cutoff = NOW - timedelta(days=30)
    assert store.delete_expired(cutoff, batch=2, limit=5) == 5  # stops at the limit
    assert store.delete_expired(cutoff, batch=2) == 3
    assert store.delete_expired(cutoff, batch=2) == 0  # nothing left: nothing done
    kept = {i.id for i in store.page_items(ItemFilter(), limit=50).items}
    assert kept == {old[0], *young}
    assert count(store_url, "item_scores") == before - 8 * len(LABELS)
    assert store.latest_verdicts([old[0]]) == {old[0]: {"attack": "reject"}}
    # search forgets the deleted items (SQLite: the FTS triggers; PostgreSQL: the column)
    found = store.page_items(ItemFilter(search=parse_query("old")), limit=50).items
    assert [i.id for i in found] == [old[0]]


def test_retention_takes_the_outbox_rows_along(store: Store, store_url: str) -> None:
    from store import Alert

    feed = store.add_feed("https://a.example/feed", now=NOW)
    item = NewItem(
        "k", None, "t", "s", None, ["attack"], scores("attack"), "v1",
        alerts=(Alert("attack", "https://hooks.example/", {"x": 1}),),
    )  # fmt: skip
    fetched = NOW - timedelta(days=40)
    store.record_fetch(feed.id, "t", FeedUpdate(fetched, fetched, 200, 0), [item])
    assert count(store_url, "webhook_outbox") == 1
    assert store.delete_expired(NOW - timedelta(days=30)) == 1
    assert count(store_url, "webhook_outbox") == 0


# -- export ----------------------------------------------------------------------------


def test_iter_items_pages_through_everything_in_chunks(store: Store) -> None:
    feed = store.add_feed("https://a.example/feed", now=NOW)
    add_items(store, feed.id, 25, NOW)
    chunks = list(store.iter_items(ItemFilter(), chunk=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    everything = [i.id for c in chunks for i in c]
    assert everything == [i.id for i in store.page_items(ItemFilter(), limit=100).items]
    assert [len(c) for c in store.iter_items(ItemFilter(), chunk=10, limit=12)] == [10, 2]
    page = store.page_items(ItemFilter(), limit=4)
    after = [i.id for c in store.iter_items(ItemFilter(), after=page.older) for i in c]
    assert after == everything[4:]
    assert list(store.iter_items(ItemFilter(feed_id=feed.id + 1))) == []
