"""What the API takes and gives, as msgspec types: they check every request and shape every
answer, and :mod:`service.openapi` generates ``/openapi.json`` from them, so the document
and the server cannot drift apart.

Request bodies are decoded and checked in one pass (:func:`msgspec.json.decode` into these
types); query strings are converted into the ``*Query`` types.  Constraints live in the
annotations (``Meta(ge=..., le=..., pattern=...)``); a rule no annotation can state carries
its JSON Schema form in a ``schema_extra`` class variable next to the code that checks it
(see :class:`common.items.Item`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from common.booleans import FALSE_WORDS, TRUE_WORDS
from common.items import Item
from common.labels import LABELS

MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger id cannot exist and must not reach SQL
MAX_ITEMS_PAGE = 500
DEFAULT_ITEMS_PAGE = 50
MAX_STORIES_PAGE = 100  # each story comes with up to 20 items
DEFAULT_STORIES_PAGE = 20
MAX_SURGES_PAGE = 500
DEFAULT_SURGES_PAGE = 100
MAX_INTERVAL_MINUTES = 30 * 24 * 60  # a feed checked less than monthly is not a feed
MAX_URL_CHARS = 2048
MAX_TITLE_CHARS = 1000
MAX_CURSOR_CHARS = 200
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"  # base64url without padding, as the store writes it
URL_PATTERN = "^[Hh][Tt][Tt][Pp][Ss]?://"  # the feed-URL check refuses any other scheme


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in word)


# ?explain= takes common.booleans' words in any case, spaces around ignored (parse_bool);
# this pattern says exactly that, and is checked before parse_bool reads the word
WORD_PATTERN = r"^\s*(" + "|".join(map(_any_case, TRUE_WORDS + FALSE_WORDS)) + r")\s*$"

if TYPE_CHECKING:  # for mypy, a plain string; at run time, the enum msgspec checks
    Label = str
else:
    Label = Literal[LABELS]  # the four labels, from common.labels
Id = Annotated[int, Meta(ge=1, le=MAX_ID)]
DateTime = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]


def _described(text: str) -> Meta:
    return Meta(description=text)


# -- requests ----------------------------------------------------------------------------


class Batch(msgspec.Struct):
    """A batch of items; answered in order. More than WIRETAG_MAX_ITEMS items is a 413."""

    items: Annotated[list[Item], Meta(min_length=1)]


class Envelope(msgspec.Struct):
    """How a classify body is told apart: with ``items`` it is a batch, else one item."""

    items: list[Item] | UnsetType = UNSET


class NewFeed(msgspec.Struct):
    """A feed to subscribe to."""

    url: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=MAX_URL_CHARS,
            pattern=URL_PATTERN,
            description="An http(s) URL whose host resolves to public addresses only "
            "(unless WIRETAG_ALLOW_PRIVATE_NETWORKS=true).",
        ),
    ]
    interval_minutes: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=MAX_INTERVAL_MINUTES,
                description="Minutes between checks; null or absent: "
                "WIRETAG_DEFAULT_INTERVAL_MINUTES.",
            ),
        ]
        | None
    ) = None
    title: Annotated[str, Meta(max_length=MAX_TITLE_CHARS)] | None = None


class ClassifyQuery(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/classify`` query arguments."""

    explain: Annotated[
        str,
        Meta(
            pattern=WORD_PATTERN,
            description=f"{', '.join(FALSE_WORDS)} (any case) leave `evidence` out of the "
            f"results; {', '.join(TRUE_WORDS)} keep it.",
        ),
    ] = "true"


