"""Webhook alerts: a background thread that POSTs new items from the store's outbox.

The outbox row is written in the same transaction as the item, so an alert survives any
crash; this thread only sends what is due, retries failures with backoff, and never holds
up polling (it has its own thread and its own HTTP client).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from poller.alerts import webhook_body
from poller.fetch import USER_AGENT
from poller.schedule import backoff
from settings import Settings
from store import Delivery, Store, StoreError

log = logging.getLogger("wiretag.webhooks")

FIRST_RETRY = timedelta(seconds=30)
MAX_ATTEMPTS = 12  # 30 s doubling: the last retry comes 12-17 hours after the first failure
BATCH = 20
LEASE_SECONDS = 120

Post = Callable[[str, dict[str, Any]], int]


class HttpPoster:
    """POSTs JSON over one httpx client: returns the status, raises httpx errors."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._client = httpx.Client(
            timeout=timeout, trust_env=False, headers={"User-Agent": USER_AGENT}
        )

    def __call__(self, url: str, payload: dict[str, Any]) -> int:
        return self._client.post(url, json=payload).status_code

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()


def retry_at(attempts: int, now: datetime, cap: timedelta, jitter: float) -> datetime:
    """When to try a delivery again after ``attempts`` failures (pure)."""
    return now + backoff(FIRST_RETRY, attempts, cap, jitter)


def deliver_due(
    store: Store,
    settings: Settings,
    post: Post,
    now: Callable[[], datetime],
    rand: Callable[[], float] = random.random,
) -> int:
    """Send the deliveries that are due; return how many were attempted."""
    deliveries = store.claim_deliveries(BATCH, LEASE_SECONDS, now=now())
    for delivery in deliveries:
        _attempt(store, settings, post, now, rand, delivery)
    return len(deliveries)


def _attempt(
    store: Store,
    settings: Settings,
    post: Post,
    now: Callable[[], datetime],
    rand: Callable[[], float],
    delivery: Delivery,
) -> None:
    try:
        status = post(delivery.url, webhook_body(delivery))
        error = None if 200 <= status < 300 else f"HTTP {status}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    if error is None:
        store.delivery_sent(delivery.id)
        log.info("webhook %s: item %d sent to %s", delivery.label, delivery.item_id, delivery.url)
        return
    attempts = delivery.attempts + 1
    give_up = attempts >= MAX_ATTEMPTS
    cap = timedelta(hours=settings.max_backoff_hours)
    store.delivery_failed(delivery.id, error, retry_at(attempts, now(), cap, rand()), give_up)
    log.log(
        logging.ERROR if give_up else logging.WARNING,
        "webhook %s: item %d to %s failed (attempt %d%s): %s",
        delivery.label,
        delivery.item_id,
        delivery.url,
        attempts,
        ", giving up" if give_up else "",
        error,
    )


class Deliverer(threading.Thread):
    """Runs :func:`deliver_due` every ``idle_seconds`` until :attr:`stop` is set."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        post: Post | None = None,
        now: Callable[[], datetime],
        idle_seconds: float = 2.0,
    ) -> None:
        super().__init__(name="webhooks", daemon=True)
        self.store, self.settings = store, settings
        self._own_poster = HttpPoster() if post is None else None
        self.post: Post = post or self._own_poster  # type: ignore[assignment]
        self.now = now
        self.idle_seconds = idle_seconds
        self.stop = threading.Event()

    def run(self) -> None:
        """Deliver until stopped; a store outage is logged and waited out."""
        while not self.stop.is_set():
            try:
                busy = deliver_due(self.store, self.settings, self.post, self.now)
            except StoreError as exc:
                log.error("webhook outbox unavailable: %s", exc)
                busy = 0
            if busy < BATCH:
                self.stop.wait(self.idle_seconds)
        if self._own_poster is not None:
            self._own_poster.close()
