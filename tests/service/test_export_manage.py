"""GET /v1/items/<id>, GET /v1/items as CSV and JSON lines, GET /v1/feeds.opml,
PATCH /v1/feeds/<id> and POST /v1/feeds/<id>/refresh: on a real SQLite file, and the
stream through a real gunicorn."""

from __future__ import annotations

import csv
import io
import json
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from service_testkit import Gunicorn, make_settings, schema_errors

from common.labels import LABELS
from poller.opml import read_opml
from service import create_app
from service.export import CSV_COLUMNS, safe_cell
from store import FeedUpdate, Grouping, NewItem, Store, open_store

Conforms = Callable[[Any, str, str, int], None]
NOW = datetime.now(UTC).replace(microsecond=0)
STORED_ITEM = {"$ref": "#/components/schemas/StoredItem"}


@pytest.fixture(scope="module")
def app(module_tmp: Path) -> Flask:
    return create_app(make_settings(module_tmp / "manage", allow_private_networks=True))


@pytest.fixture(scope="module")
def store(app: Flask) -> Iterator[Store]:
    s = open_store(app.extensions["wiretag"].settings.sqlalchemy_url)
    yield s
    s.close()


def stock(store: Store, n: int, *, title: str = "Item {k}", url: str = "") -> tuple[int, list[int]]:
    """A feed of its own with ``n`` items, every third one tagged attack."""
    feed = store.add_feed(url or f"http://127.0.0.1:9/{n}-{title}-{datetime.now().timestamp()}")
    items = [
        NewItem(
            f"k{k}",
            f"https://example.org/{k}",
            title.format(k=k),
            f'Summary {k}, with a comma and a "quote"\nand a line break',
            NOW - timedelta(minutes=k),
            ["attack"] if k % 3 == 0 else [],
            {label: (0.91 if label == "attack" and k % 3 == 0 else 0.05) for label in LABELS},
            "v-test",
        )
        for k in range(n)
    ]
    update = FeedUpdate(NOW, NOW + timedelta(hours=1), 200, 0)
    return feed.id, store.record_fetch(feed.id, "t", update, items)


# -- one item ----------------------------------------------------------------------------


def test_one_item_with_its_verdicts(client: FlaskClient, store: Store, conforms: Conforms) -> None:
    _, ids = stock(store, 3)
    store.add_corrections(ids[0], [("attack", "reject")], "ana", now=NOW)
    store.add_corrections(ids[0], [("recruitment", "add")], "bo", now=NOW + timedelta(seconds=1))
    answer = client.get(f"/v1/items/{ids[0]}")
    assert answer.status_code == 200
    body = answer.get_json()
    conforms(body, "/v1/items/{item_id}", "get", 200)
    assert body["item"]["labels"] == ["attack"]  # the model's, as stored
    assert body["effective_labels"] == ["recruitment"]
    assert [c["analyst"] for c in body["corrections"]] == ["bo", "ana"]  # newest first
    plain = client.get(f"/v1/items/{ids[1]}").get_json()
    assert (plain["effective_labels"], plain["corrections"]) == ([], [])


@pytest.mark.parametrize("path", ["/v1/items/999999", "/v1/items/2147483648"])
def test_a_missing_item_is_a_json_404(client: FlaskClient, path: str, conforms: Conforms) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] in ("item_not_found", "not_found")
    conforms(answer.get_json(), "/v1/items/{item_id}", "get", 404)


def test_one_item_takes_no_query(client: FlaskClient) -> None:
    answer = client.get("/v1/items/1?format=csv")
    assert answer.status_code == 422 and answer.get_json()["error"]["field"] == "format"


# -- export ------------------------------------------------------------------------------


