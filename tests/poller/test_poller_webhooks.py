"""Webhook alerts: sent from the durable outbox, retried with backoff, never blocking polls."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from poller_testkit import FeedServer, Request, hang, poll_once, rss, static
from storekit import count_items, outbox_counts

import settings as settings_module
from model import Model
from poller.webhooks import MAX_ATTEMPTS, Deliverer, HttpPoster, deliver_due
from settings import Settings, SettingsError
from store import Store

SECRET = "s3cret-for-the-attack-webhook-of-tests-0123456789"
BACKOFF = timedelta(hours=24)

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
    rules = {"secrets": {"attack": SECRET}, "max_backoff": BACKOFF}
    assert len(attack_items) == 2  # the model tags both; the weather item is not an alert
    t0 = datetime.now(UTC)
    post = HttpPoster(timeout=2)
    try:
        with caplog.at_level(logging.WARNING, logger="wiretag.webhooks"):
            assert deliver_due(store, post, **rules, now=lambda: t0) == 2
        assert outbox_counts(db_url) == {"sent": 1, "pending": 1}
        assert "failed (attempt 1" in caplog.text and "HTTP 500" in caplog.text
        assert deliver_due(store, post, **rules, now=lambda: t0 + timedelta(seconds=5)) == 0
        later = t0 + timedelta(minutes=10)
        assert deliver_due(store, post, **rules, now=lambda: later) == 1
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
        secrets={"attack": SECRET},
        max_backoff=BACKOFF,
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

    def refused(url: str, body: bytes, headers: object) -> int:
        raise httpx.ConnectError("connection refused")

    rules = {"secrets": {"attack": SECRET}, "max_backoff": BACKOFF}
    moment = datetime.now(UTC)
    for _ in range(MAX_ATTEMPTS):
        moment += timedelta(days=2)  # past any backoff
        assert deliver_due(store, refused, **rules, now=lambda at=moment: at) == 1
    assert outbox_counts(db_url) == {"failed": 1}
    assert deliver_due(store, refused, **rules, now=lambda: moment + timedelta(days=9)) == 0
    assert "giving up" in caplog.text
    assert count_items(db_url) == 1  # the item itself stays stored


# -- signatures ---------------------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_receiver(secret: str) -> dict[str, Any]:
    """The README's receiver code, run as it is written, with our secret put in."""
    text = README.read_text()
    block = text.split("<!-- webhook-receiver -->\n```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md receiver", "exec"), namespace)
    namespace["SECRET"] = secret.encode()
    return namespace


