"""Webhook alerts: sent from the durable outbox, retried with backoff, never blocking polls."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from poller_testkit import FeedServer, Request, hang, poll_once, rss, static
from storekit import count_items, outbox_counts

from model import Model
from poller.webhooks import MAX_ATTEMPTS, Deliverer, HttpPoster, deliver_due
from settings import Settings
from store import Store

ATTACKS = [
    ("Suicide bomber kills 20 at army checkpoint", "Islamic State claimed the bombing."),
    ("Militants storm police station, killing six", "Gunmen attacked the station at dawn."),
]
WEATHER = [("Sunny weekend ahead", "Forecasters expect warm and dry weather.")]


def _flaky_hook(fail_first: int):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    def handle(req: Request) -> None:
        calls["n"] += 1
        req.send(500 if calls["n"] <= fail_first else 204, b"")

    return handle


def test_alerts_are_delivered_and_a_failure_is_retried_later(
    db_url: str,
    feed_server: FeedServer,
    store: Store,
    model: Model,
    poll_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed_server.routes["/feed"] = static(rss(ATTACKS + WEATHER))
    feed_server.routes["/hook"] = _flaky_hook(fail_first=1)
    settings = poll_settings.with_overrides(webhooks={"attack": feed_server.url("/hook")})
    store.add_feed(feed_server.url("/feed"))
    poll_once(store, model, settings)
    attack_items, _ = store.list_items(label="attack")
    assert len(attack_items) == 2  # the model tags both; the weather item is not an alert
    t0 = datetime.now(UTC)
    post = HttpPoster(timeout=2)
    try:
        with caplog.at_level(logging.WARNING, logger="wiretag.webhooks"):
            assert deliver_due(store, settings, post, now=lambda: t0) == 2
        assert outbox_counts(db_url) == {"sent": 1, "pending": 1}
        assert "failed (attempt 1" in caplog.text and "HTTP 500" in caplog.text
        assert deliver_due(store, settings, post, now=lambda: t0 + timedelta(seconds=5)) == 0
        later = t0 + timedelta(minutes=10)
        assert deliver_due(store, settings, post, now=lambda: later) == 1
    finally:
        post.close()
    assert outbox_counts(db_url) == {"sent": 2}
    bodies = [json.loads(b) for b in feed_server.bodies["/hook"]]
    assert len(bodies) == 3 and {b["label"] for b in bodies} == {"attack"}
    titles = {b["item"]["title"] for b in bodies}
    assert titles == {title for title, _ in ATTACKS}
    # the poller wrote the body; the item's id, unknown until stored, joins it when sent
    assert {b["item"]["id"] for b in bodies} == {item.id for item in attack_items}
    assert all(b["feed_id"] == attack_items[0].feed_id for b in bodies)
    assert list(bodies[0]["item"]) == [
        "id",
        "link",
        "title",
        "summary",
        "published_at",
        "labels",
        "scores",
        "model_version",
    ]
    assert all(b["item"]["scores"]["attack"] >= model.thresholds["attack"] for b in bodies)


def test_a_dead_webhook_never_blocks_polling(
    db_url: str, feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    feed_server.routes["/feed"] = static(rss(ATTACKS))
    feed_server.routes["/hook"] = hang
    settings = poll_settings.with_overrides(webhooks={"attack": feed_server.url("/hook")})
    store.add_feed(feed_server.url("/feed"))
    poster = HttpPoster(timeout=0.5)
    deliverer = Deliverer(
        store,
        settings,
        post=poster,
        now=lambda: datetime.now(UTC),
        idle_seconds=0.05,
    )
    deliverer.start()
    try:
        poll_once(store, model, settings)
        # poll again only once the deliverer is stuck in the hanging POST
        deadline = time.monotonic() + 10
        while feed_server.hits["/hook"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert feed_server.hits["/hook"] >= 1
        feed_server.routes["/feed"] = static(rss([*ATTACKS, ("Car bomb kills 12", "A blast.")]))
        began = time.monotonic()
        later = datetime.now(UTC) + timedelta(hours=1)
        (outcome,) = poll_once(store, model, settings, now=lambda: later)
        assert time.monotonic() - began < 2.0 and outcome.new_items == 1
        # the stuck delivery times out and goes back to pending, beside the new one
        while outbox_counts(db_url).get("pending", 0) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        deliverer.stop.set()
        deliverer.join(timeout=10)
        poster.close()
    assert not deliverer.is_alive()
    assert outbox_counts(db_url) == {"pending": 3}  # kept for later, never dropped


def test_a_delivery_is_given_up_after_max_attempts(
    db_url: str,
    feed_server: FeedServer,
    store: Store,
    model: Model,
    poll_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed_server.routes["/feed"] = static(rss(ATTACKS[:1]))
    settings = poll_settings.with_overrides(webhooks={"attack": "http://127.0.0.1:9/hook"})
    store.add_feed(feed_server.url("/feed"))
    poll_once(store, model, settings)

    def refused(url: str, payload: dict[str, object]) -> int:
        raise httpx.ConnectError("connection refused")

    moment = datetime.now(UTC)
    for _ in range(MAX_ATTEMPTS):
        moment += timedelta(days=2)  # past any backoff
        assert deliver_due(store, settings, refused, now=lambda at=moment: at) == 1
    assert outbox_counts(db_url) == {"failed": 1}
    assert deliver_due(store, settings, refused, now=lambda: moment + timedelta(days=9)) == 0
    assert "giving up" in caplog.text
    assert count_items(db_url) == 1  # the item itself stays stored
