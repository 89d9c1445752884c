"""The ``/v1/`` endpoints: classify, the model, feeds and stored items."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any, TypeVar

import msgspec
from flask import Blueprint, Request, Response, current_app, request

from common.clock import utcnow
from common.labels import LABELS
from common.opml import OPML_TYPE, render_opml
from common.urls import UnsafeURL, check_feed_url
from model import Model, Result
from service import export, schema
from service.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    Unprocessable,
    UnsupportedMediaType,
)
from service.schema import MAX_ID
from service.state import ReloadOutcome, State
from service.validation import (
    ItemsQuery,
    parse_classify,
    parse_corrections_query,
    parse_explain,
    parse_feed_patch,
    parse_items_query,
    parse_new_feed,
    parse_query,
    parse_stories_query,
    parse_surges_query,
)
from store import (
    Correction,
    Feed,
    FeedExists,
    Store,
    StoredItem,
    StoreError,
    effective_labels,
    latest_verdicts_of,
)

bp = Blueprint("api", __name__)
READ_CHUNK = 64 * 1024
T = TypeVar("T")
_encode = msgspec.json.Encoder().encode


def state() -> State:
    """The running app's :class:`State`."""
    found: State = current_app.extensions["wiretag"]
    return found


def is_json_type(mimetype: str) -> bool:
    """True for ``application/json`` and ``application/*+json``."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _read_stream(req: Request, max_bytes: int) -> bytes:
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


def read_body(req: Request, max_bytes: int) -> bytes:
    """The raw body of a UTF-8 JSON request, or the matching 413/415 error."""
    if not is_json_type(req.mimetype):
        shown = req.content_type or "no content type"
        raise UnsupportedMediaType(f"send the body as application/json, not {shown}")
    charset = req.mimetype_params.get("charset", "utf-8").lower().replace("-", "")
    if charset != "utf8":
        raise UnsupportedMediaType("JSON bodies must be UTF-8")
    length = req.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes", code="body_too_large")
    if length is not None:
        # one read of a known, capped size, straight from the server's input (werkzeug's
        # wrapping stream adds nothing here: the server's reader stops at the length)
        return bytes(req.environ["wsgi.input"].read(length))
    return _read_stream(req, max_bytes)


def answer(body: msgspec.Struct, status: int = 200) -> Response:
    """A JSON answer encoded straight from its schema type."""
    return Response(_encode(body), status, mimetype="application/json")


def model_ref(m: Model) -> schema.ModelRef:
    """Which model answers."""
    return schema.ModelRef(version=m.version, sha256=m.sha256)


PLACES = 4  # scores as answered; evidence weights come from the model rounded already


def _results(results: list[Result], truncated: list[bool], explain: bool) -> list[schema.Result]:
    """The answer's results, straight from the model's: scores rounded by the model when
    asked for ``PLACES`` (a batch's in one numpy call), evidence as the model gives it
    ([term, weight] pairs, weights rounded once in the model), nothing rebuilt per term."""
    if explain:
        return [
            schema.Result(
                id=r.id, labels=r.labels, scores=r.scores, evidence=r.evidence, truncated=cut
            )
            for r, cut in zip(results, truncated, strict=True)
        ]
    return [
        schema.Result(id=r.id, labels=r.labels, scores=r.scores, truncated=cut)
        for r, cut in zip(results, truncated, strict=True)
    ]


def classify_json(s: State, raw: bytes, explain: bool) -> bytes:
    """The classify answer for a body, encoded: checked (400/413/422 as
    :class:`~service.errors.ApiError`), classified by one model (even if a reload lands),
    counted in the metrics, one encoder call."""
    checked = parse_classify(
        raw, max_items=s.settings.max_items, max_text_chars=s.settings.max_text_chars
    )
    current = s.models.current
    results = current.classify(checked.items, explain=explain, places=PLACES)
    found = _results(results, checked.truncated, explain)
    body = _encode(schema.ClassifyAnswer(model=model_ref(current), results=found))
    s.metrics.observe_results(results, sum(checked.truncated))
    return body


@bp.post("/v1/classify")
def classify() -> Response:
    """Labels, scores and (unless ``?explain=false``) evidence for one item or a batch.

    Plain requests are answered by :mod:`service.fastpath` before Flask sees them; this
    view answers the rest (and every error), with the same :func:`classify_json`.
    """
    s, req = state(), request._get_current_object()  # type: ignore[attr-defined]
    wanted = parse_explain(req.args)
    raw = read_body(req, s.settings.max_body_bytes)
    return Response(classify_json(s, raw, wanted), 200, mimetype="application/json")


@bp.get("/v1/model")
def model_card() -> Response:
    """The model in service: version, sha256, labels, thresholds and its whole card."""
    m = state().models.current
    return answer(
        schema.ModelCard(
            version=m.version,
            sha256=m.sha256,
            labels=list(m.labels),
            thresholds=m.thresholds,
            card=m.card,
        )
    )


def outcome(done: ReloadOutcome) -> schema.ReloadOutcome:
    """A reload outcome as answered (the error in full: this path needs a key)."""
    return schema.ReloadOutcome(
        ok=done.ok, at=done.at.isoformat(), version=done.version, error=done.error
    )


@bp.post("/v1/model/reload")
def reload_model() -> Response:
    """Load the model directory again; refuse (409) a model that fails its card check."""
    s = state()
    previous = s.models.current
    done = s.reload_model()
    if s.notify_reload is not None:
        # under gunicorn: the master reloads too and replaces every worker gracefully
        s.notify_reload()
    if not done.ok:
        raise Conflict(done.error or "model refused", code="model_refused")
    return answer(
        schema.ReloadAnswer(
            model=model_ref(s.models.current), previous=model_ref(previous), reload=outcome(done)
        )
    )


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


def shaped(kind: type[T], record: Any) -> T:
    """A store record as its documented answer type (a record that does not fit is a bug
    that tests catch, never a silent difference from the document)."""
    return msgspec.convert(record.to_dict(), kind)


@bp.get("/v1/feeds")
def list_feeds() -> Response:
    """Every feed with its health: last status, error streak, next check, 24 h yield."""
    parse_query(request.args, schema.NoQuery)
    health = _store_call(lambda st: st.feeds_health())
    return answer(schema.FeedList(feeds=[shaped(schema.FeedHealth, h) for h in health]))


@bp.post("/v1/feeds")
def add_feed() -> Response:
    """Subscribe to a feed URL, checked for safety first (201, 409 if present)."""
    s = state()
    parse_query(request.args, schema.NoQuery)
    new = parse_new_feed(read_body(request, s.settings.max_body_bytes))
    try:
        url = check_feed_url(new.url, allow_private=s.settings.allow_private_networks)
    except UnsafeURL as exc:
        raise Unprocessable(str(exc), code="unsafe_url", field="url") from None
    try:
        feed = _store_call(lambda st: st.add_feed(url, new.interval_minutes, new.title))
    except FeedExists:
        raise Conflict(f"the feed {url} is already subscribed", code="feed_exists") from None
    response = answer(schema.FeedAnswer(feed=shaped(schema.Feed, feed)), 201)
    response.headers["Location"] = f"/v1/feeds/{feed.id}"
    return response


def _feed_or_404(feed_id: int, call: Callable[[Store], Feed | None]) -> Feed:
    """The feed ``call`` returns, or 404 ``feed_not_found`` (ids past MAX_ID never exist)."""
    feed = _store_call(call) if feed_id <= MAX_ID else None
    if feed is None:
        raise NotFound(f"no feed with id {feed_id}", code="feed_not_found")
    return feed


@bp.get("/v1/feeds/<int:feed_id>")
def get_feed(feed_id: int) -> Response:
    """One feed's record."""
    parse_query(request.args, schema.NoQuery)
    feed = _feed_or_404(feed_id, lambda st: st.get_feed(feed_id))
    return answer(schema.FeedAnswer(feed=shaped(schema.Feed, feed)))


@bp.delete("/v1/feeds/<int:feed_id>")
def remove_feed(feed_id: int) -> Response:
    """Unsubscribe from a feed (its stored items go with it): 204, or 404."""
    parse_query(request.args, schema.NoQuery)
    removed = 1 <= feed_id <= MAX_ID and _store_call(lambda st: st.remove_feed(feed_id))
    if not removed:
        raise NotFound(f"no feed with id {feed_id}", code="feed_not_found")
    return Response(status=204)


@bp.patch("/v1/feeds/<int:feed_id>")
def change_feed(feed_id: int) -> Response:
    """Change a feed's title, interval or pause (a JSON merge patch): 200, 404 or 422."""
    s = state()
    parse_query(request.args, schema.NoQuery)
    changes = parse_feed_patch(read_body(request, s.settings.max_body_bytes))
    feed = _feed_or_404(feed_id, lambda st: st.change_feed(feed_id, changes))
    return answer(schema.FeedAnswer(feed=shaped(schema.Feed, feed)))


@bp.post("/v1/feeds/<int:feed_id>/refresh")
def refresh_feed(feed_id: int) -> Response:
    """Make a feed due now: the poller checks it at its next tick (202); 409 if paused."""
    parse_query(request.args, schema.NoQuery)
    feed = _feed_or_404(feed_id, lambda st: st.refresh_feed(feed_id))
    if feed.paused_at is not None:
        raise Conflict(
            f"feed {feed_id} is paused; PATCH it with paused: false first", code="feed_paused"
        )
    return answer(schema.FeedAnswer(feed=shaped(schema.Feed, feed)), 202)


@bp.get("/v1/feeds.opml")
def feeds_opml() -> Response:
    """The feed list as OPML 2.0 (what ``python -m poller feeds import`` reads)."""
    parse_query(request.args, schema.NoQuery)
    feeds = _store_call(lambda st: st.list_feeds())
    body = render_opml(((f.url, f.title) for f in feeds), utcnow())
    response = Response(body, mimetype=OPML_TYPE)
    response.headers["Content-Disposition"] = 'attachment; filename="wiretag-feeds.opml"'
    return response


@bp.get("/v1/items/<int:item_id>")
def get_item(item_id: int) -> Response:
    """One stored item, its analysts' verdicts and the labels they leave it with."""
    parse_query(request.args, schema.NoQuery)

    def read(st: Store) -> tuple[StoredItem | None, list[Correction]]:
        item = st.get_item(item_id)
        return item, (st.corrections_for([item_id]).get(item_id, []) if item else [])

    item, corrections = _store_call(read) if item_id <= MAX_ID else (None, [])
    if item is None:
        raise NotFound(f"no item with id {item_id}", code="item_not_found")
    return answer(
        schema.ItemAnswer(
            item=shaped(schema.StoredItem, item),
            effective_labels=effective_labels(item.labels, latest_verdicts_of(corrections), LABELS),
            corrections=[shaped(schema.Correction, c) for c in corrections],
        )
    )


def _export(q: ItemsQuery, fmt: str) -> Response:
    """Every item that passes the filters, streamed as CSV or JSON lines."""
    limit = q.limit if q.limit_given else None

    def first(st: Store) -> tuple[Iterator[list[StoredItem]], list[StoredItem]]:
        chunks = st.iter_items(q.filters, after=q.cursor, limit=limit)
        return chunks, next(chunks, [])  # a store that is away is a 503, not a cut body

    chunks, head = _store_call(first)
    body = export.csv_body if fmt == "csv" else export.jsonl_body
    next_part = request.environ.get(export.STREAM_DEADLINE, export.no_deadline)
    response = Response(body(chain([head], chunks), next_part), mimetype=export.MEDIA_TYPES[fmt])
    name = export.filename(fmt, utcnow())
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/v1/items")
def list_items() -> Response:
    """Stored items, newest first, filtered and paged with an opaque cursor (with
    ``collapse=story``, one row per story); or all of them streamed as CSV or JSON lines
    (``format=`` or the Accept header)."""
    q = parse_items_query(request.args)
    fmt = export.chosen_format(q.format, request.accept_mimetypes)
    if fmt != "json":
        return _export(q, fmt)
    page = _store_call(lambda st: st.page_items(q.filters, limit=q.limit, after=q.cursor))
    response = answer(
        schema.ItemsPage(
            items=[shaped(schema.StoredItem, i) for i in page.items], next_cursor=page.older
        )
    )
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/v1/corrections")
def list_corrections() -> Response:
    """Analysts' corrections in the order they were made, from ``since``, paged by id."""
    q = parse_corrections_query(request.args)
    found = _store_call(
        lambda st: st.list_corrections(since=q.since, after_id=q.after_id, limit=q.limit)
    )
    more = len(found) == q.limit
    return answer(
        schema.CorrectionsPage(
            corrections=[shaped(schema.Correction, c) for c in found],
            next_cursor=str(found[-1].id) if more else None,
        )
    )


@bp.get("/v1/stories")
def list_stories() -> Response:
    """Stories, newest activity first, each with its newest items."""
    q = parse_stories_query(request.args)
    stories, cursor = _store_call(
        lambda st: st.list_stories(
            label=q.label, since=q.since, feed_id=q.feed_id, limit=q.limit, cursor=q.cursor
        )
    )
    return answer(
        schema.StoriesPage(stories=[shaped(schema.Story, s) for s in stories], next_cursor=cursor)
    )


@bp.get("/v1/surges")
def list_surges() -> Response:
    """Surges found by the poller, newest hour first."""
    q = parse_surges_query(request.args)
    found = _store_call(lambda st: st.list_surges(label=q.label, since=q.since, limit=q.limit))
    return answer(schema.SurgeList(surges=[shaped(schema.Surge, s) for s in found]))
