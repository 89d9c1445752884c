"""POST /v1/classify through the Flask test client: answers, and every kind of bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from service_testkit import ONE_ITEM, make_settings

from common.labels import LABELS
from service import create_app

Conforms = Callable[[Any, str, str, int], None]


def post(client: FlaskClient, body: Any, path: str = "/v1/classify", **kw: Any) -> Any:
    """POST ``body`` as JSON."""
    return client.post(path, data=json.dumps(body), content_type="application/json", **kw)


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """Check a JSON error answer and return its ``error`` object."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return dict(body["error"])


# -- answers ---------------------------------------------------------------------------


def test_one_item_gets_labels_scores_and_evidence(client: FlaskClient, conforms: Conforms) -> None:
    response = post(client, ONE_ITEM)
    assert response.status_code == 200
    body = response.get_json()
    conforms(body, "/v1/classify", "post", 200)
    model = client.application.extensions["wiretag"].models.current
    assert body["model"] == {"version": model.version, "sha256": model.sha256}
    (result,) = body["results"]
    assert result["id"] == "a1"
    assert set(result["scores"]) == set(LABELS)
    assert "attack" in result["labels"]  # a suicide bombing at a checkpoint
    assert set(result["evidence"]) == set(LABELS)
    assert any(term in {"suicide", "bomber", "killed"} for term, _ in result["evidence"]["attack"])
    assert result["truncated"] is False


def test_the_answer_matches_the_model_called_directly(client: FlaskClient) -> None:
    from model import Item

    model = client.application.extensions["wiretag"].models.current
    direct = model.classify([Item("a1", ONE_ITEM["title"], ONE_ITEM["text"])])[0]
    answer = post(client, ONE_ITEM).get_json()["results"][0]
    assert answer["labels"] == direct.labels
    assert answer["scores"] == pytest.approx(direct.scores, abs=1e-4)


def test_a_batch_answers_in_order(client: FlaskClient, conforms: Conforms) -> None:
    items = [
        {"id": "calm", "title": "Local bakery wins award for sourdough bread"},
        {"id": "war", **{k: v for k, v in ONE_ITEM.items() if k != "id"}},
        {"title": "Recruiters lure teenagers online to join the group abroad", "summary": "x"},
    ]
    body = post(client, {"items": items}).get_json()
    conforms(body, "/v1/classify", "post", 200)
    assert [r["id"] for r in body["results"]] == ["calm", "war", None]
    assert body["results"][0]["labels"] == []
    assert "attack" in body["results"][1]["labels"]


def test_a_batch_scores_like_single_items(client: FlaskClient) -> None:
    items = [{**ONE_ITEM, "id": str(i), "title": f"{ONE_ITEM['title']} {i}"} for i in range(8)]
    batch = post(client, {"items": items}).get_json()["results"]
    singles = [post(client, item).get_json()["results"][0] for item in items]
    for b, s in zip(batch, singles, strict=True):
        assert b["labels"] == s["labels"]
        assert b["scores"] == pytest.approx(s["scores"], abs=1e-3)


@pytest.mark.parametrize("word", ["false", "off", "No", "0"])
def test_explain_false_leaves_evidence_out(
    client: FlaskClient, conforms: Conforms, word: str
) -> None:
    body = post(client, ONE_ITEM, f"/v1/classify?explain={word}").get_json()
    conforms(body, "/v1/classify", "post", 200)
    assert "evidence" not in body["results"][0]
    assert body["results"][0]["scores"]
    kept = post(client, ONE_ITEM, "/v1/classify?explain=on").get_json()
    assert kept["results"][0]["evidence"]


def test_summary_is_used_when_there_is_no_text(client: FlaskClient) -> None:
    as_text = post(client, {"title": "t", "text": ONE_ITEM["text"]}).get_json()
    as_summary = post(client, {"title": "t", "summary": ONE_ITEM["text"]}).get_json()
    assert as_text["results"][0]["scores"] == as_summary["results"][0]["scores"]


@pytest.fixture(scope="module")
def tight(module_tmp: Path) -> FlaskClient:
    """A client of a service with small limits: 200 characters, 3 items, 4000 bytes."""
    settings = make_settings(module_tmp, max_text_chars=200, max_items=3, max_body_bytes=4000)
    return create_app(settings).test_client()