def rows(answer: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def test_csv_export_has_every_item_and_the_same_filters(client: FlaskClient, store: Store) -> None:
    feed_id, ids = stock(store, 30)
    answer = client.get(f"/v1/items?feed={feed_id}&format=csv")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv" and answer.mimetype_params["charset"] == "utf-8"
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="wiretag-items-') and ".csv" in disposition
    found = rows(answer)
    assert list(found[0]) == list(CSV_COLUMNS)
    assert [int(r["id"]) for r in found] == sorted(ids)  # newest first: k=0 was published last
    assert found[0]["summary"] == 'Summary 0, with a comma and a "quote"\nand a line break'
    assert found[0]["labels"] == "attack" and float(found[0]["score_attack"]) == 0.91
    attack = rows(client.get(f"/v1/items?feed={feed_id}&label=attack&format=csv"))
    assert len(attack) == 10
    json_ids = [i["id"] for i in client.get(f"/v1/items?feed={feed_id}&label=attack").json["items"]]  # type: ignore[index]
    assert [int(r["id"]) for r in attack] == json_ids
    capped = rows(client.get(f"/v1/items?feed={feed_id}&format=csv&limit=4"))
    assert [int(r["id"]) for r in capped] == sorted(ids)[:4]
    page = client.get(f"/v1/items?feed={feed_id}&limit=5").json
    after = rows(client.get(f"/v1/items?feed={feed_id}&format=csv&cursor={page['next_cursor']}"))  # type: ignore[index]
    assert [int(r["id"]) for r in after] == sorted(ids)[5:]
    none = client.get("/v1/items?feed=2147483647&format=csv")
    assert none.get_data(as_text=True).splitlines() == [",".join(CSV_COLUMNS)]


def test_csv_cells_cannot_become_formulas(client: FlaskClient, store: Store) -> None:
    feed_id, _ = stock(store, 4, title='=HYPERLINK("http://evil.example",{k})')
    found = rows(client.get(f"/v1/items?feed={feed_id}&format=csv"))
    assert {r["title"][:2] for r in found} == {"'="}
    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(dangerous) == "'" + dangerous
    assert safe_cell("Plain title") == "Plain title"


@pytest.mark.parametrize(
    ("query", "accept"),
    [
        ("format=jsonl", None),
        ("", "application/x-ndjson"),
        ("", "application/jsonl"),
        ("", "text/html;q=0.9, application/jsonl"),
    ],
)
def test_json_lines_export(
    client: FlaskClient, store: Store, query: str, accept: str | None
) -> None:
    feed_id, ids = stock(store, 7)
    headers = {"Accept": accept} if accept else {}
    answer = client.get(f"/v1/items?feed={feed_id}&{query}", headers=headers)
    assert answer.status_code == 200 and answer.mimetype == "application/x-ndjson"
    assert answer.headers["Content-Disposition"].endswith('.jsonl"')
    lines = answer.get_data(as_text=True).splitlines()
    items = [json.loads(line) for line in lines]
    assert [i["id"] for i in items] == sorted(ids)
    for item in items:
        assert not schema_errors(item, STORED_ITEM)


@pytest.mark.parametrize(
    ("query", "accept", "kind"),
    [
        ("", "text/csv", "text/csv"),
        ("", "*/*", "application/json"),
        ("", "image/png", "application/json"),  # a preference we cannot meet: JSON
        ("format=json", "text/csv", "application/json"),  # format= wins over Accept
        ("format=csv", "application/json", "text/csv"),
    ],
)
def test_format_and_accept(client: FlaskClient, query: str, accept: str, kind: str) -> None:
    answer = client.get(f"/v1/items?{query}", headers={"Accept": accept})
    assert answer.status_code == 200 and answer.mimetype == kind
    assert answer.headers["Vary"] == "Accept"


@pytest.mark.parametrize("value", ["xml", "CSV", ""])
def test_an_unknown_format_is_a_422_naming_it(client: FlaskClient, value: str) -> None:
    answer = client.get(f"/v1/items?format={value}")
    assert answer.status_code == 422
    assert answer.get_json()["error"]["field"] == "format"


# -- feeds -------------------------------------------------------------------------------


def test_patch_changes_and_clears_and_pauses(
    client: FlaskClient, store: Store, conforms: Conforms
) -> None:
    feed_id, _ = stock(store, 1)
    path = f"/v1/feeds/{feed_id}"
    changed = client.patch(path, json={"title": "Wire", "interval_minutes": 30})
    assert changed.status_code == 200
    conforms(changed.get_json(), "/v1/feeds/{feed_id}", "patch", 200)
    feed = changed.get_json()["feed"]
    assert (feed["title"], feed["interval_minutes"], feed["paused"]) == ("Wire", 30, False)
    paused = client.patch(
        path,
        data=json.dumps({"paused": True, "title": None}),
        content_type="application/merge-patch+json",
    ).get_json()["feed"]
    assert (paused["title"], paused["interval_minutes"], paused["paused"]) == (None, 30, True)
    assert paused["paused_at"] is not None
    listed = {f["id"]: f for f in client.get("/v1/feeds").get_json()["feeds"]}
    assert listed[feed_id]["paused"] is True
    assert client.get(path).get_json()["feed"]["paused"] is True
    leased = store.claim_due_feeds("p", 1000, 1, now=NOW + timedelta(days=60))
    assert feed_id not in {f.id for f in leased}
    whole = client.patch(path, json={"interval_minutes": 30.0})  # JSON Schema: an integer
    assert whole.status_code == 200 and whole.get_json()["feed"]["interval_minutes"] == 30
    same = client.patch(path, json={}).get_json()["feed"]
    assert same == paused
    resumed = client.patch(path, json={"paused": False, "interval_minutes": None})
    feed = resumed.get_json()["feed"]
    assert (feed["paused"], feed["paused_at"], feed["interval_minutes"]) == (False, None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"interval_minutes": 0}, "interval_minutes"),
        ({"interval_minutes": 43201}, "interval_minutes"),
        ({"interval_minutes": "5"}, "interval_minutes"),
        ({"interval_minutes": 1.5}, "interval_minutes"),
        ({"paused": None}, "paused"),
        ({"paused": "yes"}, "paused"),
        ({"title": "x" * 1001}, "title"),
        ({"url": "http://127.0.0.1:9/other"}, "url"),
        ([], None),
    ],
)
def test_a_bad_patch_is_a_422_naming_the_field(
    client: FlaskClient, store: Store, body: Any, field: str | None
) -> None:
    feed_id, _ = stock(store, 1)
    answer = client.patch(f"/v1/feeds/{feed_id}", json=body)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"].get("field") == field