class ItemsQuery(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /v1/items`` query arguments; an unknown one is refused (a typo must not widen
    a query)."""

    label: (
        Annotated[
            Label,
            _described(
                "Only items carrying this label (with min_score: whose score for it is at "
                "least min_score)."
            ),
        ]
        | UnsetType
    ) = UNSET
    min_score: (
        Annotated[
            float,
            Meta(
                ge=0,
                le=1,
                description="With label: that label's score at least this; alone: any "
                "label's score at least this.",
            ),
        ]
        | UnsetType
    ) = UNSET
    since: (
        Annotated[
            DateTime,
            _described(
                "Items published (else fetched) at or after this RFC 3339 time; without an "
                "offset it is UTC. Write '+' as %2B."
            ),
        ]
        | UnsetType
    ) = UNSET
    feed: Annotated[Id, _described("Only this feed's items.")] | UnsetType = UNSET
    collapse: (
        Annotated[
            Literal["story"],
            _described(
                "story: one row per story, its newest item (with `story_items`, the story's "
                "item count), listed when that item passes the other filters."
            ),
        ]
        | UnsetType
    ) = UNSET
    limit: Annotated[int, Meta(ge=1, le=MAX_ITEMS_PAGE)] = DEFAULT_ITEMS_PAGE
    cursor: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=MAX_CURSOR_CHARS,
                pattern=CURSOR_PATTERN,
                description="`next_cursor` of the previous page (opaque; only cursors this "
                "service gave out are accepted).",
            ),
        ]
        | UnsetType
    ) = UNSET


Cursor = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_CURSOR_CHARS,
        pattern=CURSOR_PATTERN,
        description="`next_cursor` of the previous page (opaque; only cursors this "
        "service gave out are accepted).",
    ),
]


class StoriesQuery(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /v1/stories`` query arguments."""

    label: (
        Annotated[Label, _described("Only stories with an item the model tagged with it.")]
        | UnsetType
    ) = UNSET
    since: (
        Annotated[
            DateTime,
            _described(
                "Stories last seen at or after this RFC 3339 time; without an offset it is "
                "UTC. Write '+' as %2B."
            ),
        ]
        | UnsetType
    ) = UNSET
    feed: Annotated[Id, _described("Only stories with an item of this feed.")] | UnsetType = UNSET
    limit: Annotated[int, Meta(ge=1, le=MAX_STORIES_PAGE)] = DEFAULT_STORIES_PAGE
    cursor: Cursor | UnsetType = UNSET


class SurgesQuery(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /v1/surges`` query arguments."""

    label: Annotated[Label, _described("Only this label's surges.")] | UnsetType = UNSET
    since: (
        Annotated[
            DateTime,
            _described(
                "Surges of hours starting at or after this RFC 3339 time; without an offset "
                "it is UTC. Write '+' as %2B."
            ),
        ]
        | UnsetType
    ) = UNSET
    limit: Annotated[int, Meta(ge=1, le=MAX_SURGES_PAGE)] = DEFAULT_SURGES_PAGE


class CorrectionsQuery(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /v1/corrections`` query arguments."""

    since: (
        Annotated[
            DateTime,
            _described(
                "Only corrections made at or after this RFC 3339 time; without an offset it is "
                "UTC. Write '+' as %2B."
            ),
        ]
        | UnsetType
    ) = UNSET
    limit: Annotated[int, Meta(ge=1, le=MAX_ITEMS_PAGE)] = DEFAULT_ITEMS_PAGE
    cursor: Annotated[Id, _described("`next_cursor` of the previous page.")] | UnsetType = UNSET


class NoQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Endpoints that take no query arguments refuse any."""


# -- answers -----------------------------------------------------------------------------


class Answer(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every answer type: exactly the documented fields, no others."""


class ErrorDetail(Answer, omit_defaults=True):
    """What went wrong."""

    code: Annotated[
        str,
        _described(
            "Stable machine-readable code: invalid_json, invalid_encoding, "
            "unsupported_media_type, invalid_request, too_many_items, body_too_large, "
            "unauthorized, not_found, method_not_allowed, feed_exists, feed_not_found, "
            "unsafe_url, model_refused, store_unavailable, internal_error; from gunicorn "
            "itself: bad_request, uri_too_long, headers_too_large, request_timeout."
        ),
    ]
    message: Annotated[str, _described("What went wrong, for a person.")]
    index: (
        Annotated[
            int, Meta(ge=0, description="For classify: the item at fault (0 for a single item).")
        ]
        | UnsetType
    ) = UNSET
    field: Annotated[str, _described("The field or query argument at fault.")] | UnsetType = UNSET


class Error(Answer):
    """Every error answer; ``request_id`` is also the X-Request-ID header: quote it when
    reporting a 5xx."""

    error: ErrorDetail
    request_id: str | None


Scores = Annotated[
    dict[Label, Annotated[float, Meta(ge=0, le=1)]],
    Meta(
        description="Every label's calibrated score in [0, 1], rounded to 4 places.",
        extra_json_schema={"required": list(LABELS)},
    ),
]
Term = Annotated[tuple[str, float], _described("[term, weight]")]
Evidence = Annotated[
    dict[Label, list[Term]],
    Meta(
        description="Per label, up to 5 terms of the item that pushed that label's score "
        "up most, as [term, weight] pairs (weight: tf-idf value times the label's "
        "coefficient, rounded to 4 places), strongest first.",
        extra_json_schema={"required": list(LABELS)},
    ),
]


class ModelRef(Answer):
    """Which model answered."""

    version: str
    sha256: str


class Result(Answer, kw_only=True):
    """One item's answer."""

    id: Annotated[str | None, _described("The item's id, as sent.")]
    labels: Annotated[
        list[Label], _described("The labels whose score reached the model's threshold.")
    ]
    scores: Scores
    evidence: Evidence | UnsetType = UNSET
    truncated: Annotated[
        bool, _described("True when the title or text was cut to WIRETAG_MAX_TEXT_CHARS.")
    ]


class ClassifyAnswer(Answer):
    """Labels, scores and (unless ``?explain=false``) evidence, one result per item, in
    order."""

    model: ModelRef
    results: list[Result]


class ModelCard(Answer):
    """The model in service and its card."""

    version: str
    sha256: str
    labels: list[Label]
    thresholds: dict[Label, float]
    card: Annotated[
        dict[str, Any],
        _described(
            "The model card as shipped: training data hashes, library versions, "
            "cross-validated metrics, top terms."
        ),
    ]


class ReloadOutcome(Answer):
    """What a reload attempt did: the model it put in service, or why it refused."""

    ok: bool
    at: DateTime
    version: str | None
    error: str | None


class ReloadAnswer(Answer):
    """A reload that put a model in service."""

    model: ModelRef
    previous: ModelRef
    reload: ReloadOutcome


class Health(Answer):
    """The process answers."""

    status: Literal["ok"]


class ModelCheck(Answer):
    """The model in service; a refused reload shows ok=false in ``last_reload`` while the
    old model keeps serving."""

    ok: bool
    version: str
    sha256: str
    last_reload: ReloadOutcome | None


class StoreCheck(Answer, omit_defaults=True):
    """Whether the store answers (the cause of a failure goes to the log, not here)."""

    ok: bool
    error: str | UnsetType = UNSET


class Checks(Answer):
    """One entry per dependency."""

    model: ModelCheck
    store: StoreCheck


class Readiness(Answer):
    """Ready when the model is loaded and the store answers."""

    ready: bool
    checks: Checks


class Feed(Answer):
    """A subscribed feed."""

    id: int
    url: str
    title: str | None
    interval_minutes: int | None
    last_status: Annotated[int | None, _described("HTTP status of the last fetch.")]
    error_count: Annotated[int, _described("Failed fetches in a row.")]
    last_error: str | None
    last_warning: str | None
    next_check_at: DateTime
    last_checked_at: DateTime | None
    created_at: DateTime


class FeedAnswer(Answer):
    """One feed."""

    feed: Feed


class FeedHealth(Answer):
    """A feed's health: last status, error streak, next check, the last 24 hours' yield."""

    id: int
    url: str
    title: str | None
    interval_minutes: int | None
    last_status: Annotated[int | None, _described("HTTP status of the last fetch.")]
    error_count: Annotated[int, _described("Failed fetches in a row.")]
    last_error: str | None
    next_check_at: DateTime
    last_checked_at: DateTime | None
    items_24h: Annotated[int, _described("Items fetched in the last 24 hours.")]
    label_counts: Annotated[
        dict[Label, int], _described("Labels carried by the items of the last 24 hours.")
    ]


class FeedList(Answer):
    """Every feed, oldest first."""

    feeds: list[FeedHealth]


class StoredItem(Answer):
    """A tagged feed entry."""

    id: int
    feed_id: int
    link: str | None
    title: str
    summary: str
    published_at: DateTime | None
    fetched_at: DateTime
    labels: list[Label]
    scores: dict[Label, float]
    model_version: str
    story_id: Annotated[
        int | None,
        _described("The story the item is a copy in (GET /v1/stories); null: none."),
    ]
    story_items: (
        Annotated[int, _described("With collapse=story: how many items its story has.")] | UnsetType
    ) = UNSET


class Story(Answer):
    """Copies of one report across feeds: near-duplicate items (MinHash over title and
    summary) of the last 72 hours."""

    id: int
    first_seen_at: DateTime
    last_seen_at: Annotated[DateTime, _described("When its newest item was fetched.")]
    item_count: int
    feed_count: Annotated[int, _described("How many feeds carried it.")]
    labels: Annotated[list[Label], _described("The union of its items' labels.")]
    items: Annotated[list[StoredItem], _described("Its newest items (up to 20), newest first.")]


class StoriesPage(Answer):
    """One page of stories, newest activity first."""

    stories: list[Story]
    next_cursor: Annotated[
        str | None, _described("Pass as `cursor` for the next page; null on the last page.")
    ]


class Surge(Answer):
    """An hour in which a label's new stories were far more than that hour's usual."""

    id: int
    label: Label
    hour_start: Annotated[DateTime, _described("The clock hour the surge was found in.")]
    count: Annotated[int, _described("New stories with the label in the hour before detection.")]
    expected: Annotated[float, _described("The mean for that hour over the last (up to 7) days.")]
    p_value: Annotated[float, _described("Poisson P(X >= count) under the expected mean.")]
    detected_at: DateTime


class SurgeList(Answer):
    """Surges, newest hour first."""

    surges: list[Surge]


class Correction(Answer):
    """An analyst's verdict on one label of one stored item, given in the workspace."""

    id: Id
    item_id: Annotated[Id, _described("The stored item (GET /v1/items lists them).")]
    label: Label
    verdict: Annotated[
        Literal["confirm", "reject", "add"],
        _described(
            "confirm: the label is right; reject: it is wrong; add: the item should carry it."
        ),
    ]
    analyst: Annotated[str, _described("The name the analyst gave when signing in.")]
    created_at: DateTime


class CorrectionsPage(Answer):
    """Corrections in the order they were made; the latest per item and label counts."""

    corrections: list[Correction]
    next_cursor: Annotated[
        str | None,
        _described("Pass as `cursor` for the next page; null when this page was the last."),
    ]


class ItemsPage(Answer):
    """One page of items, newest first."""

    items: list[StoredItem]
    next_cursor: Annotated[
        str | None, _described("Pass as `cursor` for the next page; null on the last page.")
    ]
