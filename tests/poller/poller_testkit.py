"""Test kit for the poller: a loopback feed server with misbehaving routes, feed builders."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from model import Model
from poller.poll import Outcome, Poller
from settings import Settings
from store import Store

HANG_LIMIT = 10.0  # a hanging handler gives up after this, so the server can shut down

Handler = Callable[["Request"], None]


class Request(BaseHTTPRequestHandler):
    """Dispatches GETs to the server's routes; records each request."""

    server: FeedServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.bodies[self.path.split("?")[0]].append(self.rfile.read(length))
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.server.record(path, dict(self.headers.items()))
        try:
            route = self.server.routes.get(path)
            if route is None:
                self.send(404, b"not found", {"Content-Type": "text/plain"})
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the poller gave up on us, as it should
        finally:
            self.server.leave(path)

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """A complete response with Content-Length."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet


class FeedServer(ThreadingHTTPServer):
    """A loopback server whose paths are Python functions; counts requests per path."""

    daemon_threads = True
    request_queue_size = 128  # a fetch is one connection: bursts of them must not be dropped

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Request)
        self.routes: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.request_headers: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.bodies: dict[str, list[bytes]] = defaultdict(list)  # POSTed bodies per path
        self.active: Counter[str] = Counter()
        self.max_active: Counter[str] = Counter()
        self.closing = threading.Event()
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def record(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.hits[path] += 1
            self.request_headers[path].append({k.lower(): v for k, v in headers.items()})
            self.active[path] += 1
            self.max_active[path] = max(self.max_active[path], self.active[path])

    def leave(self, path: str) -> None:
        with self._lock:
            self.active[path] -= 1


def static(body: bytes, content_type: str = "application/xml", **extra: str) -> Handler:
    """A route serving ``body`` with an ETag, answering 304 to a matching If-None-Match."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'

    def handle(req: Request) -> None:
        if req.headers.get("If-None-Match") == etag:
            req.send(304, b"", {"ETag": etag})
            return
        req.send(200, body, {"Content-Type": content_type, "ETag": etag, **extra})

    return handle


def slow(handler: Handler, seconds: float) -> Handler:
    """``handler`` after a pause (to catch the poller in the middle of a poll)."""

    def handle(req: Request) -> None:
        time.sleep(seconds)
        handler(req)

    return handle


def hang(req: Request) -> None:
    """Accept the request and never answer (until the server closes)."""
    req.server.closing.wait(HANG_LIMIT)


def tarpit(gap: float, lines: int = 100) -> Handler:
    """A header tarpit: the status line, then one header line every ``gap`` seconds."""

    def handle(req: Request) -> None:
        req.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n")
        for n in range(lines):
            if req.server.closing.wait(gap):
                return
            req.wfile.write(f"X-Slow-{n}: {n}\r\n".encode())
        body = rss([("Late", "at last")])
        req.wfile.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    return handle


def trickle(gap: float, pieces: int = 100) -> Handler:
    """A body tarpit: complete headers, then the body in ``pieces``, one every ``gap`` s."""

    def handle(req: Request) -> None:
        body = rss([("Late", "at last")])
        req.send_response(200)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        step = -(-len(body) // pieces)
        for start in range(0, len(body), step):
            if req.server.closing.wait(gap):
                return
            req.wfile.write(body[start : start + step])

    return handle


def status(code: int, **headers: str) -> Handler:
    """A bare status with a short body."""
    return lambda req: req.send(code, f"status {code}".encode(), headers)


def huge(size: int) -> Handler:
    """A well-formed-looking RSS body of ``size`` bytes, streamed."""

    def handle(req: Request) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/rss+xml")
        req.send_header("Content-Length", str(size))
        req.end_headers()
        head = b"<?xml version='1.0'?><rss version='2.0'><channel><title>big</title>"
        req.wfile.write(head)
        block = b"<item><title>x</title><description>" + b"y" * 8000 + b"</description></item>"
        sent = len(head)
        while sent + len(block) <= size and not req.server.closing.is_set():
            req.wfile.write(block)
            sent += len(block)

    return handle


def huge_chunked(size: int) -> Handler:
    """Like :func:`huge` without a Content-Length, so only the stream cap can stop it."""

    def handle(req: Request) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/rss+xml")
        req.send_header("Connection", "close")
        req.end_headers()
        req.close_connection = True
        block = b"<item><title>x</title><description>" + b"y" * 8000 + b"</description></item>"
        sent = 0
        while sent < size and not req.server.closing.is_set():
            req.wfile.write(block)
            sent += len(block)

    return handle


def gzip_bomb(inflated: int) -> Handler:
    """A small gzip body that inflates to ``inflated`` bytes of XML-ish filler."""
    body = gzip.compress(b"<rss><channel>" + b" " * inflated, compresslevel=9)

    def handle(req: Request) -> None:
        req.send(200, body, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})

    return handle