def test_patch_and_refresh_of_a_missing_feed_and_a_body_not_json(client: FlaskClient) -> None:
    assert client.patch("/v1/feeds/999999", json={"paused": True}).status_code == 404
    assert client.post("/v1/feeds/999999/refresh").get_json()["error"]["code"] == "feed_not_found"
    refused = client.patch("/v1/feeds/1", data="paused=true", content_type="text/plain")
    assert refused.status_code == 415


def test_refresh_makes_the_feed_due_now_unless_paused(
    client: FlaskClient, store: Store, conforms: Conforms
) -> None:
    feed_id, _ = stock(store, 1)  # checked at NOW, next check an hour later
    before = datetime.now(UTC)
    answer = client.post(f"/v1/feeds/{feed_id}/refresh")
    assert answer.status_code == 202
    conforms(answer.get_json(), "/v1/feeds/{feed_id}/refresh", "post", 202)
    due = datetime.fromisoformat(answer.get_json()["feed"]["next_check_at"])
    assert before - timedelta(seconds=1) <= due <= datetime.now(UTC)
    client.patch(f"/v1/feeds/{feed_id}", json={"paused": True})
    refused = client.post(f"/v1/feeds/{feed_id}/refresh")
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "feed_paused"


def test_the_feed_list_as_opml_reads_back(
    client: FlaskClient, store: Store, tmp_path: Path
) -> None:
    store.add_feed("http://127.0.0.1:9/opml-a.xml", title="A & <B>")
    store.add_feed("http://127.0.0.1:9/opml-b.xml?x=1&y=2")
    answer = client.get("/v1/feeds.opml")
    assert answer.status_code == 200 and answer.mimetype == "text/x-opml"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="wiretag-feeds.opml"'
    path = tmp_path / "feeds.opml"
    path.write_bytes(answer.get_data())
    assert {(o.url, o.title) for o in read_opml(path)} == {
        (f.url, f.title) for f in store.list_feeds()
    }
    assert client.get("/v1/feeds.opml?x=1").status_code == 422


