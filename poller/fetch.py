"""Fetching feeds over HTTP with httpx: timeouts, size caps, checked redirects.

Redirects are followed by hand so that every hop goes through the URL check; plain-http
requests are sent to the address that check approved (the Host header keeps the name), so
a DNS answer that changes between the check and the connection cannot reach an internal
address.  HTTPS keeps the host name, where certificate verification plays that part.  The
body is read as a stream and decompressed here, with a cap on both the bytes received and
the bytes they inflate to, so a gzip bomb stops at the cap.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from common.urls import resolve_public, split_url
from poller.errors import FeedTooLarge, FetchError, FetchTimeout, TooManyRedirects
from settings import Settings

USER_AGENT = "wiretag/0.1 (+news topic tagger)"
REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Response:
    """What a fetch brought back: final status, URL, headers and the decoded body."""

    status: int
    url: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


Fetch = Callable[[str, str | None, str | None], Response]


class _Inflater:
    """Decodes a Content-Encoding incrementally, never inflating past ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self._limit = limit
        self._size = 0
        self._zlib: zlib._Decompress | None = None
        if encoding == "gzip" or encoding == "x-gzip":
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif encoding not in {"", "identity"}:
            raise FetchError(f"unsupported Content-Encoding {encoding!r}")

    def feed(self, data: bytes) -> bytes:
        """Decoded bytes for ``data``; FeedTooLarge once the total passes the limit."""
        if self._zlib is None:
            out = data
        else:
            try:
                # max_length bounds memory per call: a bomb never inflates at once
                out = self._zlib.decompress(data, self._limit - self._size + 1)
                if self._zlib.unconsumed_tail:
                    raise FeedTooLarge(f"body inflates past {self._limit} bytes")
            except zlib.error as exc:
                raise FetchError(f"corrupt compressed body: {exc}") from None
        self._size += len(out)
        if self._size > self._limit:
            raise FeedTooLarge(f"body is larger than {self._limit} bytes")
        return out


def _read_body(response: httpx.Response, limit: int, deadline: float) -> bytes:
    """The decoded body, refused past ``limit`` bytes or after ``deadline``."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FeedTooLarge(f"Content-Length {declared} is larger than {limit} bytes")
    inflater = _Inflater(response.headers.get("content-encoding", "").strip().lower(), limit)
    received = 0
    parts = []
    for chunk in response.iter_raw(_CHUNK):
        received += len(chunk)
        if received > limit:
            raise FeedTooLarge(f"body is larger than {limit} bytes")
        parts.append(inflater.feed(chunk))
        if time.monotonic() > deadline:
            raise FetchTimeout("the body took too long to arrive")
    return b"".join(parts)


def _pinned(url: str, address: str) -> tuple[str, dict[str, str]]:
    """For plain http: the URL aimed at ``address`` and the Host header it needs."""
    scheme, _, port = split_url(url)
    if scheme != "http":
        return url, {}
    parts = urlsplit(url)
    ip = f"[{address}]" if ":" in address else address
    return urlunsplit((scheme, f"{ip}:{port}", parts.path or "/", parts.query, "")), {
        "Host": parts.netloc.rpartition("@")[2]
    }


def _conditional(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


class Fetcher:
    """An HTTP client for feeds, shared by the poller's threads (httpx.Client is)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        timeout = httpx.Timeout(
            connect=settings.fetch_connect_timeout,
            read=settings.fetch_read_timeout,
            write=settings.fetch_read_timeout,
            pool=settings.fetch_connect_timeout,
        )
        limits = httpx.Limits(max_connections=max(10, settings.poll_concurrency * 2))
        self._client = httpx.Client(
            timeout=timeout,
            limits=limits,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment silently changes where we go
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def __call__(self, url: str, etag: str | None, last_modified: str | None) -> Response:
        """GET ``url`` with validators, following checked redirects; FetchError or UnsafeURL."""
        s = self._settings
        deadline = time.monotonic() + s.fetch_connect_timeout + 2 * s.fetch_read_timeout
        for _ in range(s.max_redirects + 1):
            try:
                outcome = self._hop(url, _conditional(etag, last_modified), deadline)
            except httpx.TimeoutException as exc:
                raise FetchTimeout(f"timed out ({type(exc).__name__})") from exc
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                raise FetchError(f"{type(exc).__name__}: {exc}") from exc
            if isinstance(outcome, Response):
                return outcome
            url = outcome
        raise TooManyRedirects(f"more than {s.max_redirects} redirects")

    def _hop(self, url: str, headers: dict[str, str], deadline: float) -> Response | str:
        """One request: the response, or the next URL when it is a redirect."""
        addresses = resolve_public(url, self._settings.allow_private_networks)
        target, host = _pinned(url, addresses[0])
        with self._client.stream("GET", target, headers={**host, **headers}) as response:
            if response.status_code in REDIRECTS:
                location = response.headers.get("location", "").strip()
                if not location:
                    raise TooManyRedirects(f"redirect {response.status_code} without Location")
                return urljoin(url, location)
            body = b""
            if 200 <= response.status_code < 300:  # a 304 or an error page is not read
                body = _read_body(response, self._settings.max_feed_bytes, deadline)
            headers_out = {k.lower(): v for k, v in response.headers.items()}
            return Response(response.status_code, url, headers_out, body)
