"""The service's exceptions, and how every failure becomes a JSON answer.

Exceptions::

    ServiceError               the service cannot start or cannot answer
    ├── UnsafeExposure         no API keys while listening beyond loopback: refuse to start
    └── ApiError               a request gets a JSON error (status, code, message)
        ├── BadRequest             400 invalid JSON, body not UTF-8
        ├── Unauthorized           401 missing or wrong API key
        ├── NotFound               404 no such resource
        ├── Conflict               409 the resource exists, or a model was refused
        ├── PayloadTooLarge        413 too many items, body over the limit
        ├── UnsupportedMediaType   415 the body is not JSON
        ├── Unprocessable          422 valid JSON that breaks the request's rules
        └── Unavailable            503 a dependency (the store) does not answer

Views raise :class:`ApiError`; :func:`register` turns it, werkzeug's HTTP errors (404,
405, 413 while reading) and anything unexpected (500, logged with the request id) into
``{"error": {"code", "message", ...}, "request_id"}``.  No traceback reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# werkzeug's error names are for people; clients get stable snake_case codes.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
}


class ServiceError(Exception):
    """The service cannot start or cannot answer."""


class UnsafeExposure(ServiceError):
    """No API keys are configured, yet the service would listen beyond loopback."""


class ApiError(ServiceError):
    """A request fails with a JSON error; ``index`` and ``field`` point into the body."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        index: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.index = index
        self.field = field

    def body(self) -> dict[str, Any]:
        """The ``error`` object of the answer."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.index is not None:
            error["index"] = self.index
        if self.field is not None:
            error["field"] = self.field
        return error


class BadRequest(ApiError):
    """400: the body cannot be read as JSON text."""

    status, code = 400, "invalid_json"


class Unauthorized(ApiError):
    """401: a ``/v1/`` path without a valid ``Authorization: Bearer`` key."""

    status, code = 401, "unauthorized"


class NotFound(ApiError):
    """404: no such resource."""

    status, code = 404, "not_found"


class Conflict(ApiError):
    """409: the resource already exists, or the state forbids the change."""

    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    """413: more items than allowed, or a body over the size limit."""

    status, code = 413, "too_many_items"


class UnsupportedMediaType(ApiError):
    """415: the body is not declared as JSON."""

    status, code = 415, "unsupported_media_type"


class Unprocessable(ApiError):
    """422: well-formed JSON that breaks the request's rules."""

    status, code = 422, "invalid_request"


class Unavailable(ApiError):
    """503: a dependency does not answer."""

    status, code = 503, "unavailable"


def error_response(
    status: int, error: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    """A JSON error answer carrying the request id (also sent as ``X-Request-ID``)."""
    body = msgspec.json.encode({"error": error, "request_id": g.get("request_id")})
    return Response(body, status=status, mimetype="application/json", headers=headers or {})


def _on_api_error(exc: ApiError) -> Response:
    if exc.status >= 500:
        # the cause (say, the database's own message) is in the chained exception
        _log_server_error(f"{exc.code}: {exc.message}", exc.__cause__ or exc)
    headers = {"WWW-Authenticate": 'Bearer realm="wiretag"'} if exc.status == 401 else None
    return error_response(exc.status, exc.body(), headers)


def _on_http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = HTTP_CODES.get(status, "http_error")
    headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
    messages = {
        404: f"no such path: {request.path}",
        405: f"{request.method} is not allowed on {request.path}; allowed: {headers.get('Allow')}",
        413: "the request body is larger than the limit",
    }
    message = messages.get(status) or exc.description or code
    if status >= 500:
        _log_server_error(f"{code}: {message}", exc)
    return error_response(status, {"code": code, "message": message}, headers)


def _log_server_error(message: str, exc: BaseException | None = None) -> None:
    """Every 5xx goes to the log with its request id (the answer carries the same id)."""
    log.error(message, exc_info=exc, extra={"json_fields": {"request_id": g.get("request_id")}})


def _on_unexpected(exc: Exception) -> Response:
    # The traceback goes to the log with the request id; the client gets only the id.
    _log_server_error("unhandled error", exc)
    message = "internal error; quote the request id when reporting it"
    return error_response(500, {"code": "internal_error", "message": message})


def register(app: Flask) -> None:
    """Make every error of ``app`` a JSON answer."""
    app.register_error_handler(ApiError, _on_api_error)
    app.register_error_handler(HTTPException, _on_http_error)
    app.register_error_handler(Exception, _on_unexpected)