# -- through gunicorn: streamed --------------------------------------------------------


@pytest.mark.slow
def test_the_export_streams_through_gunicorn(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    s = open_store(f"sqlite:///{tmp_path / 'data' / 'wiretag.db'}")
    try:
        _, ids = stock(s, 2500)
    finally:
        s.close()
    g = Gunicorn(tmp_path)
    try:
        g.wait_ready()
        with httpx.stream(
            "GET", f"{g.url}/v1/items", headers={"Accept": "text/csv"}, timeout=30
        ) as answer:
            assert answer.status_code == 200
            assert answer.headers.get("transfer-encoding") == "chunked"
            assert "content-length" not in answer.headers
            pieces = list(answer.iter_raw())
        text = b"".join(pieces).decode()
        found = list(csv.DictReader(io.StringIO(text)))
        assert [int(r["id"]) for r in found] == sorted(ids)
        lines = httpx.get(f"{g.url}/v1/items?format=jsonl", timeout=30).text.splitlines()
        assert len(lines) == 2500
    finally:
        assert g.stop() == 0, g.log()


def _slow_read(url: str, path: str, pause: float) -> bytes:
    """GET ``path`` over a socket with a small receive buffer, read slowly to the end."""
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(30)  # a server that stops sending fails the test, never hangs it
        sock.connect((host, int(port)))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received = []
        while piece := sock.recv(65536):
            received.append(piece)
            time.sleep(pause)
    return b"".join(received)


@pytest.mark.slow
def test_a_long_export_gets_a_deadline_per_part_not_one_for_all(tmp_path: Path) -> None:
    """WIRETAG_REQUEST_TIMEOUT=1 and a reader slow enough that the whole download takes
    longer: each part has its second, so the export ends complete (chunked, 0-length end)."""
    (tmp_path / "data").mkdir()
    s = open_store(f"sqlite:///{tmp_path / 'data' / 'wiretag.db'}")
    try:
        stock(s, 12_000)
    finally:
        s.close()
    g = Gunicorn(tmp_path, WIRETAG_REQUEST_TIMEOUT="1")
    try:
        g.wait_ready()
        started = time.monotonic()
        raw = _slow_read(g.url, "/v1/items?format=jsonl", 0.003)
        took = time.monotonic() - started
        assert took > 1.5, took  # longer than one deadline
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower()
        assert body.endswith(b"0\r\n\r\n")  # the last chunk: nothing was cut
        assert body.count(b'"model_version"') == 12_000
    finally:
        assert g.stop() == 0, g.log()


def test_the_export_carries_stories_and_collapses_by_story(
    client: FlaskClient, store: Store
) -> None:
    feed = store.add_feed(f"http://127.0.0.1:9/stories-{datetime.now().timestamp()}")
    items = [
        NewItem(
            f"s{k}",
            None,
            f"Copy {k}",
            "Summary",
            NOW - timedelta(minutes=k),
            [],
            {label: 0.05 for label in LABELS},
            "v-test",
            grouping=Grouping(f"story{k % 2}", bytes(512), "test-scheme"),
        )
        for k in range(5)
    ]
    store.record_fetch(feed.id, "t", FeedUpdate(NOW, NOW + timedelta(hours=1), 200, 0), items)
    found = rows(client.get(f"/v1/items?feed={feed.id}&format=csv"))
    assert len(found) == 5 and len({r["story_id"] for r in found}) == 2
    assert {r["story_items"] for r in found} == {""}
    collapsed = rows(client.get(f"/v1/items?feed={feed.id}&format=csv&collapse=story"))
    assert sorted(int(r["story_items"]) for r in collapsed) == [2, 3]
    lines = client.get(f"/v1/items?feed={feed.id}&format=jsonl&collapse=story").get_data()
    assert sorted(json.loads(line)["story_items"] for line in lines.splitlines()) == [2, 3]
