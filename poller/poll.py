"""The polling loop: lease due feeds, fetch them in parallel, tag and store what is new.

Each feed is polled start to end by one thread of a pool (fetch, parse, dedupe lookup,
classify, store): the model is read-only and thread-safe, PostgreSQL takes the writes in
parallel, and the SQLite store serialises its writers itself.  Keeping a feed's database
round trips on the thread that waits for them matters: handed to a single writer thread,
each round trip waited behind the parsing threads for the interpreter lock, and that
halved throughput on PostgreSQL.  Every feed's outcome, good or bad, ends in one store
transaction that also schedules its next check; a feed's failure is data on that feed,
never a crash of the loop.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.clock import Clock, utcnow
from common.urls import UnsafeURL
from model import Item, Model
from poller.alerts import with_alerts
from poller.errors import ParserFailed, PollerError
from poller.fetch import Fetch, Fetcher, Response
from poller.grouping import Grouper
from poller.housekeeping import Housekeeper
from poller.parse import Entry, Parse, ParsedFeed, parse_feed
from poller.sandbox import ParserPool
from poller.schedule import (
    RETRY_AFTER_STATUSES,
    Schedule,
    interval_of,
    next_check,
    parse_retry_after,
)
from settings import Settings
from store import Added, Feed, FeedUpdate, NewItem, Store, StoreError

log = logging.getLogger("wiretag.poller")


STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def leave_stop_signals_to_main() -> None:
    """Block SIGINT and SIGTERM in the calling thread (a worker's first step).

    The kernel hands a process signal to any thread that does not block it; caught by a
    worker, it only wakes the main thread's wait when that times out (up to a tick).
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def default_owner() -> str:
    """A lease owner name unique to this process: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Fetched:
    """The network half of one poll: a response and its parse, or the error instead."""

    feed: Feed
    response: Response | None = None
    parsed: ParsedFeed | None = None
    error: str | None = None
    seconds: float = 0.0
    ours: bool = False  # the error is ours to fix (a bug, the parser process), not the feed's


@dataclass(frozen=True)
class Outcome:
    """What one poll of one feed did (logged, and returned to callers and tests)."""

    feed_id: int
    url: str
    status: int | None
    new_items: int
    error: str | None
    seconds: float
    ours: bool = False  # it failed for a reason on our side: storage, the model, a bug


def fetch_and_parse(feed: Feed, fetch: Fetch, parse: Parse = parse_feed) -> Fetched:
    """Fetch a feed and parse it; every failure is caught and described."""
    started = time.monotonic()
    response = None
    try:
        response = fetch(feed.url, feed.etag, feed.last_modified)
        parsed = None
        if 200 <= response.status < 300:
            parsed = parse(response.body, response.headers, response.url)
        return Fetched(feed, response, parsed, seconds=time.monotonic() - started)
    except ParserFailed as exc:
        log.error("feed %d %s: %s", feed.id, feed.url, exc)
        return Fetched(feed, response, None, str(exc), time.monotonic() - started, ours=True)
    except (PollerError, UnsafeURL) as exc:
        error = str(exc) or type(exc).__name__
    except Exception as exc:  # a bug or a surprise in a library must cost one feed only
        log.exception("feed %d %s: unexpected failure", feed.id, feed.url)
        error = f"internal error: {type(exc).__name__}: {exc}"
        return Fetched(feed, response, None, error, time.monotonic() - started, ours=True)
    return Fetched(feed, response, None, error, time.monotonic() - started)


def _good(status: int) -> bool:
    return 200 <= status < 300 or status == 304


def decide(
    fetched: Fetched, schedule: Schedule, now: datetime, jitter: float, error: str | None = None
) -> FeedUpdate:
    """The feed's new state after a poll (pure): status, error streak, next check."""
    feed, response = fetched.feed, fetched.response
    status = response.status if response else None
    error = error or fetched.error
    if error is None and response is not None and not _good(response.status):
        error = f"HTTP {response.status}"
    interval = interval_of(feed.interval_minutes, schedule.default_interval)
    streak = feed.error_count + 1 if error else 0
    retry_after = None
    if response is not None and response.status in RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    when = next_check(
        now,
        interval=interval,
        error_count=streak,
        cap=schedule.max_backoff,
        jitter=jitter,
        retry_after=retry_after,
    )
    fresh = error is None and response is not None and response.status != 304
    return FeedUpdate(
        checked_at=now,
        next_check_at=when,
        status=status,
        error_count=streak,
        error=error[:1000] if error else None,
        warning=fetched.parsed.bozo_reason if fresh and fetched.parsed else None,
        etag=response.headers.get("etag") if fresh and response else None,
        last_modified=response.headers.get("last-modified") if fresh and response else None,
        title=fetched.parsed.title if fresh and fetched.parsed else None,
    )


def new_entries(entries: list[Entry], known: set[str]) -> list[Entry]:
    """Entries whose key is not stored yet, first occurrence of each key only (pure)."""
    seen = set(known)
    fresh = []
    for entry in entries:
        if entry.key not in seen:
            seen.add(entry.key)
            fresh.append(entry)
    return fresh


def classify(model: Model, entries: list[Entry], max_chars: int) -> list[NewItem]:
    """Tag entries in one batch (text cut to ``max_chars``) into items for the store."""
    batch = [
        Item(id=str(i), title=e.title[:max_chars], text=e.summary[:max_chars])
        for i, e in enumerate(entries)
    ]
    results = model.classify(batch, explain=False) if batch else []
    return [
        NewItem(
            dedupe_key=e.key,
            link=e.link,
            title=e.title,
            summary=e.summary[:max_chars],
            published_at=e.published_at,
            labels=list(r.labels),
            scores=dict(r.scores),
            model_version=model.version,
        )
        for e, r in zip(entries, results, strict=True)
    ]


def fetcher_for(settings: Settings) -> Fetcher:
    """The feed fetcher the settings describe."""
    return Fetcher(
        connect_timeout=settings.fetch_connect_timeout,
        read_timeout=settings.fetch_read_timeout,
        max_bytes=settings.max_feed_bytes,
        max_redirects=settings.max_redirects,
        allow_private=settings.allow_private_networks,
        max_connections=max(10, settings.poll_concurrency * 2),
    )


def parser_for(settings: Settings) -> ParserPool:
    """The budgeted parser the settings describe."""
    return ParserPool(
        seconds=settings.parse_timeout_seconds, memory_bytes=settings.parse_memory_mb * 2**20
    )


class Poller:
    """Polls due feeds with ``settings.poll_concurrency`` fetches in flight."""

    def __init__(
        self,
        store: Store,
        model: Model,
        settings: Settings,
        *,
        fetch: Fetch | None = None,
        parse: Parse | None = None,
        now: Clock = utcnow,
        rand: Callable[[], float] = random.random,
        owner: str | None = None,
        stories: bool = True,
    ) -> None:
        self.store, self.model, self.settings = store, model, settings
        self.schedule = Schedule(
            timedelta(minutes=settings.default_interval_minutes),
            timedelta(hours=settings.max_backoff_hours),
        )
        self._own_fetcher = fetcher_for(settings) if fetch is None else None
        self.fetch: Fetch = fetch or self._own_fetcher  # type: ignore[assignment]
        self._own_parser = parser_for(settings) if parse is None else None
        self.parse: Parse = parse or self._own_parser  # type: ignore[assignment]
        self.now, self.rand = now, rand
        self.owner = owner or default_owner()
        self.grouper = Grouper(store, self.owner, now=now) if stories else None
        if self.grouper is not None:
            self.grouper.rebuild()
        self.housekeeper = Housekeeper(store, settings.webhooks, now=now) if stories else None
        self.stop = threading.Event()
        self._pool = ThreadPoolExecutor(
            settings.poll_concurrency,
            thread_name_prefix="fetch",
            initializer=leave_stop_signals_to_main,
        )
        self._inflight: dict[Future[Outcome], Feed] = {}

    @property
    def in_hand(self) -> int:
        """How many feeds are being polled right now."""
        return len(self._inflight)

    def close(self) -> None:
        """Wait for the fetch threads, then close the HTTP client and the parser processes."""
        self._pool.shutdown(wait=True)
        if self._own_fetcher is not None:
            self._own_fetcher.close()
        if self._own_parser is not None:
            self._own_parser.close()

    def _fill(self, due_before: datetime | None) -> bool:
        """Lease due feeds into free fetch slots; True when fewer were due than asked for.

        While fetches are in flight it waits for half the slots to free up, so that one
        lease transaction serves several feeds instead of one per finished fetch.
        """
        concurrency = self.settings.poll_concurrency
        room = concurrency - len(self._inflight)
        wanted = max(1, concurrency // 2) if self._inflight else 1
        if room < wanted or self.stop.is_set():
            return False
        try:
            feeds = self.store.claim_due_feeds(
                self.owner, room, self.settings.lease_seconds, now=self.now(), due_before=due_before
            )
        except StoreError as exc:  # the database is away: try again next tick
            log.error("cannot lease feeds: %s", exc)
            return False
        busy = {f.id for f in self._inflight.values()}
        for feed in feeds:
            if feed.id not in busy:  # a lease outlived by a slow fetch: one fetch is enough
                self._inflight[self._pool.submit(self._poll, feed)] = feed
        return len(feeds) < room

    def _drain(self, timeout: float | None) -> list[Outcome]:
        """Collect the polls that finish within ``timeout``."""
        if not self._inflight:
            return []
        done, _ = wait(list(self._inflight), timeout=timeout, return_when=FIRST_COMPLETED)
        outcomes = []
        for future in done:
            del self._inflight[future]
            outcomes.append(future.result())
        return outcomes

    def _poll(self, feed: Feed) -> Outcome:
        """Poll one feed start to end (in a pool thread)."""
        fetched = fetch_and_parse(feed, self.fetch, self.parse)
        try:
            return self.ingest(fetched)
        except Exception as exc:  # the database, or a bug: this feed's entries, not the daemon
            if not isinstance(exc, StoreError):
                log.exception("feed %d %s: not stored", feed.id, feed.url)
            return self._not_stored(fetched, f"entries not stored: {type(exc).__name__}: {exc}")

    def _not_stored(self, fetched: Fetched, error: str) -> Outcome:
        """Record on the feed, in a transaction of its own, that its poll was not stored:
        the error, a longer streak and its backoff show in ``feeds list`` and /v1/feeds."""
        feed = fetched.feed
        try:
            update = decide(fetched, self.schedule, self.now(), self.rand(), error)
            self.store.record_fetch(feed.id, self.owner, update)
        except Exception as exc:  # the database is away: the lease expires, it is polled again
            log.error("feed %d %s: its failure not recorded either: %s", feed.id, feed.url, exc)
        status = fetched.response.status if fetched.response else None
        outcome = Outcome(feed.id, feed.url, status, 0, error[:1000], fetched.seconds, ours=True)
        _log(outcome, fetched)
        return outcome

    def ingest(self, fetched: Fetched) -> Outcome:
        """Decide, classify and store one fetched feed (one transaction)."""
        feed, started = fetched.feed, time.monotonic()
        items: list[NewItem] = []
        error, ours = None, fetched.ours
        if fetched.parsed is not None and fetched.error is None:
            known = self.store.known_keys(feed.id, (e.key for e in fetched.parsed.entries))
            fresh = new_entries(fetched.parsed.entries, known)
            try:
                items = classify(self.model, fresh, self.settings.max_text_chars)
            except Exception as exc:  # not stored now, so fetched again: nothing is lost
                log.exception("feed %d %s: classification failed", feed.id, feed.url)
                error, items = f"classification failed: {type(exc).__name__}: {exc}", []
                ours = True
        update = decide(fetched, self.schedule, self.now(), self.rand(), error)
        items = with_alerts(items, feed.id, self.settings.webhooks)
        added = self._store(feed.id, update, items)
        outcome = Outcome(
            feed.id,
            feed.url,
            update.status,
            len(added),
            update.error,
            fetched.seconds + time.monotonic() - started,
            ours,
        )
        _log(outcome, fetched)
        return outcome

    def _store(self, feed_id: int, update: FeedUpdate, items: list[NewItem]) -> list[Added]:
        """Store a poll; with grouping, each new item in its story (see poller.grouping)."""
        grouper = self.grouper
        if grouper is None or not items:
            return self.store.record_poll(feed_id, self.owner, update, items)
        signatures = grouper.sign(items)
        with grouper.lock:
            grouper.refresh()
            items = grouper.decide(items, signatures, update.checked_at)
            added = self.store.record_poll(feed_id, self.owner, update, items)
            grouper.remember(added, items, update.checked_at)
        return added

    def housekeep(self, force: bool = False) -> None:
        """Surges and the stories' leftovers (poller.housekeeping), when due or forced;
        a failure is logged and retried at the next run."""
        keeper = self.housekeeper
        if keeper is None or not (force or keeper.due()):
            return
        try:
            keeper.run()
        except StoreError as exc:
            log.error("housekeeping: the store failed: %s", exc)
        except Exception:  # a bug here must not stop polling
            log.exception("housekeeping failed")

    def run_once(self) -> list[Outcome]:
        """Poll every feed due now, once each, and return their outcomes."""
        start = self.now()
        outcomes: list[Outcome] = []
        exhausted = False
        while True:
            if not exhausted:
                exhausted = self._fill(due_before=start)
            if not self._inflight:
                self.housekeep(force=True)
                return outcomes
            outcomes.extend(self._drain(timeout=None))

    def run_forever(self) -> None:
        """Poll until :attr:`stop` is set, then finish the fetches in hand and return."""
        tick = self.settings.poll_tick_seconds
        while not self.stop.is_set():
            self.housekeep()
            self._fill(due_before=None)
            if self._inflight:
                self._drain(timeout=tick)
            else:
                self.stop.wait(tick)
        while self._inflight:
            self._drain(timeout=None)


def _log(outcome: Outcome, fetched: Fetched) -> None:
    parsed = fetched.parsed
    extra = f" skipped={parsed.skipped}" if parsed and parsed.skipped else ""
    if parsed and parsed.bozo_reason:
        extra += f" bozo={parsed.bozo_reason!r}"
    if outcome.error:
        log.warning(
            "feed %d %s: status=%s error=%r time=%.2fs",
            outcome.feed_id,
            outcome.url,
            outcome.status,
            outcome.error,
            outcome.seconds,
        )
    else:
        log.info(
            "feed %d %s: status=%s new=%d time=%.2fs%s",
            outcome.feed_id,
            outcome.url,
            outcome.status,
            outcome.new_items,
            outcome.seconds,
            extra,
        )
