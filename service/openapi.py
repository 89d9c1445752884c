"""``/openapi.json``, generated from the types in :mod:`service.schema` and the settings.

Every schema in the document comes from the msgspec types the views decode requests into
and encode answers from; limits that are settings (items per request, body size) are
filled in from the running settings.  Nothing here is written by hand except the
operations' names, summaries and which errors each can answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from common.items import Item
from service import schema as s
from settings import Settings

REF = "#/components/schemas/{name}"
REQUEST_ID = {
    "description": "The request id: the one sent (1-128 of A-Z a-z 0-9 . _ : -) or a new one.",
    "schema": {"type": "string"},
}
ERRORS = {
    400: (
        "BadRequest",
        "The body is not valid JSON (`invalid_json`) or not UTF-8 (`invalid_encoding`).",
    ),
    401: (
        "Unauthorized",
        "API keys are configured and the request has no valid `Authorization: Bearer <key>` header.",
    ),
    404: ("NotFound", "No such path (`not_found`) or resource (`feed_not_found`)."),
    405: (
        "MethodNotAllowed",
        "The path exists but not with this method; the Allow header lists the methods.",
    ),
    409: (
        "Conflict",
        "The feed is already subscribed (`feed_exists`), or the model was refused (`model_refused`).",
    ),
    413: (
        "PayloadTooLarge",
        "More items than WIRETAG_MAX_ITEMS (`too_many_items`) or a body over WIRETAG_MAX_BODY_BYTES (`body_too_large`).",
    ),
    415: ("UnsupportedMediaType", "The body is not declared as UTF-8 `application/json`."),
    422: (
        "Unprocessable",
        "Valid JSON or query arguments that break the rules (`invalid_request`, `unsafe_url`); `index` and `field` point at the item and field at fault.",
    ),
    500: (
        "InternalError",
        "Unexpected failure; logged with the request id, which this answer carries.",
    ),
    503: (
        "Unavailable",
        "The store does not answer (`store_unavailable`), or the service is not ready.",
    ),
}
ALWAYS = (404, 405, 500)


@dataclass(frozen=True)
class Operation:
    """One documented endpoint and method."""

    path: str
    method: str
    op_id: str
    summary: str
    answer: Any  # the success answer's type; None for no body
    status: int = 200
    errors: tuple[int, ...] = ()
    query: Any = None
    body: Any = None  # a JSON schema (dict) for the request body
    description: str = ""
    open: bool = False  # no API key needed


def _operations(settings: Settings) -> list[Operation]:
    classify_body = {
        "anyOf": [
            {"allOf": [{"$ref": REF.format(name="Item")}, {"not": {"required": ["items"]}}]},
            {"$ref": REF.format(name="Batch")},
        ]
    }
    body_errors = (400, 413, 415, 422)
    return [
        Operation(
            "/v1/classify",
            "post",
            "classify",
            "Tag one item or a batch",
            s.ClassifyAnswer,
            errors=body_errors,
            query=s.ClassifyQuery,
            body=classify_body,
            description='Send one item, or `{"items": [...]}` (with `items`, the body is a batch). '
            f"The body may hold at most {settings.max_body_bytes} bytes; title and text are each cut to "
            f"{settings.max_text_chars} characters, and the result then says `truncated: true`.",
        ),
        Operation("/v1/model", "get", "getModel", "The model in service and its card", s.ModelCard),
        Operation(
            "/v1/model/reload",
            "post",
            "reloadModel",
            "Load the model directory again",
            s.ReloadAnswer,
            errors=(409,),
            description="Loads WIRETAG_MODEL_DIR again and checks its card. Under gunicorn the master then "
            "reloads and replaces every worker gracefully, so requests in flight finish. A model failing "
            "its card check is refused (409 `model_refused`): the old one keeps serving. No body is read.",
        ),
        Operation(
            "/v1/feeds",
            "get",
            "listFeeds",
            "Every feed with its health",
            s.FeedList,
            errors=(422, 503),
            query=s.NoQuery,
        ),
        Operation(
            "/v1/feeds",
            "post",
            "addFeed",
            "Subscribe to a feed",
            s.FeedAnswer,
            status=201,
            errors=(*body_errors, 409, 503),
            body={"$ref": REF.format(name="NewFeed")},
        ),
        Operation("/v1/feeds/{feed_id}", "get", "getFeed", "One feed", s.FeedAnswer, errors=(503,)),
        Operation(
            "/v1/feeds/{feed_id}",
            "delete",
            "removeFeed",
            "Unsubscribe (its stored items go with it)",
            None,
            status=204,
            errors=(503,),
        ),
        Operation(
            "/v1/items",
            "get",
            "listItems",
            "Stored items, newest first",
            s.ItemsPage,
            errors=(422, 503),
            query=s.ItemsQuery,
            description="Newest first (published time, else fetched time). With "
            "`collapse=story`, one row per story: its newest item, with `story_items`.",
        ),
        Operation(
            "/v1/stories",
            "get",
            "listStories",
            "Stories (copies of one report across feeds), newest activity first",
            s.StoriesPage,
            errors=(422, 503),
            query=s.StoriesQuery,
            description="The poller groups each new item with a near-duplicate item of the last "
            "72 hours (MinHash over title and summary words) or starts a new story. Each story "
            "comes with its newest items (up to 20).",
        ),
        Operation(
            "/v1/surges",
            "get",
            "listSurges",
            "Surges of new stories per label, newest hour first",
            s.SurgeList,
            errors=(422, 503),
            query=s.SurgesQuery,
            description="A label surges when its new stories in the last hour are at least 5 and "
            "their Poisson tail probability under the same hour's mean over the last 7 days is "
            "below 0.001. Stored once per label and clock hour.",
        ),
        Operation(
            "/v1/corrections",
            "get",
            "listCorrections",
            "Analysts' corrections, oldest first",
            s.CorrectionsPage,
            errors=(422, 503),
            query=s.CorrectionsQuery,
            description="Every verdict an analyst gave in the workspace (confirm, reject or add "
            "a label on a stored item), in the order they were made. The latest verdict per "
            "item and label is the one that counts.",
        ),
        Operation(
            "/healthz", "get", "health", "Liveness: the process answers", s.Health, open=True
        ),
        Operation(
            "/readyz",
            "get",
            "ready",
            "Readiness: the model is loaded and the store answers",
            s.Readiness,
            errors=(503,),
            open=True,
        ),
        Operation(
            "/metrics", "get", "metrics", "Prometheus metrics, summed over workers", str, open=True
        ),
        Operation("/openapi.json", "get", "openapi", "This document", dict, open=True),
    ]


def _components(settings: Settings) -> dict[str, Any]:
    types = (
        Item,
        s.Batch,
        s.NewFeed,
        s.Error,
        s.ClassifyAnswer,
        s.ModelCard,
        s.ReloadAnswer,
        s.FeedList,
        s.FeedAnswer,
        s.ItemsPage,
        s.StoriesPage,
        s.SurgeList,
        s.CorrectionsPage,
        s.Health,
        s.Readiness,
    )
    _, components = msgspec.json.schema_components(types, ref_template=REF)
    for name, node in components.items():
        node.update(_schema_extra(name))
    components["Batch"]["properties"]["items"]["maxItems"] = settings.max_items
    return dict(sorted(components.items()))


def _schema_extra(name: str) -> dict[str, Any]:
    """The JSON Schema form of a rule a struct checks in code (its ``schema_extra``)."""
    struct = Item if name == "Item" else getattr(s, name, None)
    return dict(getattr(struct, "schema_extra", {}))


def _query_parameters(query: Any) -> list[dict[str, Any]]:
    if query is None:
        return []
    _, found = msgspec.json.schema_components([query], ref_template=REF)
    properties = found[query.__name__].get("properties", {})
    parameters = []
    for name, field_schema in properties.items():
        field_schema = dict(field_schema)
        parameter = {"name": name, "in": "query", "required": False}
        if "description" in field_schema:
            parameter["description"] = field_schema.pop("description")
        parameters.append({**parameter, "schema": field_schema})
    return parameters


def _content(schema: dict[str, Any], kind: str = "application/json") -> dict[str, Any]:
    return {kind: {"schema": schema}}


def _success(op: Operation) -> dict[str, Any]:
    described = isinstance(op.answer, type) and issubclass(op.answer, msgspec.Struct)
    text = " ".join((op.answer.__doc__ or "").split()) if described else op.summary
    answer: dict[str, Any] = {"description": text, "headers": {"X-Request-ID": REQUEST_ID}}
    if op.answer is str:
        answer["content"] = _content({"type": "string"}, "text/plain")
    elif op.answer is dict:
        answer["content"] = _content({"type": "object"})
    elif op.answer is not None:
        answer["content"] = _content({"$ref": REF.format(name=op.answer.__name__)})
    if op.status == 201:
        answer["headers"]["Location"] = {"schema": {"type": "string"}}
    return answer


def _operation(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": op.op_id, "summary": op.summary}
    if op.description:
        doc["description"] = op.description
    if op.open:
        doc["security"] = []
    parameters = _query_parameters(op.query)
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": _content(op.body)}
    responses: dict[str, Any] = {str(op.status): _success(op)}
    if op.op_id == "ready":  # not ready is an answer too, in the same shape
        responses["503"] = _success(op) | {
            "description": "Not ready; `checks` says which part fails."
        }
    statuses = set(op.errors) | set(ALWAYS) | (set() if op.open else {401})
    for status in sorted(statuses - {op.status} - set(map(int, responses))):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    doc["responses"] = responses
    return doc


def build(settings: Settings) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for a service with these settings."""
    paths: dict[str, Any] = {}
    for op in _operations(settings):
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    paths["/v1/feeds/{feed_id}"]["parameters"] = [
        {"name": "feed_id", "in": "path", "required": True, "schema": msgspec.json.schema(s.Id)}
    ]
    responses = {
        name: {"description": text, "content": _content({"$ref": REF.format(name="Error")})}
        for name, text in ERRORS.values()
    }
    responses["Unauthorized"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    responses["MethodNotAllowed"]["headers"] = {"Allow": {"schema": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wiretag",
            "version": "0.1.0",
            "summary": "Tags news about jihadist conflict with four topics, with scores and evidence.",
            "description": 'Every error is JSON: `{"error": {"code", "message", "index"?, "field"?}, "request_id"}`. '
            "When WIRETAG_API_KEYS is set, every /v1/ path needs `Authorization: Bearer <key>`; "
            "/healthz, /readyz, /metrics and /openapi.json stay open.",
        },
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": _components(settings),
            "responses": responses,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "One of the keys in WIRETAG_API_KEYS; needed only when keys are configured.",
                }
            },
        },
    }
