"""GET/POST/DELETE /v1/feeds and GET /v1/items, on a real SQLite file."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from service_testkit import make_settings

from service import create_app
from store import FeedUpdate, NewItem, Store, open_store

Conforms = Callable[[Any, str, str, int], None]
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def private_app(module_tmp: Path) -> Flask:
    """A service that may subscribe to loopback feeds (as tests must); shared by the module,
    so each test works on feeds of its own."""
    return create_app(make_settings(module_tmp / "private", allow_private_networks=True))


@pytest.fixture(scope="module")
def public_app(module_tmp: Path) -> Flask:
    """A service with the default URL safety rules."""
    return create_app(make_settings(module_tmp / "public"))


@pytest.fixture(scope="module")
def store(private_app: Flask) -> Iterator[Store]:
    """The same SQLite file the service uses, opened by the test."""
    s = open_store(private_app.extensions["wiretag"].settings.sqlalchemy_url)
    yield s
    s.close()


# -- feeds -----------------------------------------------------------------------------


def test_a_feed_is_added_listed_and_removed(private_app: Flask, conforms: Conforms) -> None:
    client = private_app.test_client()
    url = "http://127.0.0.1:9/added-listed-removed.xml"
    added = client.post("/v1/feeds", json={"url": url, "interval_minutes": 30, "title": "Local"})
    assert added.status_code == 201
    conforms(added.get_json(), "/v1/feeds", "post", 201)
    feed = added.get_json()["feed"]
    assert (feed["url"], feed["interval_minutes"], feed["title"]) == (url, 30, "Local")
    assert added.headers["Location"] == f"/v1/feeds/{feed['id']}"
    one = client.get(f"/v1/feeds/{feed['id']}")
    conforms(one.get_json(), "/v1/feeds/{feed_id}", "get", 200)
    assert one.get_json()["feed"]["id"] == feed["id"]
    listed = client.get("/v1/feeds").get_json()
    conforms(listed, "/v1/feeds", "get", 200)
    (health,) = [f for f in listed["feeds"] if f["id"] == feed["id"]]
    assert health["url"] == url and health["items_24h"] == 0 and health["error_count"] == 0
    removed = client.delete(f"/v1/feeds/{feed['id']}")
    assert removed.status_code == 204 and removed.data == b""
    assert feed["id"] not in [f["id"] for f in client.get("/v1/feeds").get_json()["feeds"]]
    gone = client.delete(f"/v1/feeds/{feed['id']}")
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "feed_not_found"
    assert client.get(f"/v1/feeds/{feed['id']}").status_code == 404
    assert client.delete(f"/v1/feeds/{2**40}").status_code == 404


def test_a_feed_url_is_normalised_and_a_duplicate_is_409(private_app: Flask) -> None:
    client = private_app.test_client()
    first = client.post("/v1/feeds", json={"url": "HTTP://127.0.0.1:80/feed#top"})
    assert first.get_json()["feed"]["url"] == "http://127.0.0.1/feed"
    again = client.post("/v1/feeds", json={"url": "http://127.0.0.1/feed"})
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "feed_exists"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1/feed.xml", "loopback"),
        ("http://10.1.2.3/feed.xml", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http:///feed", "no host"),
    ],
)
def test_an_unsafe_feed_url_is_422_with_the_reason(
    public_app: Flask, conforms: Conforms, url: str, words: str
) -> None:
    client = public_app.test_client()
    response = client.post("/v1/feeds", json={"url": url})
    assert response.status_code == 422
    body = response.get_json()
    conforms(body, "/v1/feeds", "post", 422)
    assert body["error"]["code"] == "unsafe_url"
    assert body["error"]["field"] == "url"
    assert words in body["error"]["message"]
    assert client.get("/v1/feeds").get_json() == {"feeds": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": 5}, "url"),
        ({"url": "  "}, "url"),
        ({"url": "http://127.0.0.1/f", "interval_minutes": 0}, "interval_minutes"),
        ({"url": "http://127.0.0.1/f", "interval_minutes": "5"}, "interval_minutes"),
        ({"url": "http://127.0.0.1/f", "interval_minutes": True}, "interval_minutes"),
        ({"url": "http://127.0.0.1/f", "title": 3}, "title"),
    ],
)
def test_a_bad_feed_body_is_422(private_app: Flask, body: Any, field: str) -> None:
    response = private_app.test_client().post("/v1/feeds", json=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field


def test_a_feed_body_must_be_json(private_app: Flask) -> None:
    client = private_app.test_client()
    assert client.post("/v1/feeds", data="url=x", content_type="text/plain").status_code == 415
    assert client.post("/v1/feeds", data="{", content_type="application/json").status_code == 400
    assert client.post("/v1/feeds", json=["http://127.0.0.1/"]).status_code == 422


# -- items -----------------------------------------------------------------------------


def _item(n: int, labels: list[str], attack: float, published: datetime | None) -> NewItem:
    scores = {
        "territorial_loss": 0.01,
        "attack": attack,
        "recruitment": 0.02,
        "counter_propaganda": 0.0,
    }
    return NewItem(
        dedupe_key=f"k{n}",
        link=f"https://example.org/{n}",
        title=f"item {n}",
        summary=f"summary {n}",
        published_at=published,
        labels=labels,
        scores=scores,
        model_version="test",
    )


@pytest.fixture(scope="module")
def stocked(store: Store) -> dict[str, int]:
    """Two feeds with items: feed a has 5 (3 attacks), feed b has 2 (none)."""
    a = store.add_feed("http://127.0.0.1/stocked-a")
    b = store.add_feed("http://127.0.0.1/stocked-b")
    update = FeedUpdate(
        checked_at=NOW, next_check_at=NOW + timedelta(minutes=15), status=200, error_count=0
    )
    hours = [timedelta(hours=h) for h in range(7)]
    store.record_fetch(
        a.id,
        "test",
        update,
        [
            _item(0, ["attack"], 0.9, NOW - hours[1]),
            _item(1, [], 0.3, NOW - hours[2]),
            _item(2, ["attack"], 0.7, NOW - hours[3]),
            _item(3, ["attack"], 0.95, NOW - hours[5]),
            _item(4, [], 0.1, NOW - hours[6]),
        ],
    )
    store.record_fetch(
        b.id, "test", update, [_item(5, [], 0.2, NOW - hours[4]), _item(6, [], 0.0, None)]
    )
    return {"a": a.id, "b": b.id}


def _titles(client: FlaskClient, query: str) -> list[str]:
    response = client.get(f"/v1/items?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["title"] for item in response.get_json()["items"]]


def test_items_newest_first_and_filtered(
    private_app: Flask, stocked: dict[str, int], conforms: Conforms
) -> None:
    client = private_app.test_client()
    everything = client.get("/v1/items").get_json()
    conforms(everything, "/v1/items", "get", 200)
    assert everything["next_cursor"] is None
    # item 6 has no published time: it sorts by its fetch time, NOW
    assert [i["title"] for i in everything["items"]] == [f"item {n}" for n in (6, 0, 1, 2, 5, 3, 4)]
    assert _titles(client, "label=attack") == ["item 0", "item 2", "item 3"]
    assert _titles(client, "label=attack&min_score=0.8") == ["item 0", "item 3"]
    assert _titles(client, "min_score=0.25") == ["item 0", "item 1", "item 2", "item 3"]
    assert _titles(client, f"feed={stocked['b']}") == ["item 6", "item 5"]
    since = quote((NOW - timedelta(hours=3, minutes=30)).isoformat())
    assert _titles(client, f"since={since}") == ["item 6", "item 0", "item 1", "item 2"]
    naive = (NOW - timedelta(hours=3, minutes=30)).replace(tzinfo=None).isoformat()
    assert _titles(client, f"since={naive}") == ["item 6", "item 0", "item 1", "item 2"]
    first = client.get("/v1/items?label=attack").get_json()["items"][0]
    assert first["scores"]["attack"] == pytest.approx(0.9)
    assert first["labels"] == ["attack"] and first["feed_id"] == stocked["a"]


def test_items_page_with_a_cursor(private_app: Flask, stocked: dict[str, int]) -> None:
    client = private_app.test_client()
    seen, cursor, pages = [], None, 0
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/items?{query}").get_json()
        seen += [i["title"] for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None or pages > 5:
            break
    assert pages == 3
    assert seen == _titles(client, "limit=500")


def test_the_feed_list_shows_health(private_app: Flask, stocked: dict[str, int]) -> None:
    feeds = {f["id"]: f for f in private_app.test_client().get("/v1/feeds").get_json()["feeds"]}
    a = feeds[stocked["a"]]
    assert a["items_24h"] == 5
    assert a["label_counts"].get("attack") == 3
    assert a["last_status"] == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("label=bombing", "label"),
        ("min_score=1.5", "min_score"),
        ("min_score=high", "min_score"),
        ("since=yesterday", "since"),
        ("since=2026-01-01T00:00:00 00:00", "since"),
        ("feed=abc", "feed"),
        ("feed=0", "feed"),
        ("feed=99999999999", "feed"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("limit=%C2%B2", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("lable=attack", "lable"),
    ],
)
def test_bad_item_queries_are_422(
    private_app: Flask, conforms: Conforms, query: str, field: str
) -> None:
    response = private_app.test_client().get(f"/v1/items?{query}")
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    conforms(body, "/v1/items", "get", 422)
    assert body["error"]["field"] == field


def test_the_largest_page_is_500(private_app: Flask) -> None:
    assert private_app.test_client().get("/v1/items?limit=500").status_code == 200


# -- bounds: out of range is a 422 naming the field, never a 5xx -----------------------


def _cursor(moment: object, item_id: object) -> str:
    raw = json.dumps([moment, item_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://[::1/"}, "url"),
        ({"url": "file:///etc/passwd"}, "url"),  # the document's pattern: http(s) only
        ({"url": "ftp://example.org/feed"}, "url"),
        ({"url": ""}, "url"),
        ({"url": "http://127.0.0.1:99999/feed"}, "url"),
        ({"url": "http://127.0.0.1/" + "a" * 3000}, "url"),
        ({"url": "http://127.0.0.1/f", "interval_minutes": 1_000_000_000_000}, "interval_minutes"),
        ({"url": "http://127.0.0.1/f", "interval_minutes": 2**63}, "interval_minutes"),
        ({"url": "http://127.0.0.1/f", "interval_minutes": 43_201}, "interval_minutes"),
        ({"url": "http://127.0.0.1/f", "title": "t" * 1001}, "title"),
    ],
)
def test_out_of_range_feed_bodies_are_422(private_app: Flask, body: Any, field: str) -> None:
    response = private_app.test_client().post("/v1/feeds", json=body)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == field


def test_the_longest_interval_is_30_days(private_app: Flask) -> None:
    body = {"url": "http://127.0.0.1/monthly", "interval_minutes": 43_200}
    assert private_app.test_client().post("/v1/feeds", json=body).status_code == 201


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=" + "9" * 5000, "limit"),
        (f"feed={2**63}", "feed"),
        ("min_score=nan", "min_score"),
        (f"cursor={_cursor(NOW.isoformat(), 2**63)}", "cursor"),
        (f"cursor={_cursor(NOW.isoformat(), True)}", "cursor"),
        (f"cursor={_cursor(NOW.isoformat(), 0)}", "cursor"),
        (f"cursor={_cursor('0001-01-01T00:00:00+14:00', 5)}", "cursor"),
        (f"cursor={_cursor('2026-01-01T00:00:00', 5)}", "cursor"),  # no offset: not ours
        ("cursor=" + "A" * 201, "cursor"),
        ("cursor=not.base64!", "cursor"),
    ],
)
def test_out_of_range_item_queries_are_422(private_app: Flask, query: str, field: str) -> None:
    response = private_app.test_client().get(f"/v1/items?{query}")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == field


def test_the_earliest_and_latest_times_mean_everything_and_nothing(
    private_app: Flask, stocked: dict[str, int]
) -> None:
    client = private_app.test_client()
    everything = _titles(client, "limit=500")
    assert _titles(client, "since=" + quote("0001-01-01T00:00:00+14:00")) == everything
    assert _titles(client, "since=" + quote("9999-12-31T23:59:59-14:00")) == []
    oldest = _cursor("0001-01-01T00:00:00+00:00", 1)
    assert _titles(client, f"cursor={oldest}") == []
