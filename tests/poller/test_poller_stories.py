"""Stories in the poller: copies across feeds grouped, one alert per story and label, the
index rebuilt after a restart, surges stored once with their webhook event sent."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from poller_testkit import FeedServer, poll_once, rss, static
from storekit import outbox_counts

from model import Model
from poller.grouping import Grouper
from poller.poll import Poller
from poller.webhooks import HttpPoster, deliver_due
from settings import Settings
from store import FeedUpdate, Grouping, KeptSignature, NewItem, Store

NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
SECRET = "s3cret-for-the-attack-webhook-of-tests-0123456789"

# one report, three outlets, three headlines
COPY_A = (
    "Suicide bomber kills 20 soldiers at army checkpoint near Mosul",
    "Islamic State claimed the suicide bombing at an army checkpoint near Mosul on Sunday, "
    "which killed 20 soldiers and wounded dozens, officials said.",
)
COPY_B = (
    "Islamic State bombing kills 20 Iraqi soldiers at Mosul checkpoint",
    "A suicide bomber killed 20 soldiers at an army checkpoint near Mosul on Sunday; "
    "Islamic State claimed the attack, officials said.",
)
COPY_C = (
    "Mosul checkpoint suicide attack: 20 soldiers dead, Islamic State claims",
    "Twenty soldiers were killed when a suicide bomber struck an army checkpoint near Mosul "
    "on Sunday, officials said; Islamic State claimed the bombing.",
)
WEATHER = ("Sunny weekend ahead for the coast", "Forecasters expect warm and dry weather.")
GARDEN = ("Town garden show draws record crowds", "Roses and dahlias won the top prizes.")

# six unrelated attacks in one hour: a surge against a quiet week
ATTACKS = [
    (
        "Gunmen storm police station in Kandahar, killing six officers",
        "Taliban fighters attacked the station at dawn with rifles and grenades.",
    ),
    (
        "Car bomb explodes outside Mogadishu hotel, 12 dead",
        "Al-Shabaab said its fighters detonated the vehicle near the hotel gate.",
    ),
    (
        "Boko Haram raid on Borno village kills 30 farmers",
        "Insurgents on motorcycles opened fire in the market and burned homes.",
    ),
    (
        "Rocket barrage hits Syrian army base near Deir ez-Zor",
        "Militants fired dozens of rockets at barracks, wounding 15 troops.",
    ),
    (
        "Militants ambush convoy in Sinai, eight Egyptian conscripts killed",
        "An improvised explosive device struck the lead armoured vehicle before gunfire.",
    ),
    (
        "Attackers behead three in Cabo Delgado raid",
        "Jihadist insurgents stormed the coastal hamlet overnight with machetes.",
    ),
]


def _hook_settings(settings: Settings, server: FeedServer) -> Settings:
    return settings.with_overrides(
        webhooks={"attack": server.url("/hook")}, webhook_secrets={"attack": SECRET}
    )


def _send_all(store: Store, at: datetime) -> int:
    post = HttpPoster(timeout=2)
    try:
        return deliver_due(
            store, post, secrets={"attack": SECRET}, max_backoff=timedelta(hours=1), now=lambda: at
        )
    finally:
        post.close()


def test_copies_across_feeds_make_one_story_and_one_alert(
    db_url: str, feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    feed_server.routes["/a"] = static(rss([COPY_A, WEATHER], title="A"))
    feed_server.routes["/b"] = static(rss([GARDEN, COPY_B], title="B"))
    feed_server.routes["/hook"] = lambda req: req.send(204, b"")
    settings = _hook_settings(poll_settings, feed_server)
    for path in ("/a", "/b"):
        store.add_feed(feed_server.url(path), now=NOW - timedelta(minutes=1))
    outcomes = poll_once(store, model, settings, now=lambda: NOW)  # both feeds at once
    assert sum(o.new_items for o in outcomes) == 4
    stories, _ = store.list_stories()
    assert sorted(s.item_count for s in stories) == [1, 1, 2]
    (story,) = [s for s in stories if s.item_count == 2]
    assert story.feed_count == 2 and "attack" in story.labels
    assert {i.title for i in story.items} == {COPY_A[0], COPY_B[0]}
    assert outbox_counts(db_url) == {"pending": 1}  # one alert for the story's label

    # a new poller (a restart) rebuilds its index from the store: a third copy joins
    feed_server.routes["/c"] = static(rss([COPY_C], title="C"))
    store.add_feed(feed_server.url("/c"), now=NOW)
    later = NOW + timedelta(hours=2)
    outcomes = poll_once(store, model, settings, now=lambda: later)  # a and b answer 304
    assert sum(o.new_items for o in outcomes) == 1
    stories, _ = store.list_stories()
    assert stories[0].id == story.id and stories[0].item_count == 3
    assert stories[0].last_seen_at == later
    assert outbox_counts(db_url) == {"pending": 1}  # still one alert
    assert _send_all(store, later) == 1
    (body,) = [json.loads(b) for b in feed_server.bodies["/hook"]]
    assert body["label"] == "attack" and body["item"]["title"] in {COPY_A[0], COPY_B[0]}
    assert body["story_id"] == story.id
    collapsed, _ = store.list_items(collapse=True)
    assert len(collapsed) == 3  # the story once, the weather and the garden show
    assert (story.id, 3) in {(i.story_id, i.story_items) for i in collapsed}


def ticking(start: datetime) -> Callable[[], datetime]:
    """A clock that moves a millisecond at each reading (housekeeping runs after the
    items it counts were stored, as it does on a real clock)."""
    moments = itertools.count()
    return lambda: start + timedelta(milliseconds=next(moments))


def _quiet_week(store: Store) -> None:
    """One story eight days ago, so the surge rule has a week of (quiet) history."""
    feed = store.add_feed("http://127.0.0.1:9/old", now=NOW)
    then = NOW - timedelta(days=8)
    scores = {"territorial_loss": 0.0, "attack": 0.0, "recruitment": 0.9, "counter_propaganda": 0.0}
    old = NewItem(
        "old",
        None,
        "Old news",
        "old",
        then,
        ["recruitment"],
        scores,
        "v",
        grouping=Grouping("new:0", bytes(512), "old-scheme"),
    )
    update = FeedUpdate(
        checked_at=then, next_check_at=NOW + timedelta(days=30), status=200, error_count=0
    )
    store.claim_due_feeds("seed", 1, 60, now=NOW)
    store.record_poll(feed.id, "seed", update, [old])


def test_a_surge_is_stored_once_and_its_webhook_sent(
    db_url: str, feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    _quiet_week(store)
    feed_server.routes["/attacks"] = static(rss(ATTACKS, title="attacks"))
    feed_server.routes["/hook"] = lambda req: req.send(204, b"")
    settings = _hook_settings(poll_settings, feed_server)
    store.add_feed(feed_server.url("/attacks"), now=NOW - timedelta(minutes=1))
    poll_once(store, model, settings, now=ticking(NOW))
    stories, _ = store.list_stories(label="attack")
    assert len(stories) == len(ATTACKS)  # unrelated reports: a story each
    (surge,) = store.list_surges()
    assert (surge.label, surge.count, surge.hour_start) == ("attack", 6, NOW.replace(minute=0))
    assert surge.p_value < 0.001 and surge.expected < 0.1
    # a second poller's housekeeping in the same hour stores nothing new
    poll_once(store, model, settings, now=ticking(NOW + timedelta(minutes=10)))
    assert len(store.list_surges()) == 1
    assert store.surge_counts() == {"attack": 1}
    assert _send_all(store, NOW + timedelta(minutes=11)) == 7  # 6 stories' alerts + the surge
    bodies = [json.loads(b) for b in feed_server.bodies["/hook"]]
    (event,) = [b for b in bodies if b.get("event") == "surge"]
    assert event["label"] == "attack" and event["count"] == 6
    assert event["hour_start"] == NOW.replace(minute=0).isoformat()
    assert len(event["history"]) == 7 and sum(event["history"]) == 0


def test_a_poller_picks_up_what_another_poller_stored(
    feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    feed_server.routes["/a"] = static(rss([COPY_A], title="A"))
    feed_server.routes["/b"] = static(rss([COPY_B], title="B"))
    clock = [NOW - timedelta(minutes=1)]
    second = Poller(store, model, poll_settings, now=lambda: clock[0])
    try:
        assert len(second.grouper.index) == 0  # type: ignore[union-attr]  # built before A
        store.add_feed(feed_server.url("/a"), now=NOW - timedelta(minutes=1))
        poll_once(store, model, poll_settings, now=lambda: NOW)  # the first poller
        store.add_feed(feed_server.url("/b"), now=NOW)
        clock[0] = NOW + timedelta(minutes=1)  # past the refresh interval
        (outcome,) = second.run_once()
        assert outcome.new_items == 1
    finally:
        second.close()
    (story,) = store.list_stories()[0]  # B joined A's story
    assert story.item_count == 2 and story.feed_count == 2


def test_a_new_install_has_no_baseline_and_no_surge(
    feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    feed_server.routes["/attacks"] = static(rss(ATTACKS, title="attacks"))
    store.add_feed(feed_server.url("/attacks"), now=NOW - timedelta(minutes=1))
    poll_once(store, model, poll_settings, now=ticking(NOW))
    assert len(store.list_stories(label="attack")[0]) == len(ATTACKS)
    assert store.list_surges() == []  # six stories, but no day of history to compare


def test_a_damaged_kept_signature_is_left_out_of_the_rebuild(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    grouper = Grouper(store, "me", now=lambda: NOW)
    good = grouper.signer.sign(*COPY_A)
    kept = [
        KeptSignature(1, 1, NOW - timedelta(hours=1), b"\x00" * 7),  # not 128 values
        KeptSignature(2, 2, NOW - timedelta(minutes=30), good.to_bytes()),
    ]
    monkeypatch.setattr(store, "recent_signatures", lambda *args, **kwargs: kept)
    with caplog.at_level(logging.WARNING, logger="wiretag.poller"):
        assert grouper.rebuild() == 2  # the poller still starts
    assert "item 1 left out" in caplog.text
    assert 1 not in grouper.index and 2 in grouper.index