def test_long_text_is_cut_and_the_answer_says_so(tight: FlaskClient) -> None:
    client = tight
    long_item = {"id": "long", "title": "Bombing", "text": ONE_ITEM["text"] + " filler" * 100}
    cut_body = {"id": "cut", "title": "Bombing", "text": long_item["text"][:200]}
    answer = post(client, {"items": [long_item, cut_body]}).get_json()["results"]
    assert answer[0]["truncated"] is True
    assert answer[1]["truncated"] is False
    # what was scored is exactly the first 200 characters
    assert answer[0]["scores"] == answer[1]["scores"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "wiretag_texts_truncated_total 1.0" in metrics  # the only cut text of this app


def test_unknown_item_fields_are_ignored(client: FlaskClient) -> None:
    response = post(client, {**ONE_ITEM, "published": "2026-01-01", "lang": "en"})
    assert response.status_code == 200


# -- bad input -------------------------------------------------------------------------


def test_invalid_json_is_400(client: FlaskClient) -> None:
    response = client.post("/v1/classify", data=b'{"title": ', content_type="application/json")
    error_of(response, 400, "invalid_json")


@pytest.mark.parametrize("raw", [b"", b"NaN", b'{"title": "x", "n": Infinity}', b'{"title": "x"'])
def test_non_standard_or_unusable_json_is_400(client: FlaskClient, raw: bytes) -> None:
    error_of(
        client.post("/v1/classify", data=raw, content_type="application/json"), 400, "invalid_json"
    )


def test_a_body_that_is_not_utf8_is_400(client: FlaskClient) -> None:
    raw = '{"title": "Angriff in Köln"}'.encode("latin-1")
    response = client.post("/v1/classify", data=raw, content_type="application/json")
    error_of(response, 400, "invalid_encoding")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_a_body_that_is_not_json_is_415(client: FlaskClient, content_type: str) -> None:
    response = client.post("/v1/classify", data=json.dumps(ONE_ITEM), content_type=content_type)
    error_of(response, 415, "unsupported_media_type")


def test_a_body_without_content_type_is_415(client: FlaskClient) -> None:
    response = client.post("/v1/classify", data=json.dumps(ONE_ITEM))
    error_of(response, 415, "unsupported_media_type")


def test_json_with_a_suffix_type_and_utf8_charset_is_accepted(client: FlaskClient) -> None:
    for content_type in ("application/vnd.wiretag+json", "application/json; charset=UTF-8"):
        response = client.post("/v1/classify", data=json.dumps(ONE_ITEM), content_type=content_type)
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "index", "field"),
    [
        ({"items": [ONE_ITEM, {"title": "", "text": "  "}]}, 1, "text"),
        ({"items": [ONE_ITEM, ONE_ITEM, {"id": "x"}]}, 2, "text"),
        ({"items": [ONE_ITEM, {"title": 7}]}, 1, "title"),
        ({"items": [{"title": "t", "text": ["a"]}]}, 0, "text"),
        ({"items": [{"title": "t", "summary": {"a": 1}}]}, 0, "summary"),
        ({"items": [{"title": "t", "id": 12}]}, 0, "id"),
        ({"items": [{"title": "t", "url": False}]}, 0, "url"),
        ({"title": "t", "text": 3.5}, 0, "text"),
        ({"url": "https://example.org"}, 0, "text"),
    ],
)
def test_a_bad_item_is_422_naming_index_and_field(
    client: FlaskClient, conforms: Conforms, body: Any, index: int, field: str
) -> None:
    response = post(client, body)
    error = error_of(response, 422, "invalid_request")
    conforms(response.get_json(), "/v1/classify", "post", 422)
    assert (error["index"], error["field"]) == (index, field)
    assert f"item {index}" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [([ONE_ITEM], None), ("text", None), ({"items": {"a": 1}}, "items"), ({"items": []}, "items")],
)
def test_a_bad_body_shape_is_422(client: FlaskClient, body: Any, field: str | None) -> None:
    error = error_of(post(client, body), 422, "invalid_request")
    assert error.get("field") == field


def test_an_item_that_is_not_an_object_is_422(client: FlaskClient) -> None:
    error = error_of(post(client, {"items": [ONE_ITEM, "text"]}), 422, "invalid_request")
    assert error["index"] == 1


@pytest.mark.parametrize("query", ["explain=maybe", "explian=false"])
def test_a_bad_query_argument_is_422(client: FlaskClient, query: str) -> None:
    error = error_of(post(client, ONE_ITEM, f"/v1/classify?{query}"), 422, "invalid_request")
    assert error["field"] in {"explain", "explian"}


def test_too_many_items_is_413(tight: FlaskClient) -> None:
    client = tight
    assert post(client, {"items": [ONE_ITEM] * 3}).status_code == 200
    error = error_of(post(client, {"items": [ONE_ITEM] * 4}), 413, "too_many_items")
    assert "at most 3" in error["message"]


