"""The workspace's pages: the queue, an item, the review queue, the overview, sign-in.

Views check the URL or form, ask the store and the model, and render a template; every
string that came from a feed is escaped by Jinja2's autoescaping.  Forms that change
state are POSTs carrying the session's CSRF token, answered with a redirect (so a reload
never posts twice).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

import model
from common.clock import utcnow
from common.labels import LABELS
from service.state import State
from service.web import auth
from service.web.charts import Chart, bar_chart
from service.web.forms import parse_queue, review_page
from service.web.highlight import marks
from store import Feed, ItemNotFound, Store, StoredItem, effective_labels, latest_verdicts_of

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/static"
)
PAGE = 50
REVIEW_PAGE = 25
REVIEW_PAGES = 20
COUNTS_TTL = 60.0  # seconds the 30-day counts are reused (they change slowly)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
OPEN_ENDPOINTS = {"web.static", "web.signin", "web.sign_in"}


class PageError(Exception):
    """A page cannot be shown: rendered as an HTML page with this status."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def _state() -> State:
    found: State = current_app.extensions["wiretag"]
    return found


def _store() -> Store:
    try:
        return _state().store.get()
    except Exception as exc:  # Unavailable: the store cannot be opened now
        raise PageError(
            503, "Store unavailable", "The store does not answer; try again soon."
        ) from exc


@bp.before_request
def gate() -> Response | None:
    """Sign-in first (when keys are set), and a CSRF token on every POST."""
    if request.endpoint in OPEN_ENDPOINTS and request.method == "GET":
        return None
    if request.endpoint != "web.sign_in" and not auth.signed_in(_state().settings.api_keys):
        return redirect(url_for("web.signin", next=_here()), 303)
    if request.method == "POST" and not auth.csrf_ok(request.form):
        raise PageError(
            400,
            "Form expired",
            "This form is out of date (or came from another site). "
            "Go back, reload the page and try again.",
        )
    return None


def _here() -> str:
    """This request's path and query, for coming back after sign-in."""
    return request.full_path.rstrip("?")


@bp.after_request
def protect(response: Response) -> Response:
    """Security headers on every workspace answer; pages are never cached."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # never leak a search to a news site
    response.headers["X-Frame-Options"] = "DENY"
    if request.endpoint != "web.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_errorhandler(PageError)
def page_error(exc: PageError) -> tuple[str, int]:
    """A PageError as an HTML page."""
    return render_template("error.html", error=exc), exc.status


@bp.app_context_processor
def common_context() -> dict[str, Any]:
    """What every template may use."""
    return {
        "labels": LABELS,
        "analyst": auth.analyst,
        "csrf_token": auth.csrf_token,
        "keys_required": bool(_state().settings.api_keys),
        "safe_link": safe_link,
        "feed_name": feed_name,
    }


@bp.app_template_filter("utc")
def utc(moment: datetime | None) -> str:
    """A time as the workspace shows it: minutes, UTC."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def safe_link(url: str | None) -> str | None:
    """``url`` if it is an http(s) link, else None (a feed's javascript: link is text)."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


# -- sign-in ---------------------------------------------------------------------------


@bp.get("/signin")
def signin() -> str:
    """The sign-in form: the API key (when required) and the analyst's name."""
    return render_template("signin.html", next=auth.local_path(request.args.get("next")))


@bp.post("/signin")
def sign_in() -> Response | tuple[str, int]:
    """Check the key and name, start a session, go where the analyst was going."""
    target = auth.local_path(request.form.get("next"))
    try:
        auth.sign_in(
            request.form.get("name", ""), request.form.get("key"), _state().settings.api_keys
        )
    except ValueError as exc:
        return render_template("signin.html", next=target, error=str(exc)), 401
    return redirect(target, 303)


@bp.post("/signout")
def sign_out() -> Response:
    """End the session."""
    session.clear()
    return redirect(url_for("web.signin"), 303)


# -- the queue -------------------------------------------------------------------------


@bp.get("/")
def queue() -> tuple[str, int]:
    """Stored items, newest first, filtered and searched, fifty a page."""
    view = parse_queue(request.args)
    store = _store()
    feeds = {f.id: f for f in store.list_feeds()}
    if view.errors:
        return render_template("queue.html", view=view, rows=[], page=None, feeds=feeds), 400
    page = store.page_items(view.filters, limit=PAGE, after=view.after, before=view.before)
    latest = store.latest_verdicts(item.id for item in page.items)
    thresholds = _state().models.current.thresholds
    rows = [_row(item, latest.get(item.id, {}), thresholds) for item in page.items]
    return render_template("queue.html", view=view, rows=rows, page=page, feeds=feeds), 200


def _row(item: StoredItem, latest: dict[str, str], thresholds: dict[str, float]) -> dict[str, Any]:
    """What the queue shows of one item: its label chips, verdicts applied."""
    return {"item": item, "chips": chips(item, latest), "corrected": bool(latest)}


def chips(item: StoredItem, latest: dict[str, str]) -> list[dict[str, Any]]:
    """One chip per label the model gave or an analyst judged: its score and state."""
    out = []
    for label in LABELS:
        tagged, verdict = label in item.labels, latest.get(label)
        if not tagged and verdict in (None, "reject"):
            continue
        state = {None: "model", "confirm": "confirmed", "reject": "rejected", "add": "added"}
        out.append({"label": label, "score": item.scores.get(label), "state": state[verdict]})
    return out


