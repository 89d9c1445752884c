"""/healthz, /readyz, /metrics and /openapi.json; the store opened lazily."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from service_testkit import ONE_ITEM, OPENAPI, make_settings

from service import create_app

Conforms = Callable[[Any, str, str, int], None]
DEAD_DB = "postgresql+psycopg://nobody@127.0.0.1:1/nothing"  # port 1: refused at once


def test_healthz(client: FlaskClient, conforms: Conforms) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    conforms(response.get_json(), "/healthz", "get", 200)


def test_readyz_when_model_and_store_answer(client: FlaskClient, conforms: Conforms) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    conforms(body, "/readyz", "get", 200)
    assert body["ready"] is True
    assert body["checks"]["store"] == {"ok": True}
    assert body["checks"]["model"]["ok"] is True


def test_readyz_shows_no_filesystem_paths(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    shown = app.test_client().get("/readyz").get_data(as_text=True)
    for path in (app.extensions["wiretag"].settings.model_dir, tmp_path):
        assert str(path) not in shown
    assert "directory" not in shown


def test_the_store_is_opened_on_first_use_only(tmp_path: Path) -> None:
    client = create_app(make_settings(tmp_path)).test_client()
    assert client.post("/v1/classify", json=ONE_ITEM).status_code == 200
    assert not (tmp_path / "data").exists()
    assert client.get("/readyz").status_code == 200
    assert (tmp_path / "data" / "wiretag.db").is_file()


def test_with_the_store_down_it_classifies_and_says_not_ready(
    tmp_path: Path, conforms: Conforms, caplog: pytest.LogCaptureFixture
) -> None:
    client = create_app(make_settings(tmp_path, database_url=DEAD_DB)).test_client()
    assert client.post("/v1/classify", json=ONE_ITEM).status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    conforms(body, "/readyz", "get", 503)
    assert body["ready"] is False
    assert body["checks"]["store"]["ok"] is False
    assert "nobody" not in json.dumps(body)  # no connection details on an open endpoint
    feeds = client.get("/v1/feeds", headers={"X-Request-ID": "store-down-1"})
    assert feeds.status_code == 503
    assert feeds.get_json()["error"]["code"] == "store_unavailable"
    assert feeds.get_json()["request_id"] == "store-down-1"
    conforms(feeds.get_json(), "/v1/feeds", "get", 503)
    logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert logged[-1].json_fields == {"request_id": "store-down-1"}  # type: ignore[attr-defined]
    assert logged[-1].exc_info is not None  # the database's own error, for the operator


def test_metrics_count_requests_items_and_labels(tmp_path: Path) -> None:
    client = create_app(make_settings(tmp_path)).test_client()
    client.post("/v1/classify", json={"items": [ONE_ITEM, ONE_ITEM]})
    client.post("/v1/classify", json=ONE_ITEM)
    client.post("/v1/classify", data="{", content_type="application/json")
    client.get("/nowhere")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    assert (
        'wiretag_http_requests_total{endpoint="/v1/classify",method="POST",status="200"} 2.0'
        in text
    )
    assert (
        'wiretag_http_requests_total{endpoint="/v1/classify",method="POST",status="400"} 1.0'
        in text
    )
    assert 'wiretag_http_requests_total{endpoint="unmatched",method="GET",status="404"} 1.0' in text
    assert 'wiretag_http_request_duration_seconds_count{endpoint="/v1/classify"} 3.0' in text
    assert "wiretag_items_classified_total 3.0" in text
    assert 'wiretag_labels_assigned_total{label="attack"} 3.0' in text
    assert 'wiretag_model_info{sha256="' in text


def test_openapi_is_served_as_json(client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == OPENAPI
    assert OPENAPI["openapi"].startswith("3.1")


def _documented_routes() -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in OPENAPI["paths"].items()
        for method in item
        if method in {"get", "post", "put", "delete", "patch"}
    }


def test_every_route_is_documented_and_every_documented_route_exists(app: Flask) -> None:
    served = {
        (re.sub(r"<int:(\w+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
        and not rule.endpoint.startswith("web.")  # the workspace's HTML pages: not the API
    }
    assert served == _documented_routes()


@pytest.mark.parametrize(("path", "method"), sorted(_documented_routes()))
def test_every_operation_documents_its_errors(path: str, method: str) -> None:
    operation = OPENAPI["paths"][path][method.lower()]
    assert operation.get("summary")
    statuses = set(operation["responses"])
    assert {"404", "405", "500"} <= statuses
    if path.startswith("/v1/"):
        assert "401" in statuses
    if "requestBody" in operation:
        assert {"400", "413", "415", "422"} <= statuses


def test_every_reference_in_the_document_resolves() -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(OPENAPI)
    assert refs
    for ref in refs:
        node: Any = OPENAPI
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        assert isinstance(node, dict)
