"""GET /v1/stories, GET /v1/items?collapse=story, GET /v1/surges and the surge metric."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from service_testkit import make_settings

from common.labels import LABELS
from service import create_app
from store import FeedUpdate, Grouping, NewItem, NewSurge, Store, open_store

Conforms = Callable[[Any, str, str, int], None]
NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = NOW.replace(minute=0, second=0)


@pytest.fixture(scope="module")
def app(module_tmp: Path) -> Flask:
    """A service over a store holding two feeds' items in three stories and a surge."""
    app = create_app(make_settings(module_tmp / "stories"))
    store = open_store(app.extensions["wiretag"].settings.sqlalchemy_url)
    try:
        _stock(store)
    finally:
        store.close()
    return app


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    yield app.test_client()


def _item(key: str, story: int | str, labels: list[str], at: datetime) -> NewItem:
    scores = {label: (0.9 if label in labels else 0.1) for label in LABELS}
    grouping = Grouping(story, bytes(512), "test")
    return NewItem(key, None, f"title {key}", "s", at, labels, scores, "v", grouping=grouping)


def _poll(store: Store, feed_id: int, items: list[NewItem], at: datetime) -> dict[str, Any]:
    update = FeedUpdate(checked_at=at, next_check_at=at, status=200, error_count=0)
    store.claim_due_feeds("t", 10, 60, now=at + timedelta(days=1))
    return {a.dedupe_key: a.story_id for a in store.record_poll(feed_id, "t", update, items)}


def _stock(store: Store) -> None:
    a = store.add_feed("http://127.0.0.1:9/a", now=NOW)
    b = store.add_feed("http://127.0.0.1:9/b", now=NOW)
    early = NOW - timedelta(hours=3)
    first = _poll(
        store,
        a.id,
        [
            _item("a1", "new:0", ["attack"], early),
            _item("a2", "new:1", [], early),
            _item("a3", "new:2", ["recruitment"], early),
        ],
        early,
    )
    _poll(store, b.id, [_item("b1", first["a1"], ["attack"], NOW)], NOW)
    store.record_surges([NewSurge("attack", HOUR, 7, 0.4, 2e-6)], NOW)


def test_stories_come_newest_activity_first_with_their_items(
    client: FlaskClient, conforms: Conforms
) -> None:
    answer = client.get("/v1/stories")
    assert answer.status_code == 200
    body = answer.get_json()
    conforms(body, "/v1/stories", "get", 200)
    top = body["stories"][0]
    assert (top["item_count"], top["feed_count"], top["labels"]) == (2, 2, ["attack"])
    assert [i["title"] for i in top["items"]] == ["title b1", "title a1"]
    assert all(i["story_id"] == top["id"] for i in top["items"])
    assert len(body["stories"]) == 3 and body["next_cursor"] is None
    attack = client.get("/v1/stories?label=attack").get_json()["stories"]
    assert [s["id"] for s in attack] == [top["id"]]
    feed_b = top["items"][0]["feed_id"]
    assert [s["id"] for s in client.get(f"/v1/stories?feed={feed_b}").get_json()["stories"]] == [
        top["id"]
    ]
    since = (NOW - timedelta(hours=1)).isoformat().replace("+", "%2B")
    assert len(client.get(f"/v1/stories?since={since}").get_json()["stories"]) == 1


def test_stories_page_with_a_cursor(client: FlaskClient) -> None:
    seen, cursor, pages = [], None, 0
    while pages < 5:
        query = "/v1/stories?limit=1" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(query).get_json()
        seen += [s["id"] for s in body["stories"]]
        cursor, pages = body["next_cursor"], pages + 1
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3


def test_items_collapse_to_one_row_per_story(client: FlaskClient, conforms: Conforms) -> None:
    body = client.get("/v1/items?collapse=story").get_json()
    conforms(body, "/v1/items", "get", 200)
    assert [(i["title"], i["story_items"]) for i in body["items"]] == [
        ("title b1", 2),
        ("title a3", 1),
        ("title a2", 1),
    ]
    plain = client.get("/v1/items").get_json()["items"]
    assert len(plain) == 4 and all("story_items" not in i for i in plain)
    assert all(isinstance(i["story_id"], int) for i in plain)


def test_surges_are_listed_and_counted_in_the_metrics(
    client: FlaskClient, conforms: Conforms
) -> None:
    body = client.get("/v1/surges").get_json()
    conforms(body, "/v1/surges", "get", 200)
    (surge,) = body["surges"]
    assert (surge["label"], surge["count"], surge["hour_start"]) == (
        "attack",
        7,
        HOUR.isoformat(),
    )
    assert client.get("/v1/surges?label=recruitment").get_json() == {"surges": []}
    later = (HOUR + timedelta(hours=1)).isoformat().replace("+", "%2B")
    assert client.get(f"/v1/surges?since={later}").get_json() == {"surges": []}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'wiretag_surges{label="attack"} 1.0' in metrics


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/stories?label=weather", "label"),
        ("/v1/stories?since=yesterday", "since"),
        ("/v1/stories?feed=0", "feed"),
        ("/v1/stories?limit=0", "limit"),
        ("/v1/stories?limit=101", "limit"),
        ("/v1/stories?cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("/v1/stories?cursor=a%20b", "cursor"),
        ("/v1/stories?colour=red", "colour"),
        ("/v1/items?collapse=feed", "collapse"),
        ("/v1/surges?label=weather", "label"),
        ("/v1/surges?since=2026-13-01", "since"),
        ("/v1/surges?limit=501", "limit"),
        ("/v1/surges?cursor=x", "cursor"),
    ],
)
def test_every_bad_argument_is_a_422_naming_it(client: FlaskClient, path: str, field: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["field"] == field
