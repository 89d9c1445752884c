"""Webhook alerts: a background thread that POSTs new items from the store's outbox.

The outbox row is written in the same transaction as the item, so an alert survives any
crash; this thread only sends what is due, retries failures with backoff, and never holds
up polling (it has its own thread and its own HTTP client).

Every delivery is signed, as Miniflux signs its webhooks, with the timestamp added so that
a receiver can refuse a replay: ``X-Wiretag-Signature: sha256=<hex>`` is the HMAC-SHA256,
under the webhook's secret, of the ``X-Wiretag-Timestamp`` value (Unix seconds), a dot
and the exact body bytes.  ``X-Wiretag-Delivery`` is the outbox id, the same on every
retry of one delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import httpx

from poller.alerts import webhook_body
from poller.fetch import USER_AGENT
from poller.schedule import backoff
from store import Delivery, Store, StoreError

log = logging.getLogger("wiretag.webhooks")

FIRST_RETRY = timedelta(seconds=30)
MAX_ATTEMPTS = 12  # 30 s doubling: the last retry comes 12-17 hours after the first failure
BATCH = 20
LEASE_SECONDS = 120
SIGNATURE_HEADER = "X-Wiretag-Signature"
TIMESTAMP_HEADER = "X-Wiretag-Timestamp"
DELIVERY_HEADER = "X-Wiretag-Delivery"

Post = Callable[[str, bytes, Mapping[str, str]], int]  # URL, body, headers -> HTTP status


class HttpPoster:
    """POSTs bytes over one httpx client: returns the status, raises httpx errors."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._client = httpx.Client(
            timeout=timeout, trust_env=False, headers={"User-Agent": USER_AGENT}
        )

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        return self._client.post(url, content=body, headers=dict(headers)).status_code

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC of ``timestamp.body``."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_request(delivery: Delivery, secret: str, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body a delivery POSTs and its headers, signed at ``now`` (pure)."""
    body = json.dumps(webhook_body(delivery), separators=(",", ":")).encode()
    timestamp = int(now.timestamp())
    return body, {
        "Content-Type": "application/json",
        DELIVERY_HEADER: str(delivery.id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def retry_at(attempts: int, now: datetime, cap: timedelta, jitter: float) -> datetime:
    """When to try a delivery again after ``attempts`` failures (pure)."""
    return now + backoff(FIRST_RETRY, attempts, cap, jitter)


def deliver_due(
    store: Store,
    post: Post,
    *,
    secrets: Mapping[str, str],
    max_backoff: timedelta,
    now: Callable[[], datetime],
    rand: Callable[[], float] = random.random,
) -> int:
    """Send the deliveries that are due, each signed with its label's secret; return how
    many were attempted."""
    deliveries = store.claim_deliveries(BATCH, LEASE_SECONDS, now=now())
    for delivery in deliveries:
        secret = secrets.get(delivery.label)
        _attempt(store, post, delivery, secret=secret, max_backoff=max_backoff, now=now, rand=rand)
    return len(deliveries)


def _send(post: Post, delivery: Delivery, secret: str | None, now: datetime) -> str | None:
    """POST one delivery; the error that stops it, or None when it was taken."""
    if secret is None:  # the webhook was configured away since the item was stored
        return f"no secret for the {delivery.label} webhook in WIRETAG_WEBHOOK_SECRETS"
    body, headers = signed_request(delivery, secret, now)
    try:
        status = post(delivery.url, body, headers)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        # ValueError: a URL the settings let through that httpx or IDNA cannot encode
        return f"{type(exc).__name__}: {exc}"
    return None if 200 <= status < 300 else f"HTTP {status}"


def _attempt(
    store: Store,
    post: Post,
    delivery: Delivery,
    *,
    secret: str | None,
    max_backoff: timedelta,
    now: Callable[[], datetime],
    rand: Callable[[], float],
) -> None:
    error = _send(post, delivery, secret, now())
    if error is None:
        store.delivery_sent(delivery.id)
        log.info("webhook %s: %s sent to %s", delivery.label, _what(delivery), delivery.url)
        return
    attempts = delivery.attempts + 1
    give_up = attempts >= MAX_ATTEMPTS
    when = retry_at(attempts, now(), max_backoff, rand())
    store.delivery_failed(delivery.id, error, when, give_up)
    log.log(
        logging.ERROR if give_up else logging.WARNING,
        "webhook %s: %s to %s failed (attempt %d%s): %s",
        delivery.label,
        _what(delivery),
        delivery.url,
        attempts,
        ", giving up" if give_up else "",
        error,
    )


def _what(delivery: Delivery) -> str:
    """What a delivery announces, for the log."""
    if delivery.item_id is None:
        return str(delivery.payload.get("event", "event"))
    return f"item {delivery.item_id}"


class Deliverer(threading.Thread):
    """Runs :func:`deliver_due` every ``idle_seconds`` until :attr:`stop` is set."""

    def __init__(
        self,
        store: Store,
        *,
        secrets: Mapping[str, str],
        max_backoff: timedelta,
        post: Post | None = None,
        now: Callable[[], datetime],
        idle_seconds: float = 2.0,
    ) -> None:
        super().__init__(name="webhooks", daemon=True)
        self.store = store
        self._secrets, self._max_backoff = dict(secrets), max_backoff
        self._own_poster = HttpPoster() if post is None else None
        self.post: Post = post or self._own_poster  # type: ignore[assignment]
        self.now = now
        self.idle_seconds = idle_seconds
        self.stop = threading.Event()

    def run(self) -> None:
        """Deliver until stopped; a store outage, or a bug, is logged and waited out (an
        exception leaving this loop would end every delivery until a restart)."""
        while not self.stop.is_set():
            try:
                busy = deliver_due(
                    self.store,
                    self.post,
                    secrets=self._secrets,
                    max_backoff=self._max_backoff,
                    now=self.now,
                )
            except StoreError as exc:
                log.error("webhook outbox unavailable: %s", exc)
                busy = 0
            except Exception:
                log.exception("webhook delivery failed")
                busy = 0
            if busy < BATCH:
                self.stop.wait(self.idle_seconds)
        if self._own_poster is not None:
            self._own_poster.close()
