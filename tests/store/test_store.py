"""The store against a real SQLite file (and PostgreSQL when configured)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, inspect, text
from storekit import count_items, item_keys, outbox_counts

from common.labels import LABELS
from store import Alert, FeedExists, FeedUpdate, NewItem, Store, StoreError, open_store
from store.migrations import MIGRATIONS

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def item(
    key: str,
    *,
    labels: tuple[str, ...] = (),
    published: datetime | None = None,
    attack: float = 0.1,
    alerts: tuple[Alert, ...] = (),
) -> NewItem:
    scores = {label: (0.9 if label in labels else 0.05) for label in LABELS}
    scores["attack"] = attack if "attack" not in labels else max(attack, 0.9)
    return NewItem(
        key,
        f"http://x/{key}",
        f"title {key}",
        f"summary {key}",
        published,
        list(labels),
        scores,
        "v-test",
        alerts,
    )


def ok(at: datetime = NOW, **changes: object) -> FeedUpdate:
    values: dict[str, object] = dict(
        checked_at=at, next_check_at=at + timedelta(minutes=15), status=200, error_count=0
    )
    values.update(changes)
    return FeedUpdate(**values)  # type: ignore[arg-type]


def test_open_store_creates_the_file_applies_migrations_once(store_url: str) -> None:
    first = open_store(store_url)
    first.add_feed("http://a/feed", now=NOW)
    second = open_store(store_url)  # a second process opening the same store
    assert second.count_feeds() == 1
    engine = create_engine(store_url)
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version FROM schema_version")).scalars().all()
        tables = set(inspect(conn).get_table_names())
        if store_url.startswith("sqlite"):
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert {"feeds", "items", "item_scores", "webhook_outbox", "schema_version"} <= tables
    first.close()
    second.close()


def test_newer_schema_is_refused(store_url: str) -> None:
    open_store(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO schema_version (version, applied_at) VALUES (99, :t)"),
            {"t": NOW.replace(tzinfo=None)},
        )
    engine.dispose()
    with pytest.raises(StoreError, match="newer than this wiretag"):
        open_store(store_url)


def test_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        open_store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")


def test_feeds_add_get_find_remove(store: Store) -> None:
    feed = store.add_feed("http://a/feed", interval_minutes=30, title="A", now=NOW)
    assert feed.next_check_at == NOW and feed.error_count == 0 and feed.interval_minutes == 30
    with pytest.raises(FeedExists):
        store.add_feed("http://a/feed")
    assert store.get_feed(feed.id) == feed
    assert store.find_feed("http://a/feed") == feed
    assert store.get_feed(feed.id + 100) is None
    assert store.remove_feed(feed.id) is True
    assert store.remove_feed(feed.id) is False
    assert store.count_feeds() == 0 and store.feeds_health() == []


def test_concurrent_adds_of_one_url_make_one_feed(store: Store) -> None:
    errors: list[Exception] = []

    def add() -> None:
        try:
            store.add_feed("http://same/feed")
        except FeedExists as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count_feeds() == 1 and len(errors) == 3


def test_claim_leases_due_feeds_once_until_expiry(store: Store) -> None:
    due = store.add_feed("http://a/1", now=NOW)
    store.add_feed("http://a/2", now=NOW + timedelta(hours=1))  # not due yet
    assert [f.id for f in store.claim_due_feeds("p1", 10, 60, now=NOW)] == [due.id]
    assert store.claim_due_feeds("p2", 10, 60, now=NOW + timedelta(seconds=30)) == []
    # the lease of a dead poller expires
    again = store.claim_due_feeds("p2", 10, 60, now=NOW + timedelta(seconds=61))
    assert [f.id for f in again] == [due.id]


def test_claim_respects_limit_order_and_due_before(store: Store) -> None:
    ids = [store.add_feed(f"http://a/{i}", now=NOW + timedelta(seconds=i)).id for i in range(5)]
    later = NOW + timedelta(minutes=1)
    assert [f.id for f in store.claim_due_feeds("p", 2, 60, now=later)] == ids[:2]
    cut = NOW + timedelta(seconds=3)
    assert [f.id for f in store.claim_due_feeds("p", 10, 60, now=later, due_before=cut)] == ids[2:4]


def test_record_fetch_writes_feed_items_scores_and_releases_lease(store: Store) -> None:
    feed = store.add_feed("http://a/feed", now=NOW)
    store.claim_due_feeds("p", 1, 60, now=NOW)
    update = ok(
        etag='"e1"',
        last_modified="Sun, 01 Mar 2026 11:00:00 GMT",
        title="Feed A",
        warning="bozo: mismatched tag",
    )
    added = store.record_fetch(feed.id, "p", update, [item("a", labels=("attack",)), item("b")])
    assert len(added) == 2
    stored = store.get_feed(feed.id)
    assert stored is not None
    assert (stored.etag, stored.title, stored.last_status) == ('"e1"', "Feed A", 200)
    assert stored.last_warning == "bozo: mismatched tag" and stored.last_checked_at == NOW
    assert stored.next_check_at == NOW + timedelta(minutes=15)
    # released: due again once next_check_at passes, without waiting for the lease
    assert store.claim_due_feeds("q", 1, 60, now=NOW + timedelta(minutes=16))
    # a later error keeps the validators and the title
    store.record_fetch(feed.id, "q", ok(status=500, error="HTTP 500", error_count=1))
    stored = store.get_feed(feed.id)
    assert stored is not None and stored.etag == '"e1"' and stored.title == "Feed A"
    assert (stored.error_count, stored.last_error) == (1, "HTTP 500")


def test_items_are_unique_per_feed_and_key(store: Store, store_url: str) -> None:
    a = store.add_feed("http://a/feed", now=NOW)
    b = store.add_feed("http://b/feed", now=NOW)
    assert len(store.record_fetch(a.id, "p", ok(), [item("k1"), item("k2"), item("k1")])) == 2
    assert store.record_fetch(a.id, "p", ok(), [item("k1"), item("k3")]) != []
    assert len(store.record_fetch(b.id, "p", ok(), [item("k1")])) == 1  # other feed: its own
    assert sorted(item_keys(store_url, a.id)) == ["k1", "k2", "k3"]
    assert store.known_keys(a.id, ["k1", "k9", "k3"]) == {"k1", "k3"}
    assert store.known_keys(a.id, [f"n{i}" for i in range(1200)]) == set()


def test_record_fetch_for_a_removed_feed_stores_nothing(store: Store, store_url: str) -> None:
    feed = store.add_feed("http://a/feed", now=NOW)
    store.remove_feed(feed.id)
    assert store.record_fetch(feed.id, "p", ok(), [item("a")]) == []
    assert count_items(store_url) == 0


def test_remove_feed_removes_its_items(store: Store, store_url: str) -> None:
    feed = store.add_feed("http://a/feed", now=NOW)
    alert = Alert("attack", "http://hook", {"label": "attack"})
    store.record_fetch(feed.id, "p", ok(), [item("a", labels=("attack",), alerts=(alert,))])
    store.remove_feed(feed.id)
    assert count_items(store_url) == 0 and outbox_counts(store_url) == {}


def _fill(store: Store) -> tuple[int, int]:
    a = store.add_feed("http://a/feed", now=NOW)
    b = store.add_feed("http://b/feed", now=NOW)
    items_a = [
        item(
            f"a{i}",
            published=NOW - timedelta(hours=i),
            labels=("attack",) if i % 2 else (),
            attack=0.5 + i / 100,
        )
        for i in range(10)
    ]
    store.record_fetch(a.id, "p", ok(), items_a)
    store.record_fetch(b.id, "p", ok(), [item("b0", published=None, labels=("recruitment",))])
    return a.id, b.id


def test_list_items_newest_first_with_cursor_paging(store: Store) -> None:
    _fill(store)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page, cursor = store.list_items(limit=3, cursor=cursor)
        seen += [i.title for i in page]
        if cursor is None:
            break
    # b0 has no published time: sorted by its fetch time (NOW), ahead of a0 (NOW as well,
    # but inserted later, so a higher id)
    assert seen == ["title b0"] + [f"title a{i}" for i in range(10)]


def test_list_items_filters(store: Store) -> None:
    _a, b = _fill(store)
    attack, _ = store.list_items(label="attack")
    assert [i.title for i in attack] == [f"title a{i}" for i in (1, 3, 5, 7, 9)]
    assert all("attack" in i.labels and i.scores["attack"] >= 0.9 for i in attack)
    strong, _ = store.list_items(label="attack", min_score=0.55)
    # labelled ones score 0.9; of the others a6 (0.56) and a8 (0.58) pass 0.55
    assert {i.title for i in strong} == {f"title a{i}" for i in (1, 3, 5, 6, 7, 8, 9)}
    recent, _ = store.list_items(since=NOW - timedelta(hours=2, minutes=30))
    assert [i.title for i in recent] == ["title b0", "title a0", "title a1", "title a2"]
    only_b, _ = store.list_items(feed_id=b)
    assert [i.title for i in only_b] == ["title b0"] and only_b[0].feed_id == b
    none, cursor = store.list_items(label="territorial_loss")
    assert none == [] and cursor is None
    with pytest.raises(ValueError):
        store.list_items(cursor="not-a-cursor")
    with pytest.raises(ValueError):
        store.list_items(limit=0)


def test_stored_item_round_trip(store: Store) -> None:
    feed = store.add_feed("http://a/feed", now=NOW)
    published = NOW - timedelta(days=1)
    store.record_fetch(feed.id, "p", ok(), [item("x", labels=("attack",), published=published)])
    (stored,), _ = store.list_items()
    data = stored.to_dict()
    assert data["published_at"] == published.isoformat() and data["fetched_at"] == NOW.isoformat()
    assert data["labels"] == ["attack"] and set(data["scores"]) == set(LABELS)
    assert data["model_version"] == "v-test" and data["link"] == "http://x/x"


def test_future_publication_times_sort_by_fetch_time(store: Store) -> None:
    feed = store.add_feed("http://a/feed", now=NOW)
    store.record_fetch(
        feed.id,
        "p",
        ok(),
        [
            item("past", published=NOW - timedelta(hours=1)),
            item("future", published=NOW + timedelta(days=300)),
        ],
    )
    page, _ = store.list_items()
    assert [i.title for i in page] == ["title future", "title past"]
    assert page[0].published_at == NOW + timedelta(days=300)  # kept as the feed said


def test_feeds_health_counts_last_24_hours(store: Store) -> None:
    feed = store.add_feed("http://a/feed", now=NOW - timedelta(days=2))
    old = ok(at=NOW - timedelta(days=2))
    store.record_fetch(feed.id, "p", old, [item("old", labels=("attack",))])
    store.record_fetch(
        feed.id,
        "p",
        ok(),
        [item("n1", labels=("attack",)), item("n2", labels=("attack", "recruitment")), item("n3")],
    )
    (health,) = store.feeds_health(now=NOW + timedelta(hours=1))
    assert health.items_24h == 3 and health.label_counts == {"attack": 2, "recruitment": 1}
    data = health.to_dict()
    assert data["last_status"] == 200 and data["next_check_at"].endswith("+00:00")


def test_outbox_written_with_items_and_delivered_once(store: Store, store_url: str) -> None:
    feed = store.add_feed("http://a/feed", now=NOW)
    body = {"label": "attack", "item": {"title": "title a"}}
    alert = Alert("attack", "http://hook/attack", body)
    a = item("a", labels=("attack",), alerts=(alert,))
    (a_id, _b_id) = store.record_fetch(feed.id, "p", ok(), [a, item("b")])
    assert store.record_fetch(feed.id, "p", ok(), [a]) == []  # known: no second alert
    (delivery,) = store.claim_deliveries(10, 60, now=NOW)
    assert (delivery.url, delivery.label, delivery.item_id) == (
        "http://hook/attack",
        "attack",
        a_id,
    )
    assert delivery.payload == body and delivery.attempts == 0  # as the poller gave it
    assert store.claim_deliveries(10, 60, now=NOW) == []  # leased
    store.delivery_failed(delivery.id, "HTTP 500", NOW + timedelta(minutes=1))
    assert store.claim_deliveries(10, 60, now=NOW + timedelta(seconds=30)) == []
    (again,) = store.claim_deliveries(10, 60, now=NOW + timedelta(minutes=2))
    assert again.attempts == 1
    store.delivery_sent(again.id)
    assert outbox_counts(store_url) == {"sent": 1}
    assert store.claim_deliveries(10, 60, now=NOW + timedelta(days=1)) == []


def test_ping(store: Store) -> None:
    store.ping()
    store.close()