def gzipped(body: bytes) -> Handler:
    """A gzip-encoded feed (the honest use of Content-Encoding)."""
    packed = gzip.compress(body)
    return lambda req: req.send(
        200, packed, {"Content-Type": "application/xml", "Content-Encoding": "gzip"}
    )


def redirect(target: str, code: int = 302) -> Handler:
    """A redirect to ``target`` (a path on this server or a full URL)."""
    return lambda req: req.send(code, b"", {"Location": target})


def rss(items: list[tuple[str, str]], title: str = "Test feed") -> bytes:
    """An RSS 2.0 document with (title, description) items keyed by GUID."""
    parts = [
        f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{title}</title>"
    ]
    for n, (item_title, description) in enumerate(items):
        parts.append(
            f"<item><guid isPermaLink='false'>{title}-{n}</guid><title>{item_title}</title>"
            f"<description>{description}</description>"
            "<pubDate>Sun, 01 Mar 2026 10:00:00 GMT</pubDate></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


ESCAPED_MARKUP = '&lt;p&gt;&lt;b&gt;word&lt;/b&gt; &lt;a href="/x"&gt;link&lt;/a&gt;&lt;/p&gt;'


def escaped_markup_feed(size: int = 13_500_000, entries: int = 10) -> bytes:
    """RSS of about ``size`` bytes whose entries are huge blobs of escaped markup (issue
    11.7: under the 15 MiB cap, yet tens of seconds of feedparser)."""
    head = "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>x</title>"
    share = (size - len(head)) // entries
    parts = [head]
    for n in range(entries):
        start = f"<item><guid>blob-{n}</guid><title>Blob {n}</title><description>"
        end = "</description></item>"
        repeat = (share - len(start) - len(end)) // len(ESCAPED_MARKUP)
        parts += [start, ESCAPED_MARKUP * repeat, end]
    parts.append("</channel></rss>")
    return "".join(parts).encode()


REPO = Path(__file__).resolve().parents[2]


def poller_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """An environment for a ``python -m poller`` subprocess: no stray WIRETAG_ variables,
    loopback allowed, the given settings (name without prefix, e.g. lease_seconds="1")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRETAG_")}
    env.update(
        WIRETAG_DATA_DIR=str(data_dir),
        WIRETAG_ALLOW_PRIVATE_NETWORKS="true",
        WIRETAG_FEEDS_FILE=str(data_dir / "no-feeds.opml"),
        WIRETAG_POLL_TICK_SECONDS="0.2",
        WIRETAG_FETCH_CONNECT_TIMEOUT="2",
        WIRETAG_FETCH_READ_TIMEOUT="5",
    )
    env.update({"WIRETAG_" + k.upper(): v for k, v in settings.items()})
    return env


def start_poller(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``python -m poller ARGS`` in the repo, output captured as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "poller", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` every 20 ms until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def poll_once(store: Store, model: Model, settings: Settings, **options: Any) -> list[Outcome]:
    """Poll every due feed once through a Poller, as ``python -m poller --once`` does."""
    poller = Poller(store, model, settings, **options)
    try:
        return poller.run_once()
    finally:
        poller.close()