# -- one item --------------------------------------------------------------------------


@bp.get("/items/<int:item_id>")
def item_view(item_id: int) -> str:
    """One item: its text with each label's evidence highlighted, scores against
    thresholds, both models, the feed, and the forms to correct its labels."""
    store = _store()
    item = store.get_item(item_id) if item_id < 2**31 else None
    if item is None:
        raise PageError(404, "No such item", f"No stored item has the number {item_id}.")
    history = store.corrections_for([item_id]).get(item_id, [])
    latest = latest_verdicts_of(history)
    current = _state().models.current
    result = current.classify([model.Item(str(item_id), item.title, item.summary)])[0]
    shown = _shown_labels(item, latest, result)
    evidence = {label: [term for term, _ in result.evidence[label]] for label in shown}
    return render_template(
        "item.html",
        item=item,
        feed=store.get_feed(item.feed_id),
        model=current,
        result=result,
        shown=shown,
        title_marks=marks(current.spans(item.title), item.title, evidence),
        summary_marks=marks(current.spans(item.summary), item.summary, evidence),
        effective=effective_labels(item.labels, latest, LABELS),
        latest=latest,
        history=history,
    )


def _shown_labels(item: StoredItem, latest: dict[str, str], result: model.Result) -> list[str]:
    """The labels whose evidence is highlighted: those asked for in ``?show=``, else the
    item's labels (verdicts applied), else the model's best guess."""
    asked = [label for label in LABELS if label in request.args.getlist("show")]
    if asked or "show" in request.args:
        return asked
    carried = effective_labels(item.labels, latest, LABELS)
    return carried or [max(LABELS, key=lambda label: result.scores[label])]


@bp.post("/items/<int:item_id>/corrections")
def correct(item_id: int) -> Response:
    """Record one verdict (``label:verdict``) by the signed-in analyst, then go back."""
    back = auth.local_path(request.form.get("next"), url_for("web.item_view", item_id=item_id))
    name = auth.analyst()
    if name is None:
        flash("Give your name first: it is recorded with each correction.")
        return redirect(url_for("web.signin", next=back), 303)
    label, _, verdict = request.form.get("verdict", "").partition(":")
    try:
        _store().add_corrections(item_id, [(label, verdict)], name)
    except ItemNotFound:
        raise PageError(404, "No such item", f"No stored item has the number {item_id}.") from None
    except ValueError as exc:
        raise PageError(400, "Not recorded", str(exc)) from None
    flash(f"Recorded: {label.replace('_', ' ')} {_past(verdict)} by {name}.")
    return redirect(back, 303)


def _past(verdict: str) -> str:
    return {"confirm": "confirmed", "reject": "rejected", "add": "added"}.get(verdict, verdict)


# -- the review queue ------------------------------------------------------------------


@bp.get("/review")
def review() -> str:
    """Uncorrected items whose scores lie nearest their thresholds, least sure first."""
    page = review_page(request.args, REVIEW_PAGES)
    thresholds = _state().models.current.thresholds
    entries = _store().uncertain_items(
        thresholds, limit=REVIEW_PAGE + 1, offset=(page - 1) * REVIEW_PAGE
    )
    more = len(entries) > REVIEW_PAGE and page < REVIEW_PAGES
    return render_template(
        "review.html", entries=entries[:REVIEW_PAGE], page=page, more=more, here=_here()
    )


# -- the overview ----------------------------------------------------------------------

_counts_cache: dict[str, tuple[float, datetime, dict[str, dict[datetime, int]]]] = {}


def _daily_counts(store: Store, start: datetime) -> dict[str, dict[datetime, int]]:
    """Per-day counts, reused for a minute: a month of items is a large read."""
    cached = _counts_cache.get(store.dialect + str(id(store)))
    if cached and time.monotonic() - cached[0] < COUNTS_TTL and cached[1] == start:
        return cached[2]
    counts = store.label_counts(start, "day")
    _counts_cache[store.dialect + str(id(store))] = (time.monotonic(), start, counts)
    return counts


@bp.get("/overview")
def overview() -> str:
    """Items per label per hour (48 h) and per day (30 days), and the feeds' health."""
    store = _store()
    now = utcnow()
    hour0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=47)
    day0 = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=29)
    hourly = store.label_counts(hour0, "hour")
    daily = _daily_counts(store, day0)
    charts: dict[str, tuple[Chart, Chart]] = {
        label: (
            bar_chart(
                hourly.get(label, {}),
                hour0,
                timedelta(hours=1),
                48,
                6,
                "%H:00",
                "items in the last 48 hours",
            ),
            bar_chart(
                daily.get(label, {}),
                day0,
                timedelta(days=1),
                30,
                5,
                "%d %b",
                "items in the last 30 days",
            ),
        )
        for label in LABELS
    }
    health = sorted(store.feeds_health(), key=lambda f: (f.error_count == 0, f.id))
    failing = [f for f in health if f.error_count > 0]
    return render_template("overview.html", charts=charts, health=health, failing=failing, now=now)


def feed_name(feed: Feed | None) -> str:
    """A feed's title, else its URL's host."""
    if feed is None:
        return "removed feed"
    return feed.title or urlsplit(feed.url).hostname or feed.url
