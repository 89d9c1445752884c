"""Fetching feeds over HTTP with httpx: one deadline per fetch, size caps, checked redirects.

Each fetch has one deadline, from the first connect to the last byte of the body, response
headers and redirects included.  httpx's timeouts bound each network operation alone, so a
server that sends a header line every few seconds could hold a fetch for as long as it
liked; here httpx runs over an httpcore connection pool whose network streams cut each
connect, read and write short at the deadline of the fetch being made.  A thread makes one
fetch at a time, so that deadline is kept per thread; connections stay pooled between
fetches (feeds of one host share them).  The DNS lookup of the URL check, before each
hop's connect, keeps to the same deadline: the system resolver cannot be interrupted, so it
runs on a small pool of lookup threads and the fetch stops waiting at the deadline (a
lookup that hangs ends by the resolver's own timeouts, holding one of those threads).

Redirects are followed by hand so that every hop goes through the URL check; plain-http
requests are sent to the address that check approved (the Host header keeps the name), so
a DNS answer that changes between the check and the connection cannot reach an internal
address.  HTTPS keeps the host name, where certificate verification plays that part.  The
body is read as a stream and decompressed here, with a cap on both the bytes received and
the bytes they inflate to, so a gzip bomb stops at the cap.
"""

from __future__ import annotations

import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimeout
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpcore
import httpx

from common.urls import IPAddress, Resolver, refusal, resolve_public, split_url, system_resolve
from poller.errors import FeedTooLarge, FetchError, FetchTimeout, TooManyRedirects

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


def _read_body(response: httpx.Response, limit: int) -> bytes:
    """The decoded body, refused past ``limit`` bytes (received or inflated)."""
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


# -- the deadline: httpcore network streams that stop at it ------------------------------


Deadline = Callable[[], float]  # the current fetch's deadline, in time.monotonic()


def _left(deadline: Deadline, timeout: float | None, expired: type[Exception]) -> float:
    """An operation's timeout cut to the time left before ``deadline``; ``expired`` if none."""
    left = deadline() - time.monotonic()
    if left <= 0:
        raise expired("the fetch's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation ends by the current fetch's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner, self._deadline = inner, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(self._deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(self._deadline, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, left), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Opens TCP connections whose streams keep to the current fetch's deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(self._deadline, timeout, httpcore.ConnectTimeout)
        stream = self._sockets.connect_tcp(host, port, left, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)


class _Body(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        return self._response.iter_stream()

    def close(self) -> None:
        self._response.close()


class _DeadlineTransport(httpx.BaseTransport):
    """httpx over an httpcore pool whose connections keep to the current fetch's deadline.

    httpcore's exceptions come through unchanged (httpx maps them only in its own
    transport); :class:`Fetcher` turns both libraries' errors into FetchError.
    """

    def __init__(self, deadline: Deadline, max_connections: int) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),  # certifi's roots, as httpx's own
            max_connections=max_connections,
            network_backend=_DeadlineBackend(deadline),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on the pool; the body is streamed."""
        assert isinstance(request.stream, httpx.SyncByteStream)
        url = request.url
        response = self._pool.handle_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_Body(response),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.close()


_TIMEOUTS = (httpx.TimeoutException, httpcore.TimeoutException)
_FAILURES = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.StreamError,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)


class Fetcher:
    """Fetches feeds; shared by the poller's threads (httpx.Client is thread-safe).

    It takes the values it uses, as httpx's ``Client`` does: a connect and a read timeout
    per network operation, and the fetch's whole deadline, connect + 2 x read by default.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        deadline: float | None = None,
        max_bytes: int = 15 * 1024 * 1024,
        max_redirects: int = 5,
        allow_private: bool = False,
        max_connections: int = 16,
        resolve: Resolver = system_resolve,
        refuse: Callable[[IPAddress], str | None] = refusal,
    ) -> None:
        self.deadline = connect_timeout + 2 * read_timeout if deadline is None else deadline
        self._max_bytes, self._max_redirects = max_bytes, max_redirects
        self._allow_private, self._refuse = allow_private, refuse
        self._system_resolve = resolve
        # lookups that outlive their fetch's deadline keep a thread until the resolver
        # gives up: as many threads as connections bound them
        self._lookups = ThreadPoolExecutor(max_connections, thread_name_prefix="dns")
        self._current = threading.local()  # .deadline: that of the fetch this thread makes
        self._client = httpx.Client(
            transport=_DeadlineTransport(lambda: self._current.deadline, max_connections),
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
            ),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment silently changes where we go
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        )

    def close(self) -> None:
        """Close pooled connections (and stop waiting for DNS lookups)."""
        self._client.close()
        self._lookups.shutdown(wait=False, cancel_futures=True)

    def _resolve(self, host: str, port: int) -> list[str]:
        """The resolver's answer, or FetchTimeout when it does not come by the deadline."""
        lookup = self._lookups.submit(self._system_resolve, host, port)
        try:
            return lookup.result(timeout=max(0.0, self._current.deadline - time.monotonic()))
        except WaitTimeout:
            lookup.cancel()
            raise FetchTimeout(
                f"timed out: the DNS lookup of {host} took longer than the fetch's "
                f"{self.deadline:g} s"
            ) from None

    def __call__(self, url: str, etag: str | None, last_modified: str | None) -> Response:
        """GET ``url`` with validators, following checked redirects; FetchError or UnsafeURL."""
        deadline = self._current.deadline = time.monotonic() + self.deadline
        for _ in range(self._max_redirects + 1):
            outcome = self._guarded_hop(url, _conditional(etag, last_modified), deadline)
            if isinstance(outcome, Response):
                return outcome
            url = outcome
        raise TooManyRedirects(f"more than {self._max_redirects} redirects")

    def _guarded_hop(self, url: str, headers: dict[str, str], deadline: float) -> Response | str:
        """:meth:`_hop` with the HTTP libraries' errors turned into ours."""
        try:
            return self._hop(url, headers)
        except _TIMEOUTS as exc:
            if time.monotonic() >= deadline:
                raise FetchTimeout(
                    f"timed out: no complete answer within {self.deadline:g} s"
                ) from exc
            raise FetchTimeout(f"timed out ({type(exc).__name__})") from exc
        except _FAILURES as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from exc

    def _hop(self, url: str, headers: dict[str, str]) -> Response | str:
        """One request: the response, or the next URL when it is a redirect."""
        addresses = resolve_public(url, self._allow_private, self._resolve, self._refuse)
        target, host = _pinned(url, addresses[0])
        with self._client.stream("GET", target, headers={**host, **headers}) as response:
            if response.status_code in REDIRECTS:
                location = response.headers.get("location", "").strip()
                if not location:
                    raise TooManyRedirects(f"redirect {response.status_code} without Location")
                return urljoin(url, location)
            body = b""
            if 200 <= response.status_code < 300:  # a 304 or an error page is not read
                body = _read_body(response, self._max_bytes)
            headers_out = {k.lower(): v for k, v in response.headers.items()}
            return Response(response.status_code, url, headers_out, body)