def test_the_default_item_limit_is_256(client: FlaskClient) -> None:
    item = {"title": "Bombing"}
    assert post(client, {"items": [item] * 256}).status_code == 200
    error_of(post(client, {"items": [item] * 257}), 413, "too_many_items")


def test_a_body_over_the_limit_is_413(tight: FlaskClient) -> None:
    exactly = json.dumps({"title": "x", "text": "y" * 4000})[: 4000 - 2] + '"}'
    assert len(exactly) == 4000
    ok = tight.post("/v1/classify", data=exactly, content_type="application/json")
    assert ok.status_code == 200
    error_of(post(tight, {"title": "x", "text": "y" * 4000}), 413, "body_too_large")


@pytest.mark.parametrize(("size", "status"), [(4000, 200), (4001, 413), (50_000, 413)])
def test_a_body_without_length_is_counted_while_reading(
    tight: FlaskClient, size: int, status: int
) -> None:
    raw = (json.dumps({"title": "x", "text": "y" * size})[: size - 2] + '"}').encode()
    assert len(raw) == size
    # no Content-Length: the body is read as a stream (gunicorn marks it terminated)
    environ = {"wsgi.input": BytesIO(raw), "wsgi.input_terminated": True}
    response = tight.post(
        "/v1/classify",
        content_type="application/json",
        environ_overrides=environ,
        headers={"Transfer-Encoding": "chunked"},
    )
    assert response.status_code == status
    if status == 413:
        error_of(response, 413, "body_too_large")


def test_the_default_body_limit_is_one_mebibyte(client: FlaskClient) -> None:
    big = {"title": "x", "text": "y" * (1024 * 1024)}
    error_of(post(client, big), 413, "body_too_large")


def test_unknown_path_is_json_404(client: FlaskClient) -> None:
    error_of(client.get("/v1/nothing-here"), 404, "not_found")
    error_of(client.get("/nothing-here"), 404, "not_found")  # "/" is the workspace


def test_wrong_method_is_json_405_with_allow(client: FlaskClient) -> None:
    response = client.get("/v1/classify")
    error_of(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    error_of(client.delete("/healthz"), 405, "method_not_allowed")


def test_an_unexpected_failure_is_a_json_500_without_traceback(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    current = app.extensions["wiretag"].models.current

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(current, "classify", broken)
    response = post(app.test_client(), ONE_ITEM, headers={"X-Request-ID": "trace-me-42"})
    error = error_of(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "secret internal detail" not in text and "Traceback" not in text
    assert response.get_json()["request_id"] == "trace-me-42"
    assert "quote the request id" in error["message"]
    logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert logged and logged[-1].json_fields["request_id"] == "trace-me-42"  # type: ignore[attr-defined]
    assert logged[-1].exc_info is not None


# -- request ids -----------------------------------------------------------------------


def test_a_request_id_is_echoed(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123.x"})
    assert response.headers["X-Request-ID"] == "abc-123.x"


@pytest.mark.parametrize("given", [None, "", "has space", "x" * 200, "evil\u00e9"])
def test_a_missing_or_odd_request_id_is_replaced(client: FlaskClient, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    first = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    second = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    assert len(first) == 32 and first != second and first != given


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"[" * 100_000, 422),  # not an object: refused at its first byte
        (b'{"title": "x", "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),
        (b"1" * 5000, 422),  # a number, not an object
        (b'{"title": "\\ud800 lone surrogate", "text": "bomb \\udfff"}', 400),  # not Unicode
        (
            b'{"title": "x", "text": "'
            + "\u0627\u0644\u062f\u0648\u0644\u0629 ".encode() * 50
            + b'"}',
            200,
        ),
        (b'{"items": [null]}', 422),
        (b'{"items": [[]]}', 422),
        (b'{"items": [{"title": {"nested": [1, 2, {"deep": null}]}}]}', 422),
        (b'{"title": "x", "text": "y", "id": null, "url": null, "summary": null}', 200),
        (b"\xef\xbb\xbf" + json.dumps(ONE_ITEM).encode(), 400),  # a UTF-8 byte order mark
        (b'{"title": "x"}{"title": "y"}', 400),  # two documents
    ],
)
def test_odd_bodies_get_an_answer_never_a_500(client: FlaskClient, raw: bytes, status: int) -> None:
    response = client.post("/v1/classify", data=raw, content_type="application/json")
    assert response.status_code == status, response.get_data(as_text=True)
    json.loads(response.get_data())  # always JSON, whatever came in
