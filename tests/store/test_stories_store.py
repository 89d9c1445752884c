"""Stories and surges in the store (migration 3), on a real SQLite file and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, insert, text
from storekit import outbox_counts

from common.labels import LABELS
from store import (
    Alert,
    FeedUpdate,
    Grouping,
    NewItem,
    NewSurge,
    Store,
    open_store,
)
from store import schema as tables
from store import stories as store_stories
from store.base import make_engine
from store.migrations import MIGRATIONS, _v1_tables

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCHEME = "test-scheme"


def item(
    key: str,
    story: int | str | None,
    *,
    labels: tuple[str, ...] = (),
    published: datetime | None = None,
    alerts: tuple[str, ...] = (),
) -> NewItem:
    scores = {label: (0.9 if label in labels else 0.05) for label in LABELS}
    grouping = None if story is None else Grouping(story, key.encode().ljust(512, b"\0"), SCHEME)
    return NewItem(
        key,
        f"http://x/{key}",
        f"title {key}",
        f"summary {key}",
        published,
        list(labels),
        scores,
        "v-test",
        tuple(
            Alert(label, f"http://hook/{label}", {"label": label, "item": {}}) for label in alerts
        ),
        grouping,
    )


def ok(at: datetime = NOW) -> FeedUpdate:
    return FeedUpdate(
        checked_at=at, next_check_at=at + timedelta(minutes=15), status=200, error_count=0
    )


def poll(
    store: Store, feed_id: int, items: list[NewItem], at: datetime = NOW
) -> dict[str, int | None]:
    """Record a poll; dedupe key -> story id of the items added."""
    owner = f"owner-{feed_id}"
    assert store.claim_due_feeds(owner, 10, 60, now=at + timedelta(days=1)) is not None
    return {a.dedupe_key: a.story_id for a in store.record_poll(feed_id, owner, ok(at), items)}


def test_a_batch_starts_stories_and_later_copies_join_them(store: Store) -> None:
    a = store.add_feed("http://a/feed", now=NOW)
    b = store.add_feed("http://b/feed", now=NOW)
    first = poll(
        store,
        a.id,
        [
            item("a1", "new:0", labels=("attack",)),
            item("a2", "new:0"),
            item("a3", "new:2"),
            item("a4", None),
        ],
    )
    assert first["a1"] == first["a2"] != first["a3"]
    assert first["a4"] is None
    story = first["a1"]
    assert isinstance(story, int)
    later = NOW + timedelta(hours=1)
    second = poll(store, b.id, [item("b1", story, labels=("recruitment",))], at=later)
    assert second == {"b1": story}
    stories, cursor = store.list_stories()
    assert cursor is None
    top = stories[0]  # newest activity first
    assert (top.id, top.item_count, top.feed_count) == (story, 3, 2)
    assert top.labels == ["attack", "recruitment"]
    assert (top.first_seen_at, top.last_seen_at) == (NOW, later)
    assert [i.title for i in top.items] == ["title b1", "title a2", "title a1"]
    assert all(i.story_id == story for i in top.items)
    assert [s.item_count for s in stories] == [3, 1]


def test_a_story_gone_meanwhile_is_started_anew(store: Store, store_url: str) -> None:
    feed = store.add_feed("http://a/feed", now=NOW)
    found = poll(store, feed.id, [item("x1", 999_999), item("x2", 999_999)])
    assert found["x1"] == found["x2"] != 999_999
    assert found["x1"] is not None


def test_webhooks_fire_once_per_story_and_label(store: Store, store_url: str) -> None:
    a = store.add_feed("http://a/feed", now=NOW)
    b = store.add_feed("http://b/feed", now=NOW)
    first = poll(
        store,
        a.id,
        [
            item("a1", "new:0", labels=("attack",), alerts=("attack",)),
            item("a2", "new:0", labels=("attack",), alerts=("attack",)),  # the batch's own copy
            item("a3", None, labels=("attack",), alerts=("attack",)),  # no story: alerts
        ],
    )
    assert outbox_counts(store_url) == {"pending": 2}
    story = first["a1"]
    assert isinstance(story, int)
    poll(
        store,
        b.id,
        [item("b1", story, labels=("attack", "recruitment"), alerts=("attack", "recruitment"))],
    )
    assert outbox_counts(store_url) == {"pending": 3}  # recruitment is new to the story
    deliveries = store.claim_deliveries(10, 60, now=NOW)
    assert sorted((d.label, d.item_id is not None, d.story_id or 0) for d in deliveries) == [
        ("attack", True, 0),  # a3, in no story
        ("attack", True, story),
        ("recruitment", True, story),
    ]


def test_signatures_come_back_for_the_index(store: Store) -> None:
    a = store.add_feed("http://a/feed", now=NOW)
    b = store.add_feed("http://b/feed", now=NOW)
    poll(store, a.id, [item("a1", "new:0"), item("a2", "new:1")])
    poll(store, b.id, [item("b1", "new:0")], at=NOW + timedelta(minutes=5))
    kept = store.recent_signatures(NOW - timedelta(hours=72), SCHEME)
    assert [k.signature[:2] for k in kept] == [b"a1", b"a2", b"b1"]  # oldest first
    assert kept[0].seen_at == NOW
    assert store.recent_signatures(NOW, "other-scheme") == []
    others = store.recent_signatures(NOW, SCHEME, exclude_owner=f"owner-{a.id}")
    assert [k.signature[:2] for k in others] == [b"b1"]
    newest = store.recent_signatures(NOW, SCHEME, limit=2)
    assert [k.signature[:2] for k in newest] == [b"a2", b"b1"]
    assert store.expire_signatures(NOW + timedelta(minutes=1)) == 2
    assert len(store.recent_signatures(NOW - timedelta(days=9), SCHEME)) == 1


def test_stories_filter_and_page(store: Store) -> None:
    a = store.add_feed("http://a/feed", now=NOW)
    b = store.add_feed("http://b/feed", now=NOW)
    for n in range(5):
        at = NOW + timedelta(hours=n)
        labels = ("attack",) if n % 2 else ()
        poll(store, a.id, [item(f"a{n}", "new:0", labels=labels)], at=at)
    poll(store, b.id, [item("b0", "new:0")], at=NOW - timedelta(hours=1))
    everything, _ = store.list_stories(limit=100)
    assert len(everything) == 6
    page, cursor = store.list_stories(limit=4)
    rest, end = store.list_stories(limit=4, cursor=cursor)
    assert end is None
    assert [s.id for s in page + rest] == [s.id for s in everything]
    attack, _ = store.list_stories(label="attack")
    assert [s.items[0].title for s in attack] == ["title a3", "title a1"]
    of_b, _ = store.list_stories(feed_id=b.id)
    assert [s.items[0].title for s in of_b] == ["title b0"]
    recent, _ = store.list_stories(since=NOW + timedelta(hours=3))
    assert len(recent) == 2
    one_each, _ = store.list_stories(per_story=1, limit=1)
    assert len(one_each[0].items) == 1


def test_items_collapse_to_one_row_per_story(store: Store) -> None:
    a = store.add_feed("http://a/feed", now=NOW)
    b = store.add_feed("http://b/feed", now=NOW)
    first = poll(
        store,
        a.id,
        [
            item("a1", "new:0", published=NOW - timedelta(hours=3)),
            item("a2", "new:1", published=NOW - timedelta(hours=2)),
            item("a3", None, published=NOW - timedelta(hours=1)),
        ],
    )
    poll(store, b.id, [item("b1", first["a1"], published=NOW)])
    items, _ = store.list_items(collapse=True)
    assert [(i.title, i.story_items) for i in items] == [
        ("title b1", 2),
        ("title a3", 1),
        ("title a2", 1),
    ]
    assert items[0].story_id == first["a1"]
    plain, _ = store.list_items()
    assert len(plain) == 4 and all(i.story_items is None for i in plain)
    page, cursor = store.list_items(collapse=True, limit=2)
    rest, end = store.list_items(collapse=True, limit=2, cursor=cursor)
    assert [i.title for i in page + rest] == ["title b1", "title a3", "title a2"]
    assert end is None
    of_a, _ = store.list_items(collapse=True, feed_id=a.id)  # a1's story shows as b1 (feed b)
    assert [i.title for i in of_a] == ["title a3", "title a2"]


def test_surges_are_stored_once_per_label_and_hour(store: Store, store_url: str) -> None:
    hour = NOW.replace(minute=0)
    alert = Alert("attack", "http://hook/attack", {"event": "surge", "label": "attack"})
    surge = NewSurge("attack", hour, 12, 1.5, 1e-6, (alert,))
    assert store.record_surges([surge], NOW) == [surge]
    assert store.record_surges([surge], NOW + timedelta(minutes=5)) == []  # another poller
    other = NewSurge("recruitment", hour, 6, 0.2, 1e-5)
    assert store.record_surges([other], NOW) == [other]
    assert store.surge_counts() == {"attack": 1, "recruitment": 1}
    found = store.list_surges(label="attack")
    assert [(s.label, s.hour_start, s.count, s.detected_at) for s in found] == [
        ("attack", hour, 12, NOW)
    ]
    assert store.list_surges(since=hour + timedelta(hours=1)) == []
    assert outbox_counts(store_url) == {"pending": 1}
    (delivery,) = store.claim_deliveries(10, 60, now=NOW)
    assert delivery.item_id is None and delivery.payload["event"] == "surge"
    assert delivery.story_id is None


def test_new_stories_are_counted_per_label_and_hour(store: Store) -> None:
    feed = store.add_feed("http://a/feed", now=NOW)
    assert store.first_story_at() is None
    poll(
        store,
        feed.id,
        [
            item("a1", "new:0", labels=("attack",)),
            item("a2", "new:1", labels=("attack", "recruitment")),
            item("a3", "new:2"),
        ],
    )
    assert store.first_story_at() == NOW
    counts = store.new_story_labels(NOW - timedelta(hours=1), NOW + timedelta(seconds=1))
    assert counts == {"attack": 2, "recruitment": 1}
    assert store.new_story_labels(NOW - timedelta(hours=1), NOW) == {}


def test_empty_stories_are_deleted(store: Store, store_url: str) -> None:
    feed = store.add_feed("http://a/feed", now=NOW)
    poll(store, feed.id, [item("a1", "new:0"), item("a2", "new:1")])
    engine = create_engine(store_url)
    with engine.begin() as conn:  # what retention does: delete an old item
        conn.execute(text("DELETE FROM items WHERE dedupe_key = 'a1'"))
    engine.dispose()
    assert store.delete_empty_stories(NOW) == (0, None)  # too recent to be sure
    assert store.delete_empty_stories(NOW + timedelta(days=4)) == (1, None)
    stories, _ = store.list_stories()
    assert [s.items[0].title for s in stories] == ["title a2"]


def test_the_empty_story_scan_goes_on_where_it_stopped(
    store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_stories, "EXPIRE_BATCH", 2)
    feed = store.add_feed("http://a/feed", now=NOW)
    for n in range(5):
        poll(store, feed.id, [item(f"a{n}", "new:0")], at=NOW + timedelta(minutes=n))
    engine = create_engine(store_url)
    with engine.begin() as conn:  # retention deleted the first and the last item
        conn.execute(text("DELETE FROM items WHERE dedupe_key IN ('a0', 'a4')"))
    engine.dispose()
    later = NOW + timedelta(days=4)
    deleted, cursor = store.delete_empty_stories(later)
    assert deleted == 1 and cursor is not None
    deleted, cursor = store.delete_empty_stories(later, cursor)
    assert deleted == 0 and cursor is not None
    assert store.delete_empty_stories(later, cursor) == (1, None)
    assert len(store.list_stories()[0]) == 3


def test_a_version_2_store_migrates_with_its_outbox(store_url: str) -> None:
    engine = make_engine(store_url)  # makes the SQLite file's folder
    with engine.begin() as conn:  # a store as version 2 left it, with a pending alert
        tables.schema_version.create(conn)
        for number, step in enumerate(MIGRATIONS[:2], start=1):
            step(conn)
            conn.execute(insert(tables.schema_version).values(version=number, applied_at=NOW))
        feeds, items, _, outbox = _v1_tables()
        conn.execute(
            insert(feeds).values(
                id=1, url="http://a", next_check_at=NOW, error_count=0, created_at=NOW
            )
        )
        conn.execute(
            insert(items).values(
                id=1,
                feed_id=1,
                dedupe_key="k",
                title="t",
                summary="s",
                fetched_at=NOW,
                sort_at=NOW,
                labels=["attack"],
                scores={},
                model_version="v",
            )
        )
        conn.execute(
            insert(outbox).values(
                item_id=1,
                label="attack",
                url="http://hook",
                payload={"item": {}},
                attempts=0,
                next_attempt_at=NOW,
                state="pending",
                created_at=NOW,
            )
        )
    engine.dispose()
    store = open_store(store_url)
    try:
        (delivery,) = store.claim_deliveries(10, 60, now=NOW)
        assert (delivery.item_id, delivery.label) == (1, "attack")
        stored = store.get_item(1)
        assert stored is not None and stored.story_id is None
        items, _ = store.list_items(collapse=True)
        assert [(i.id, i.story_items) for i in items] == [(1, 1)]
    finally:
        store.close()


def test_retag_recomputes_the_labels_of_the_items_stories(store: Store) -> None:
    from store import Retagged

    a = store.add_feed("http://a/feed", now=NOW)
    found = poll(
        store,
        a.id,
        [
            item("r1", "new:0", labels=("attack",)),
            item("r2", "new:0", labels=("recruitment",)),
            item("r3", "new:1", labels=("attack",)),
        ],
    )
    story, other = found["r1"], found["r3"]
    ids = {i.title.removeprefix("title "): i.id for i in store.list_items()[0]}
    # the new model gives r1 another label and takes r2's away
    new = [
        Retagged(ids["r1"], ["territorial_loss"], {"territorial_loss": 0.9}),
        Retagged(ids["r2"], [], {"territorial_loss": 0.1}),
    ]
    assert store.write_retags(new, "v-next") == 2
    stories = {s.id: s for s in store.list_stories()[0]}
    assert stories[story].labels == ["territorial_loss"]  # what the surge counts read
    assert stories[other].labels == ["attack"]  # a story no item of which was re-tagged
    assert store.new_story_labels(NOW, NOW + timedelta(hours=1)) == {
        "territorial_loss": 1,
        "attack": 1,
    }
