"""The fast path answers plain classify requests exactly as the Flask view does, and hands
everything else to Flask untouched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from service_testkit import KEY, ONE_ITEM, make_settings

from service import create_app

BATCH = {"items": [ONE_ITEM, {"id": "b2", "title": "Local bakery wins award", "text": "x"}]}
SLOW = "application/json; charset=utf-8"  # a content type only the Flask view takes


@pytest.fixture
def views(app: Flask) -> Iterator[list[str]]:
    """The names of the views Flask ran during the test."""
    ran: list[str] = []
    original = app.view_functions["api.classify"]

    def counted(*args: Any, **kwargs: Any) -> Any:
        ran.append("api.classify")
        return original(*args, **kwargs)

    app.view_functions["api.classify"] = counted
    yield ran
    app.view_functions["api.classify"] = original


def post(client: FlaskClient, body: Any, query: str = "", **kw: Any) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    kw.setdefault("content_type", "application/json")
    return client.post("/v1/classify" + query, data=raw, **kw)


@pytest.mark.parametrize("body", [ONE_ITEM, BATCH], ids=["one", "batch"])
@pytest.mark.parametrize("query", ["", "?explain=true", "?explain=false"])
def test_plain_requests_get_the_views_answer_without_flask(
    client: FlaskClient, views: list[str], body: Any, query: str
) -> None:
    headers = {"X-Request-ID": "fast-1"}
    fast = post(client, body, query, headers=headers)
    assert views == []  # answered before Flask's machinery
    slow = post(client, body, query, headers=headers, content_type=SLOW)
    assert views == ["api.classify"]
    assert fast.status_code == slow.status_code == 200
    assert fast.get_data() == slow.get_data()
    assert list(fast.headers.items()) == list(slow.headers.items())
    assert fast.headers["X-Request-ID"] == "fast-1"


def test_a_fresh_request_id_when_none_or_an_odd_one_is_sent(client: FlaskClient) -> None:
    ids = {post(client, ONE_ITEM, headers=h).headers["X-Request-ID"] for h in ({}, {})}
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)
    odd = post(client, ONE_ITEM, headers={"X-Request-ID": "no spaces"}).headers["X-Request-ID"]
    assert odd != "no spaces"


@pytest.mark.parametrize(
    ("raw", "query", "status", "code"),
    [
        (b'{"title": ', "", 400, "invalid_json"),
        (b'{"title": 5}', "", 422, "invalid_request"),
        (b"{}", "", 422, "invalid_request"),
        (json.dumps(ONE_ITEM).encode(), "?explain=maybe", 422, "invalid_request"),
        (json.dumps(ONE_ITEM).encode(), "?verbose=1", 422, "invalid_request"),
    ],
)
def test_what_the_fast_path_cannot_answer_gets_flasks_error(
    client: FlaskClient, views: list[str], raw: bytes, query: str, status: int, code: str
) -> None:
    response = post(client, raw, query)
    assert views == ["api.classify"]
    assert response.status_code == status
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_a_body_over_the_limit_goes_to_flask(tmp_path: Path) -> None:
    client = create_app(make_settings(tmp_path, max_body_bytes=100)).test_client()
    response = post(client, {**ONE_ITEM, "text": "x" * 200})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "body_too_large"


def test_keys_are_checked_on_the_fast_path(tmp_path: Path) -> None:
    client = create_app(make_settings(tmp_path, api_keys=(KEY,))).test_client()
    assert post(client, ONE_ITEM).status_code == 401
    wrong = post(client, ONE_ITEM, headers={"Authorization": "Bearer " + "w" * 30})
    assert wrong.status_code == 401
    assert wrong.get_json()["error"]["code"] == "unauthorized"
    right = post(client, ONE_ITEM, headers={"Authorization": f"Bearer {KEY}"})
    assert right.status_code == 200


def test_fast_answers_are_counted_once(tmp_path: Path) -> None:
    client = create_app(make_settings(tmp_path)).test_client()
    post(client, ONE_ITEM)
    post(client, BATCH, "?explain=false")
    post(client, b"{", "")  # Flask's 400
    text = client.get("/metrics").get_data(as_text=True)
    ok = 'wiretag_http_requests_total{endpoint="/v1/classify",method="POST",status="200"} 2.0'
    bad = 'wiretag_http_requests_total{endpoint="/v1/classify",method="POST",status="400"} 1.0'
    assert ok in text and bad in text
    assert "wiretag_items_classified_total 3.0" in text
    assert 'wiretag_http_request_duration_seconds_count{endpoint="/v1/classify"} 3.0' in text
