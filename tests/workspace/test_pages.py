"""Every workspace page and form through Flask's test client, against a real SQLite file:
escaping, CSRF, sign-in, filters, paging, corrections, and /v1/corrections."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from workspace_kit import HOSTILE, WRITTEN, fill

from service import create_app
from settings import Settings
from store import open_store

KEY = "k" * 20 + "-workspace-key"


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store holding the written items and the hostile ones; its URL and ids."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ws') / 'w.db'}"
    store = open_store(url)
    info = fill(store, None)
    info["url"] = url
    info["ids"] = {i.title: i.id for i in store.list_items(limit=100)[0]}
    store.close()
    return info


@pytest.fixture(scope="module")
def app(filled: dict[str, Any]) -> Flask:
    return create_app(Settings(database_url=filled["url"]))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf(page: bytes) -> str:
    found = re.search(rb'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1).decode()


def sign(client: FlaskClient, name: str = "Ann Analyst", key: str | None = None) -> None:
    token = csrf(client.get("/signin").data)
    form = {"csrf": token, "name": name, "next": "/"}
    if key:
        form["key"] = key
    assert client.post("/signin", data=form).status_code == 303


def test_queue_lists_items_newest_first_with_security_headers(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    titles = re.findall(r'<h2 class="title">\s*(?:<a [^>]*>)?([^<]*)', body)
    assert titles[0].strip() == WRITTEN[0][0]  # published most recently
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in body.replace('<script src="/static/wiretag.js" defer></script>', "")


def test_feed_strings_are_escaped_and_javascript_links_are_not_links(
    client: FlaskClient, filled: dict[str, Any]
) -> None:
    body = client.get("/").get_data(as_text=True)
    assert "&lt;script&gt;document.title=" in body
    assert "<svg onload" not in body and "&lt;svg onload=" in body
    assert 'href="javascript:' not in body
    item_id = filled["ids"][HOSTILE[0][0]]
    view = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "<img src=x" not in view and "&lt;img src=x onerror=" in view
    assert "link not shown (not http/https)" in view
    assert 'href="javascript:' not in view


def test_filters_by_label_search_feed_and_time(client: FlaskClient, filled: dict[str, Any]) -> None:
    attack = client.get("/?label=attack").get_data(as_text=True)
    assert "Suicide bomber kills 12" in attack and "Central bank" not in attack
    found = client.get("/?q=bomber").get_data(as_text=True)
    assert "Suicide bomber kills 12" in found and "Tal Afar" not in found
    phrase = client.get('/?q="central+bank"').get_data(as_text=True)
    assert "Central bank holds" in phrase and "Suicide" not in phrase
    excluded = client.get("/?q=forces+-afar").get_data(as_text=True)
    assert "Tal Afar" not in excluded
    other = client.get(f"/?feed={filled['broken']}").get_data(as_text=True)
    assert "No items match this view" in other
    recent = client.get("/?within=1h").get_data(as_text=True)
    assert "Suicide bomber kills 12" in recent and "Gunmen attack hotel" not in recent
    scored = client.get("/?label=territorial_loss&min_score=0.5").get_data(as_text=True)
    assert "Tal Afar" in scored and "Central bank" not in scored


def test_bad_filters_are_named_next_to_their_field(client: FlaskClient) -> None:
    page = client.get("/?min_score=7&label=bogus&since=yesterday&q=" + "x" * 300)
    assert page.status_code == 400
    body = page.get_data(as_text=True)
    assert "minimum score must be a number from 0 to 1" in body
    assert "unknown label" in body and "such as 2026-03-01" in body
    assert "at most 200 characters" in body
    bad_cursor = client.get("/?after=garbage").get_data(as_text=True)
    assert "page link is damaged" in bad_cursor


def test_paging_both_ways_keeps_the_filters(client: FlaskClient) -> None:
    seen: list[str] = []
    url = "/?label=attack&label=territorial_loss&label=recruitment&label=counter_propaganda"
    first = client.get(url).get_data(as_text=True)
    assert "Older" not in first  # fewer than a page: nothing older
    everything = client.get("/").get_data(as_text=True)
    seen = re.findall(r'href="/items/(\d+)"', everything)
    assert len(seen) == len(set(seen)) == len(WRITTEN) + len(HOSTILE)


def test_paging_with_small_pages(filled: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from service.web import views

    monkeypatch.setattr(views, "PAGE", 3)
    client = create_app(Settings(database_url=filled["url"])).test_client()
    page1 = client.get("/?q=-nothing+attack").get_data(as_text=True)
    pages, body, ids = 0, client.get("/").get_data(as_text=True), []
    while True:
        pages += 1
        ids += re.findall(r'href="/items/(\d+)"', body)
        older = re.search(r'href="(/\?[^"]*after=[^"]+)" rel="next"', body)
        if not older or pages > 10:
            break
        body = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert pages == 3 and len(ids) == len(set(ids)) == 8
    newer = re.search(r'href="(/\?[^"]*before=[^"]+)" rel="prev"', body)
    assert newer
    back = client.get(newer.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r'href="/items/(\d+)"', back) == ids[3:6]
    assert page1  # a search that excludes only is refused politely, not a 500


def test_item_view_highlights_evidence_and_names_both_models(
    client: FlaskClient, filled: dict[str, Any]
) -> None:
    item_id = filled["ids"][WRITTEN[1][0]]  # Iraqi forces retake Tal Afar ...
    body = client.get(f"/items/{item_id}").get_data(as_text=True)
    marks = re.findall(r'<mark class="ev l-(\w+)[^"]*"[^>]*>([^<]+)</mark>', body)
    assert ("territorial_loss", "retake") in marks or ("territorial_loss", "recaptured") in marks
    assert "the model in service" in body.lower()
    assert "threshold" in body
    assert client.get(f"/items/{item_id}?show=").get_data(as_text=True).count("<mark") == 0
    assert client.get("/items/999999").status_code == 404


def test_corrections_need_a_name_and_a_csrf_token(
    client: FlaskClient, filled: dict[str, Any]
) -> None:
    item_id = filled["ids"][WRITTEN[4][0]]  # Central bank: no label
    view = client.get(f"/items/{item_id}").data
    token = csrf(view)
    no_name = client.post(
        f"/items/{item_id}/corrections", data={"csrf": token, "verdict": "attack:add"}
    )
    assert no_name.status_code == 303 and "/signin" in no_name.headers["Location"]
    sign(client)
    token = csrf(client.get(f"/items/{item_id}").data)
    forged = client.post(f"/items/{item_id}/corrections", data={"verdict": "attack:add"})
    assert forged.status_code == 400 and b"out of date" in forged.data
    wrong = client.post(
        f"/items/{item_id}/corrections", data={"csrf": "x" * 43, "verdict": "attack:add"}
    )
    assert wrong.status_code == 400
    bad = client.post(f"/items/{item_id}/corrections", data={"csrf": token, "verdict": "x:y"})
    assert bad.status_code == 400 and b"unknown label" in bad.data
    assert client.get("/v1/corrections").get_json()["corrections"] == []


def test_a_correction_shows_on_the_item_in_the_queue_and_in_the_api(
    client: FlaskClient, filled: dict[str, Any]
) -> None:
    sign(client, "Bo Analyst")
    item_id = filled["ids"][WRITTEN[4][0]]
    token = csrf(client.get(f"/items/{item_id}").data)
    done = client.post(
        f"/items/{item_id}/corrections",
        data={"csrf": token, "verdict": "recruitment:add", "next": "https://evil.example/"},
    )
    assert done.status_code == 303 and done.headers["Location"] == f"/items/{item_id}"
    view = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "Recorded: recruitment added by Bo Analyst" in view
    assert "Bo Analyst added recruitment" in view
    listed = client.get("/?label=recruitment").get_data(as_text=True)
    assert "Central bank holds" in listed and "✎ corrected" in listed
    api = client.get("/v1/corrections?since=2000-01-01T00:00:00Z").get_json()
    assert [(c["item_id"], c["label"], c["verdict"], c["analyst"]) for c in api["corrections"]][
        -1
    ] == (item_id, "recruitment", "add", "Bo Analyst")
    token = csrf(client.get(f"/items/{item_id}").data)
    client.post(
        f"/items/{item_id}/corrections", data={"csrf": token, "verdict": "recruitment:reject"}
    )
    assert "Central bank holds" not in client.get("/?label=recruitment").get_data(as_text=True)


def test_corrections_api_pages_and_checks_its_arguments(client: FlaskClient) -> None:
    first = client.get("/v1/corrections?limit=1").get_json()
    assert len(first["corrections"]) == 1 and first["next_cursor"]
    rest = client.get(f"/v1/corrections?limit=500&cursor={first['next_cursor']}").get_json()
    assert all(c["id"] > first["corrections"][0]["id"] for c in rest["corrections"])
    assert rest["next_cursor"] is None
    assert client.get("/v1/corrections?since=soon").status_code == 422
    assert client.get("/v1/corrections?colour=red").status_code == 422
    future = client.get("/v1/corrections?since=2999-01-01T00:00:00Z").get_json()
    assert future == {"corrections": [], "next_cursor": None}


def test_review_queue_offers_uncertain_items_and_drops_judged_ones(
    client: FlaskClient, filled: dict[str, Any]
) -> None:
    sign(client, "Cy")
    body = client.get("/review").get_data(as_text=True)
    ids = re.findall(r'action="/items/(\d+)/corrections"', body)
    assert ids
    first = ids[0]
    token = csrf(body.encode())
    verdict = re.search(r'name="verdict" value="([^"]+)"', body)
    assert verdict
    client.post(
        f"/items/{first}/corrections",
        data={"csrf": token, "verdict": verdict.group(1), "next": "/review"},
    )
    after = client.get("/review").get_data(as_text=True)
    assert f'action="/items/{first}/corrections"' not in after


def test_overview_shows_charts_and_failing_feeds(client: FlaskClient) -> None:
    body = client.get("/overview").get_data(as_text=True)
    assert "1 of 2 failing" in body and "HTTP 503" in body
    assert body.count('<svg viewBox="0 0 600 138" role="img"') == 8
    assert "items in the last 48 hours" in body


def test_sign_in_with_keys(filled: dict[str, Any]) -> None:
    client = create_app(Settings(database_url=filled["url"], api_keys=(KEY,))).test_client()
    gate = client.get("/?label=attack")
    assert gate.status_code == 303 and gate.headers["Location"].startswith("/signin?next=")
    with client.get("/static/wiretag.css") as style:
        assert style.status_code == 200  # styles need no sign-in
    token = csrf(client.get("/signin").data)
    refused = client.post("/signin", data={"csrf": token, "name": "Ann", "key": "wrong" * 4})
    assert refused.status_code == 401 and b"not one of this service" in refused.data
    no_csrf = client.post("/signin", data={"name": "Ann", "key": KEY})
    assert no_csrf.status_code == 400
    token = csrf(client.get("/signin").data)
    ok = client.post(
        "/signin", data={"csrf": token, "name": "Ann", "key": KEY, "next": "//evil.example/x"}
    )
    assert ok.status_code == 303 and ok.headers["Location"] == "/"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert KEY not in cookie
    assert client.get("/").status_code == 200
    assert client.get("/v1/corrections").status_code == 401  # the API still wants the key
    rotated = create_app(Settings(database_url=filled["url"], api_keys=("n" * 20,)))
    stale = rotated.test_client()
    stale.set_cookie("wiretag_session", cookie.split(";")[0].split("=", 1)[1])
    assert stale.get("/").status_code == 303  # a session for a removed key is over


def test_cookie_is_secure_over_https(filled: dict[str, Any]) -> None:
    client = create_app(Settings(database_url=filled["url"])).test_client()
    page = client.get("/signin", base_url="https://localhost")
    assert "Secure" in page.headers["Set-Cookie"]


def test_session_secret_setting_is_validated() -> None:
    from settings import SettingsError, from_env

    with pytest.raises(SettingsError, match="WIRETAG_SESSION_SECRET"):
        from_env({"WIRETAG_SESSION_SECRET": "short"})
    assert from_env({"WIRETAG_SESSION_SECRET": "s" * 32}).session_secret == "s" * 32


def test_store_down_is_a_page_not_a_traceback(tmp_path: Path) -> None:
    app = create_app(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    page = app.test_client().get("/")
    assert page.status_code == 503 and b"Store unavailable" in page.data
