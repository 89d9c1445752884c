"""The ``/v1/`` endpoints: classify, the model, feeds and stored items."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Request, Response, current_app, request

from common.urls import UnsafeURL, check_feed_url
from service.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    Unprocessable,
    UnsupportedMediaType,
)
from service.state import State
from service.validation import (
    MAX_ID,
    parse_classify,
    parse_corrections_query,
    parse_flag,
    parse_items_query,
    parse_new_feed,
    reject_unknown,
)
from store import FeedExists, Store, StoreError

bp = Blueprint("api", __name__)
READ_CHUNK = 64 * 1024
T = TypeVar("T")


def state() -> State:
    """The running app's :class:`State`."""
    found: State = current_app.extensions["wiretag"]
    return found


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def is_json_type(mimetype: str) -> bool:
    """True for ``application/json`` and ``application/*+json``."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _read_body(req: Request, max_bytes: int) -> bytes:
    """The body, refused (413) as soon as it passes ``max_bytes``, length header or not."""
    chunks, total = [], 0
    while chunk := req.stream.read(READ_CHUNK):
        # a chunked body has no Content-Length: count while reading, never buffer past the cap
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(
                f"the body is larger than {max_bytes} bytes", code="body_too_large"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def read_json(req: Request, max_bytes: int) -> Any:
    """The request body parsed as UTF-8 JSON, or the matching 400/413/415 error."""
    if not is_json_type(req.mimetype):
        shown = req.content_type or "no content type"
        raise UnsupportedMediaType(f"send the body as application/json, not {shown}")
    charset = req.mimetype_params.get("charset", "utf-8").lower().replace("-", "")
    if charset != "utf8":
        raise UnsupportedMediaType("JSON bodies must be UTF-8")
    if req.content_length is not None and req.content_length > max_bytes:
        raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes", code="body_too_large")
    raw = _read_body(req, max_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"the body is not UTF-8 (byte {exc.start})", code="invalid_encoding"
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except (ValueError, RecursionError) as exc:  # NaN, huge integers, absurd nesting
        raise BadRequest(f"the body is not usable JSON: {exc}") from None


def _model_ref(m: Any) -> dict[str, str]:
    return {"version": m.version, "sha256": m.sha256}


@bp.post("/v1/classify")
def classify() -> Response:
    """Labels, scores and (unless ``?explain=false``) evidence for one item or a batch."""
    s = state()
    reject_unknown(request.args, ("explain",))
    explain = parse_flag(request.args, "explain", default=True)
    payload = read_json(request, s.settings.max_body_bytes)
    checked = parse_classify(
        payload, max_items=s.settings.max_items, max_text_chars=s.settings.max_text_chars
    )
    current = s.models.current  # one model for the whole request, even if a reload lands
    results = current.classify(checked.items, explain=explain)
    s.metrics.observe_results(results, sum(checked.truncated))
    answers = []
    for result, cut in zip(results, checked.truncated, strict=True):
        answer = result.to_dict(explain)
        answer["truncated"] = cut
        answers.append(answer)
    return json_response({"model": _model_ref(current), "results": answers})


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    """A compact JSON answer (the hot path skips Flask's provider and its default hooks)."""
    return Response(json.dumps(body, separators=(",", ":")), status, mimetype="application/json")


@bp.get("/v1/model")
def model_card() -> dict[str, Any]:
    """The model in service: version, sha256, labels, thresholds and its whole card."""
    m = state().models.current
    return {
        **_model_ref(m),
        "labels": list(m.labels),
        "thresholds": m.thresholds,
        "card": m.card,
    }


@bp.post("/v1/model/reload")
def reload_model() -> tuple[dict[str, Any], int]:
    """Load the model directory again; refuse (409) a model that fails its card check."""
    s = state()
    previous = s.models.current
    outcome = s.reload_model()
    if s.notify_reload is not None:
        # under gunicorn: the master reloads too and replaces every worker gracefully
        s.notify_reload()
    if not outcome.ok:
        raise Conflict(outcome.error or "model refused", code="model_refused")
    return {
        "model": _model_ref(s.models.current),
        "previous": _model_ref(previous),
        "reload": outcome.to_dict(),
    }, 200


def _store_call(call: Callable[[Store], T]) -> T:
    """Run ``call`` on the store; a store failure becomes 503 (details in the log)."""
    s = state()
    store = s.store.get()
    try:
        return call(store)
    except FeedExists:
        raise
    except StoreError as exc:
        raise Unavailable("the store did not answer", code="store_unavailable") from exc


@bp.get("/v1/feeds")
def list_feeds() -> dict[str, Any]:
    """Every feed with its health: last status, error streak, next check, 24 h yield."""
    reject_unknown(request.args, ())
    return {"feeds": [h.to_dict() for h in _store_call(lambda st: st.feeds_health())]}


@bp.post("/v1/feeds")
def add_feed() -> Response:
    """Subscribe to a feed URL, checked for safety first (201, 409 if present)."""
    s = state()
    new = parse_new_feed(read_json(request, s.settings.max_body_bytes))
    try:
        url = check_feed_url(new.url, allow_private=s.settings.allow_private_networks)
    except UnsafeURL as exc:
        raise Unprocessable(str(exc), code="unsafe_url", field="url") from None
    try:
        feed = _store_call(lambda st: st.add_feed(url, new.interval_minutes, new.title))
    except FeedExists:
        raise Conflict(f"the feed {url} is already subscribed", code="feed_exists") from None
    response = json_response({"feed": feed.to_dict()}, 201)
    response.headers["Location"] = f"/v1/feeds/{feed.id}"
    return response


@bp.get("/v1/feeds/<int:feed_id>")
def get_feed(feed_id: int) -> dict[str, Any]:
    """One feed's record."""
    feed = _store_call(lambda st: st.get_feed(feed_id)) if feed_id <= MAX_ID else None
    if feed is None:
        raise NotFound(f"no feed with id {feed_id}", code="feed_not_found")
    return {"feed": feed.to_dict()}


@bp.delete("/v1/feeds/<int:feed_id>")
def remove_feed(feed_id: int) -> Response:
    """Unsubscribe from a feed (its stored items go with it): 204, or 404."""
    removed = feed_id <= MAX_ID and _store_call(lambda st: st.remove_feed(feed_id))
    if not removed:
        raise NotFound(f"no feed with id {feed_id}", code="feed_not_found")
    return Response(status=204)


@bp.get("/v1/items")
def list_items() -> dict[str, Any]:
    """Stored items, newest first, filtered and paged with an opaque cursor."""
    q = parse_items_query(request.args)
    try:
        items, cursor = _store_call(
            lambda st: st.list_items(
                label=q.label,
                min_score=q.min_score,
                since=q.since,
                feed_id=q.feed_id,
                limit=q.limit,
                cursor=q.cursor,
            )
        )
    except ValueError:  # the store could not read the cursor
        raise Unprocessable(
            "'cursor' is not a cursor this service gave out", field="cursor"
        ) from None
    return {"items": [item.to_dict() for item in items], "next_cursor": cursor}


@bp.get("/v1/corrections")
def list_corrections() -> dict[str, Any]:
    """Analysts' corrections in the order they were made, from ``since``, paged by id."""
    q = parse_corrections_query(request.args)
    found = _store_call(
        lambda st: st.list_corrections(since=q.since, after_id=q.after_id, limit=q.limit)
    )
    more = len(found) == q.limit
    return {
        "corrections": [c.to_dict() for c in found],
        "next_cursor": str(found[-1].id) if more else None,
    }