def _deliveries(
    feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> list[tuple[httpx.Headers, bytes]]:
    """Two real deliveries, POSTed by the deliverer to the loopback server."""
    feed_server.routes["/feed"] = static(rss(ATTACKS))
    feed_server.routes["/hook"] = lambda req: req.send(204, b"")
    settings = poll_settings.with_overrides(
        webhooks={"attack": feed_server.url("/hook")}, webhook_secrets={"attack": SECRET}
    )
    store.add_feed(feed_server.url("/feed"))
    poll_once(store, model, settings)
    post = HttpPoster(timeout=2)
    try:
        sent = deliver_due(
            store,
            post,
            secrets={"attack": SECRET},
            max_backoff=BACKOFF,
            now=lambda: datetime.now(UTC),
        )
    finally:
        post.close()
    assert sent == 2
    headers = [httpx.Headers(h) for h in feed_server.request_headers["/hook"]]
    return list(zip(headers, feed_server.bodies["/hook"], strict=True))


def test_the_readme_receiver_accepts_real_deliveries_and_refuses_replays(
    feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    receiver = readme_receiver(SECRET)
    verify = receiver["verify"]
    deliveries = _deliveries(feed_server, store, model, poll_settings)
    for headers, body in deliveries:
        assert headers["content-type"] == "application/json" and json.loads(body)["label"]
        assert headers["x-wiretag-delivery"].isdigit()
        assert verify(headers, body) is True
        assert verify(headers, body) is False  # the same request again: a replay
    headers, body = deliveries[0]
    stamp = int(headers["x-wiretag-timestamp"])
    fresh = readme_receiver(SECRET)["verify"]  # nothing accepted yet
    assert fresh(headers, body.replace(b"attack", b"attacK")) is False  # body changed
    assert fresh(headers, body, now=stamp + 301) is False  # stale: replayed later
    assert readme_receiver("another-secret-" + "x" * 32)["verify"](headers, body) is False
    forged = httpx.Headers({**headers, "X-Wiretag-Timestamp": str(stamp + 60)})
    assert fresh(forged, body, now=stamp + 60) is False  # a new timestamp needs the secret
    assert fresh(headers, body, now=stamp + 299) is True  # still fresh, and first seen here


def test_a_delivery_without_a_secret_is_kept_and_retried(
    db_url: str, feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    feed_server.routes["/feed"] = static(rss(ATTACKS[:1]))
    settings = poll_settings.with_overrides(webhooks={"attack": feed_server.url("/hook")})
    store.add_feed(feed_server.url("/feed"))
    poll_once(store, model, settings)
    post = HttpPoster(timeout=2)
    try:
        now = datetime.now(UTC)
        assert deliver_due(store, post, secrets={}, max_backoff=BACKOFF, now=lambda: now) == 1
    finally:
        post.close()
    assert feed_server.hits["/hook"] == 0  # nothing unsigned ever leaves
    assert outbox_counts(db_url) == {"pending": 1}


def test_every_webhook_needs_a_secret_and_secrets_are_never_shown() -> None:
    hook = {"WIRETAG_WEBHOOKS": "attack=https://hooks.example/a"}
    with pytest.raises(SettingsError, match="no secret for the attack webhook"):
        settings_module.from_env(hook)
    short = "tooshort-secret"
    with pytest.raises(SettingsError, match="32\\+ characters") as caught:
        settings_module.from_env({**hook, "WIRETAG_WEBHOOK_SECRETS": f"attack={short}"})
    assert short not in str(caught.value)
    with pytest.raises(SettingsError, match="recruitment, which WIRETAG_WEBHOOKS does not name"):
        settings_module.from_env(
            {**hook, "WIRETAG_WEBHOOK_SECRETS": f"attack={SECRET},recruitment={SECRET}"}
        )
    loaded = settings_module.from_env({**hook, "WIRETAG_WEBHOOK_SECRETS": f"attack={SECRET}"})
    assert loaded.webhook_secrets == {"attack": SECRET} and SECRET not in repr(loaded)


def test_a_webhook_url_httpx_cannot_send_to_is_a_failed_attempt(
    db_url: str, feed_server: FeedServer, store: Store, model: Model, poll_settings: Settings
) -> None:
    # the settings take any http(s) prefix; httpx refuses these only when it sends
    for url in ("http://[::1/hook", "http://a..b/hook"):
        feed_server.routes["/feed"] = static(rss(ATTACKS[:1]))
        settings = poll_settings.with_overrides(webhooks={"attack": url})
        feed = store.add_feed(feed_server.url("/feed"))
        poll_once(store, model, settings)
        post = HttpPoster(timeout=2)
        try:
            moment = datetime.now(UTC)
            rules = {"secrets": {"attack": SECRET}, "max_backoff": BACKOFF}
            assert deliver_due(store, post, **rules, now=lambda at=moment: at) == 1
        finally:
            post.close()
        assert outbox_counts(db_url) == {"pending": 1}  # retried later, then given up
        store.remove_feed(feed.id)


def test_the_deliverer_outlives_an_unexpected_error(
    feed_server: FeedServer,
    store: Store,
    model: Model,
    poll_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed_server.routes["/feed"] = static(rss(ATTACKS[:1]))
    settings = poll_settings.with_overrides(webhooks={"attack": feed_server.url("/hook")})
    store.add_feed(feed_server.url("/feed"))
    poll_once(store, model, settings)
    calls: list[str] = []

    def broken(url: str, body: bytes, headers: object) -> int:
        calls.append(url)
        raise RuntimeError("a bug in the poster")

    deliverer = Deliverer(
        store,
        secrets={"attack": SECRET},
        max_backoff=BACKOFF,
        post=broken,
        now=lambda: datetime.now(UTC) + timedelta(days=len(calls) + 1),  # always due again
        idle_seconds=0.01,
    )
    with caplog.at_level(logging.ERROR, logger="wiretag.webhooks"):
        deliverer.start()
        try:
            deadline = time.monotonic() + 10
            while len(calls) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(calls) >= 2 and deliverer.is_alive()  # the loop went on
        finally:
            deliverer.stop.set()
            deliverer.join(timeout=10)
    assert "webhook delivery failed" in caplog.text and "a bug in the poster" in caplog.text


@pytest.mark.parametrize(
    "url", ["http://[::1/hook", "http://a..b/hook", "ftp://hooks.example/a", "https:///a"]
)
def test_a_webhook_url_no_client_can_send_to_is_refused_at_start(url: str) -> None:
    hook = {"WIRETAG_WEBHOOKS": f"attack={url}", "WIRETAG_WEBHOOK_SECRETS": f"attack={SECRET}"}
    with pytest.raises(SettingsError, match="WIRETAG_WEBHOOKS"):
        settings_module.from_env(hook)
