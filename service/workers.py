"""wiretag's gunicorn worker: gevent, with gunicorn's own refusals answered in JSON.

gunicorn refuses some requests before the app sees them: a request line over
``limit_request_line`` (414), too many or too large header fields (431), a malformed
request line, header or chunk (400), a ``SCRIPT_NAME`` header the path does not start
with (gunicorn calls that a 500; it is the client's doing, so 400 here).  Its stock
answer is an HTML page; :class:`JsonGeventWorker` answers the same statuses with the
service's error shape, ``{"error": {"code", "message"}, "request_id"}``.

Why gevent: a sync worker is held by one connection from its first byte to its last, so a
few clients that send their headers or body slowly starve every other request.  A gevent
worker parks each waiting connection in a greenlet and keeps answering the others;
classifying is CPU work, done between reads, so nothing else changes.

Deadlines, so a parked connection cannot stay parked: its request head must arrive within
:data:`HEAD_SECONDS`, and the whole request (body read, answer written) within gunicorn's
``timeout`` (WIRETAG_REQUEST_TIMEOUT); past either it is answered 408 and closed.  A
streamed answer (an export of every stored item) may take longer as a whole: the app
re-arms the deadline before each part through the callable the worker puts in the WSGI
environ under :data:`service.export.STREAM_DEADLINE`, so each part, read from the store
and sent, gets ``timeout`` of its own, and a client that stops reading is still cut off.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from typing import Any

import gevent
from gevent.hub import Hub
from gunicorn.http import errors as http_errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.ggevent import GeventWorker

from service.export import STREAM_DEADLINE

# (exception types, status, reason, code), most specific first; anything else gunicorn's
# parser raises is a 400.
REFUSALS: tuple[tuple[tuple[type[BaseException], ...], int, str, str], ...] = (
    ((http_errors.LimitRequestLine,), 414, "URI Too Long", "uri_too_long"),
    (
        (http_errors.LimitRequestHeaders,),
        431,
        "Request Header Fields Too Large",
        "headers_too_large",
    ),
    ((http_errors.ExpectationFailed,), 417, "Expectation Failed", "expectation_failed"),
    (
        (http_errors.UnsupportedTransferCoding,),
        501,
        "Not Implemented",
        "unsupported_transfer_coding",
    ),
    ((http_errors.ForbiddenProxyRequest,), 403, "Forbidden", "forbidden"),
    ((http_errors.ParseException,), 400, "Bad Request", "bad_request"),
)
HEAD_SECONDS = 5.0  # a request line and headers take a few packets, not seconds


class RequestTimeout(BaseException):
    """A connection ran past its deadline.  A BaseException, like gevent's own Timeout, so
    that no ``except Exception`` on the way (Flask's error handlers) mistakes it for an
    application error."""


# The app's own response headers are gunicorn's to refuse: that one is our fault.
SERVER_FAULTS = (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName)


def refusal_for(exc: BaseException) -> tuple[int, str, str] | None:
    """(status, reason, code) for a request gunicorn refused, or None for a server fault."""
    if isinstance(exc, RequestTimeout):
        return 408, "Request Timeout", "request_timeout"
    if isinstance(exc, SERVER_FAULTS):
        return None
    for types, status, reason, code in REFUSALS:
        if isinstance(exc, types):
            return status, reason, code
    return None


def error_bytes(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer carrying a JSON error (the connection is closed after it)."""
    request_id = os.urandom(16).hex()
    body = json.dumps(
        {"error": {"code": code, "message": message}, "request_id": request_id},
        separators=(",", ":"),
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonGeventWorker(GeventWorker):
    """gunicorn's gevent worker whose refusals are JSON, in the service's error shape."""

    def init_process(self) -> None:
        """Start the worker; a host name that does not resolve is an answer, not a crash.

        gevent resolves names in a thread pool whose hub prints every exception it hands
        back as a traceback on stderr; the caller (the feed-URL check) already turns these
        into a 422, so they are not errors of the worker.
        """
        Hub.NOT_ERROR = (*Hub.NOT_ERROR, UnicodeError, socket.gaierror)
        self._deadlines: dict[Any, gevent.Timeout] = {}
        super().init_process()

    def load_wsgi(self) -> None:
        """Load the app, wrapped to give each request a way to re-arm its deadline."""
        super().load_wsgi()
        app: Any = getattr(self, "wsgi")  # noqa: B009 (gunicorn's attribute, untyped)

        def with_deadline(environ: dict[str, Any], start_response: Any) -> Any:
            environ[STREAM_DEADLINE] = self._next_part
            return app(environ, start_response)

        setattr(self, "wsgi", with_deadline)  # noqa: B010

    def _next_part(self) -> None:
        """A streamed answer's next part has ``timeout`` seconds of its own."""
        self._deadline(self.cfg.timeout, "the next part of the answer")

    def _deadline(self, seconds: float, what: str) -> None:
        """(Re)arm this connection's deadline: past it, RequestTimeout is raised in it."""
        current = gevent.getcurrent()
        old = self._deadlines.pop(current, None)
        if old is not None:
            old.close()
        timer = gevent.Timeout(
            seconds, RequestTimeout(f"{what} did not arrive within {seconds:g} s")
        )
        self._deadlines[current] = timer
        timer.start()

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        """Serve one connection, its request head due within HEAD_SECONDS."""
        self._deadline(HEAD_SECONDS, "the request head")
        try:
            super().handle(listener, client, addr)
        finally:
            timer = self._deadlines.pop(gevent.getcurrent(), None)
            if timer is not None:
                timer.close()

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        """The head is in: the whole request now has until gunicorn's ``timeout``."""
        self._deadline(self.cfg.timeout, "the request")
        return super().handle_request(listener_name, req, sock, addr)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Log the refusal (or the fault), write the access line, answer JSON."""
        started = datetime.now()
        addr = addr or ("", -1)  # a unix socket has no peer address
        found = refusal_for(exc)
        if found is None:
            self.log.exception("error handling request")
            status, reason, code = 500, "Internal Server Error", "internal_error"
            message = "internal error; quote the request id when reporting it"
        else:
            status, reason, code = found
            message = str(exc) or reason
            self.log.warning("refused a request from %s: %s", addr[0], exc)
            if req is None and isinstance(
                exc, http_errors.InvalidHeader | http_errors.InvalidHeaderName
            ):
                req = getattr(exc, "req", None)  # the request whose header failed: for the log
        answer = error_bytes(status, reason, code, message)
        if req is not None:
            self._access(req, client, addr, status, reason, answer, datetime.now() - started)
        try:
            client.sendall(answer)
        except OSError:
            self.log.debug("could not send the refusal")

    def _access(
        self, req: Any, client: Any, addr: Any, status: int, reason: str, answer: bytes, took: Any
    ) -> None:
        environ = default_environ(req, client, self.cfg)
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
        resp = Response(req, client, self.cfg)
        resp.status = f"{status} {reason}"
        resp.response_length = len(answer)
        self.log.access(resp, req, environ, took)
