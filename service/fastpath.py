"""``POST /v1/classify`` for plain requests, answered without Flask's request machinery.

Most of the traffic is one shape: ``POST /v1/classify`` with ``Content-Type:
application/json``, a ``Content-Length`` within the limit, no query or ``?explain=true`` /
``?explain=false``, the API key right when keys are set.  For those, building Flask's
request context, routing, the hooks and a ``Response`` object cost more than the service's
own work: about 150 us of worker CPU a request under gunicorn, as much as classifying one
RSS item.  :class:`FastClassify` wraps the Flask app's ``wsgi_app`` and answers them
itself, with what the view and the hooks do: the request id, the key check, the same
:func:`service.api.classify_json`, the same headers and metrics.

Anything else, and any request the fast path cannot answer with a 200 (a bad body, a wrong
key, an unexpected failure), goes to Flask as it came (the body it read handed on in
memory), so every error answer, status and log line stays Flask's, exactly as documented.
"""

from __future__ import annotations

import io
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from service.api import classify_json
from service.errors import ApiError
from service.security import require_key
from service.state import State

log = logging.getLogger(__name__)

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
PATH = "/v1/classify"
RULE = "/v1/classify"  # the route's rule, as the metrics name it
# the query strings answered here, and what they ask for evidence; any other goes to Flask
PLAIN_QUERIES = {"": True, "explain=true": True, "explain=false": False}
JSON = "application/json"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def request_id(given: str | None) -> str:
    """The client's ``X-Request-ID`` if it is a sane one, else a fresh random id."""
    return given if given and REQUEST_ID.fullmatch(given) else os.urandom(16).hex()


class FastClassify:
    """WSGI middleware: plain classify requests answered here, the rest by ``app``."""

    def __init__(self, app: WSGIApp, state: State) -> None:
        self.app = app
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (
            environ.get("PATH_INFO") != PATH
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("CONTENT_TYPE") != JSON
        ):
            return self.app(environ, start_response)
        explain = PLAIN_QUERIES.get(environ.get("QUERY_STRING", ""))
        length = environ.get("CONTENT_LENGTH", "")
        s = self.state
        if explain is None or not length.isdigit() or int(length) > s.settings.max_body_bytes:
            return self.app(environ, start_response)
        started = time.perf_counter()
        keys = s.settings.api_keys
        if keys:
            try:
                require_key(environ.get("HTTP_AUTHORIZATION"), keys)
            except ApiError:
                return self.app(environ, start_response)  # Flask answers the 401
        try:
            raw = bytes(environ["wsgi.input"].read(int(length)))
        except Exception:  # the client went away: Flask's read says so
            return self.app(environ, start_response)
        try:
            body = classify_json(s, raw, explain)
        except Exception as exc:  # Flask gives the documented answer
            if not isinstance(exc, ApiError):
                log.debug("fast path fell back to Flask: %r", exc)
            environ["wsgi.input"] = io.BytesIO(raw)
            return self.app(environ, start_response)
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        start_response(
            "200 OK",
            [("Content-Type", JSON), ("Content-Length", str(len(body))), ("X-Request-ID", rid)],
        )
        s.metrics.observe_request(RULE, "POST", 200, time.perf_counter() - started)
        return [body]
