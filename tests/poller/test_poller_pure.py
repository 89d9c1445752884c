"""Pure decisions of the poller: dedupe keys, scheduling, Retry-After, URL checks, alerts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from common.urls import UnsafeURL, check_feed_url, refusal
from poller.alerts import alerts_for, webhook_body, with_alerts
from poller.fetch import Response
from poller.parse import Entry, ParsedFeed, dedupe_key, strip_html, to_entry
from poller.poll import Fetched, decide, new_entries
from poller.schedule import Schedule, backoff, next_check, parse_retry_after
from store import Delivery, Feed, NewItem

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SCHEDULE = Schedule(default_interval=timedelta(minutes=15), max_backoff=timedelta(hours=24))


# -- dedupe keys ------------------------------------------------------------------------


def test_dedupe_key_prefers_guid_then_link_then_content_hash() -> None:
    assert dedupe_key("urn:1", "http://x/a", "t", "s") == "guid:urn:1"
    assert dedupe_key(None, "http://x/a", "t", "s") == "link:http://x/a"
    assert dedupe_key("  ", "http://x/a", "t", "s") == "link:http://x/a"
    hashed = dedupe_key(None, None, "title", "summary")
    assert hashed.startswith("hash:") and len(hashed) == 5 + 64


def test_content_hash_separates_title_from_summary() -> None:
    assert dedupe_key(None, None, "ab", "c") != dedupe_key(None, None, "a", "bc")
    assert dedupe_key(None, None, "a", "b") == dedupe_key(None, None, "a", "b")


def test_long_keys_are_hashed_to_a_bounded_length() -> None:
    key = dedupe_key("x" * 5000, None, "", "")
    assert key.startswith("guid:sha256:") and len(key) < 100
    assert key != dedupe_key("x" * 4999, None, "", "")


def test_entry_with_nothing_to_key_or_show_is_skipped() -> None:
    assert to_entry({}) is None
    assert to_entry({"title": "<b></b>", "summary": "  "}) is None
    entry = to_entry({"content": [{"value": "<p>only content</p>"}]})
    assert entry is not None and entry.summary == "only content"


def test_entry_time_and_text() -> None:
    entry = to_entry(
        {
            "id": "g",
            "title": "A &amp; B",
            "summary": "<p>One</p><p>two<script>x()</script></p>",
            "published_parsed": (2024, 5, 6, 7, 8, 9, 0, 0, 0),
        }
    )
    assert entry is not None
    assert entry.title == "A & B" and entry.summary == "One two"
    assert entry.published_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_strip_html_keeps_words_apart_and_decodes_entities() -> None:
    assert strip_html("<p>a</p><p>b&nbsp;&lt;c&gt;</p>") == "a b <c>"  # nbsp is a space too
    assert strip_html("plain   text\n") == "plain text"


def test_new_entries_drops_known_and_repeated_keys() -> None:
    def e(key: str) -> Entry:
        return Entry(key, None, None, key, "", None)

    fresh = new_entries([e("a"), e("b"), e("a"), e("c")], known={"b"})
    assert [x.key for x in fresh] == ["a", "c"]


# -- scheduling -------------------------------------------------------------------------


def test_backoff_doubles_and_is_capped_with_jitter_below() -> None:
    interval, cap = timedelta(minutes=15), timedelta(hours=24)
    assert backoff(interval, 0, cap, 0.5) == interval
    assert backoff(interval, 1, cap, 0.999999) == pytest.approx(interval, abs=timedelta(seconds=1))
    assert backoff(interval, 3, cap, 0.0) == 4 * interval * 0.75
    assert backoff(interval, 40, cap, 0.999999) <= cap
    assert backoff(interval, 40, cap, 0.0) == cap * 0.75


def test_jitter_spreads_feeds_that_failed_together() -> None:
    interval, cap = timedelta(minutes=15), timedelta(hours=24)
    delays = {backoff(interval, 4, cap, j / 10) for j in range(10)}
    assert len(delays) == 10


def test_next_check_after_success_is_the_interval() -> None:
    due = next_check(NOW, interval=HOUR, error_count=0, cap=24 * HOUR, jitter=0.3)
    assert due == NOW + HOUR


def test_retry_after_is_honoured_but_capped() -> None:
    later = NOW + 5 * HOUR
    due = next_check(NOW, interval=HOUR, error_count=1, cap=24 * HOUR, jitter=0, retry_after=later)
    assert due == later
    far = NOW + 100 * HOUR
    due = next_check(NOW, interval=HOUR, error_count=1, cap=24 * HOUR, jitter=0, retry_after=far)
    assert due == NOW + 24 * HOUR
    soon = NOW + timedelta(seconds=5)  # sooner than the backoff: the backoff wins
    due = next_check(NOW, interval=HOUR, error_count=1, cap=24 * HOUR, jitter=0, retry_after=soon)
    assert due == NOW + 0.75 * HOUR


def test_parse_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("120", NOW) == NOW + timedelta(seconds=120)
    assert parse_retry_after("Sun, 01 Mar 2026 13:30:00 GMT", NOW) == NOW + timedelta(minutes=90)
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", NOW) == NOW  # past: now
    for bad in (None, "", "soon", "-5", "1.5"):
        assert parse_retry_after(bad, NOW) is None


# -- decide -----------------------------------------------------------------------------


def _feed(**changes: object) -> Feed:
    values: dict[str, object] = dict(
        id=1,
        url="http://x/feed",
        title=None,
        interval_minutes=None,
        etag='"old"',
        last_modified=None,
        next_check_at=NOW,
        last_checked_at=None,
        last_status=None,
        error_count=2,
        last_error="HTTP 500",
        last_warning=None,
        created_at=NOW,
    )
    values.update(changes)
    return Feed(**values)  # type: ignore[arg-type]


def test_decide_success_resets_streak_and_keeps_new_validators() -> None:
    response = Response(200, "http://x/feed", {"etag": '"new"', "last-modified": "Mon"}, b"")
    parsed = ParsedFeed("Title", [], 0, "bozo reason")
    update = decide(Fetched(_feed(), response, parsed), SCHEDULE, NOW, 0.5)
    assert update.error is None and update.error_count == 0 and update.status == 200
    assert update.etag == '"new"' and update.last_modified == "Mon" and update.title == "Title"
    assert update.warning == "bozo reason"
    assert update.next_check_at == NOW + SCHEDULE.default_interval


def test_decide_not_modified_is_a_success_that_keeps_validators() -> None:
    update = decide(Fetched(_feed(interval_minutes=60), Response(304, "u")), SCHEDULE, NOW, 0)
    assert update.error is None and update.error_count == 0 and update.status == 304
    assert update.etag is None  # None: the store keeps '"old"'
    assert update.next_check_at == NOW + HOUR


def test_decide_error_grows_streak_and_backs_off() -> None:
    update = decide(Fetched(_feed(), Response(500, "u")), SCHEDULE, NOW, 0.0)
    assert update.error == "HTTP 500" and update.error_count == 3
    assert update.next_check_at == NOW + timedelta(minutes=15) * 4 * 0.75


def test_decide_429_waits_for_retry_after() -> None:
    response = Response(429, "u", {"retry-after": "7200"})
    update = decide(Fetched(_feed(error_count=0), response), SCHEDULE, NOW, 0.0)
    assert update.error == "HTTP 429" and update.next_check_at == NOW + 2 * HOUR


def test_decide_fetch_error_has_no_status() -> None:
    update = decide(Fetched(_feed(), error="timed out"), SCHEDULE, NOW, 0.0)
    assert update.status is None and update.error == "timed out" and update.error_count == 3


# -- URL checks -------------------------------------------------------------------------


def _resolver(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://example.org/feed", "not an http(s) URL"),
        ("file:///etc/passwd", "not an http(s) URL"),
        ("http:///feed", "has no host"),
        ("http://example.org:99999/", "not a valid URL"),
        ("http://[::1/", "not a valid URL"),  # urlsplit's own ValueError, as UnsafeURL
        ("http://user:pw@example.org/", "carries credentials"),
    ],
)
def test_check_feed_url_refuses_bad_urls(url: str, message: str) -> None:
    with pytest.raises(UnsafeURL, match=re.escape(message)):
        check_feed_url(url, resolve=_resolver("93.184.216.34"))


@pytest.mark.parametrize(
    "address, reason",
    [
        ("127.0.0.1", "a loopback"),
        ("::1", "a loopback"),
        ("10.1.2.3", "a private"),
        ("192.168.1.1", "a private"),
        ("172.16.0.1", "a private"),
        ("169.254.169.254", "a link-local"),
        ("fe80::1", "a link-local"),
        ("224.0.0.1", "a multicast"),
        ("ff0e::1", "a multicast"),
        ("0.0.0.0", "an unspecified"),
        ("240.0.0.1", "a reserved"),
        ("::ffff:127.0.0.1", "a loopback"),
    ],
)
def test_check_feed_url_refuses_non_public_addresses(address: str, reason: str) -> None:
    with pytest.raises(UnsafeURL, match=f"{reason} address"):
        check_feed_url("http://feeds.example.org/rss", resolve=_resolver("93.184.216.34", address))


def test_check_feed_url_allows_private_when_asked_and_normalises() -> None:
    url = check_feed_url(
        "HTTP://Feeds.Example.org:80/rss?x=1#top", resolve=_resolver("10.0.0.1"), allow_private=True
    )
    assert url == "http://feeds.example.org/rss?x=1"
    assert check_feed_url("https://example.org", resolve=_resolver("93.184.216.34")) == (
        "https://example.org/"
    )


def test_check_feed_url_refuses_unresolvable_hosts() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UnsafeURL, match="does not resolve"):
        check_feed_url("http://nowhere.invalid/", resolve=fail)


def test_real_resolver_sees_loopback() -> None:
    with pytest.raises(UnsafeURL, match="loopback"):
        check_feed_url("http://localhost:8000/feed")
    assert refusal(__import__("ipaddress").ip_address("93.184.216.34")) is None


# -- webhook alerts ---------------------------------------------------------------------


def _new(labels: list[str]) -> NewItem:
    scores = {"attack": 0.9, "recruitment": 0.7, "territorial_loss": 0.1}
    return NewItem("k", "http://x/a", "T", "S", NOW, labels, scores, "v1")


def test_alerts_go_to_the_hooked_labels_the_item_carries() -> None:
    hooks = {"attack": "http://hook/a", "territorial_loss": "http://hook/t"}
    (alert,) = alerts_for(_new(["attack", "recruitment"]), 7, hooks)
    assert (alert.label, alert.url) == ("attack", "http://hook/a")
    assert alert.payload["label"] == "attack" and alert.payload["feed_id"] == 7
    assert alert.payload["item"]["published_at"] == NOW.isoformat()
    assert "id" not in alert.payload["item"]  # the store has not given it one yet
    assert alerts_for(_new([]), 7, hooks) == ()
    plain = [_new(["attack"])]
    assert with_alerts(plain, 7, {}) is plain  # no webhooks: nothing to build


def test_the_webhook_body_carries_the_stored_items_id_first() -> None:
    (alert,) = alerts_for(_new(["attack"]), 7, {"attack": "http://hook/a"})
    delivery = Delivery(3, 41, alert.label, alert.url, alert.payload, 0)
    body = webhook_body(delivery)
    assert body["item"]["id"] == 41 and next(iter(body["item"])) == "id"
    assert {k: v for k, v in body["item"].items() if k != "id"} == alert.payload["item"]
    assert "id" not in alert.payload["item"]  # the stored body is left as it was
