"""Story grouping in the poller: which story each new item joins, kept across restarts
and shared between pollers through the store.

One :class:`Grouper` per poller process holds a :class:`stories.StoryIndex` of the last
72 hours.  For each feed poll with new items, under one lock (the index is not
thread-safe, and a copy arriving in two feeds polled at once must see the other):

1. pick up the signatures other pollers stored since the last look (at most every
   ``refresh_seconds``; see below),
2. decide each item's story: the best match in the index or among the batch's earlier
   items (compared directly), else a new story,
3. store the items with their stories (one transaction, :meth:`store.Store.record_poll`),
4. add them to the index.

Signing (the costly part) happens before the lock.  At start the index is rebuilt from
the kept signatures of the window.

Several pollers on one PostgreSQL store: each keeps its own index and, before a batch,
reads the signatures others stored since its last look (minus an overlap of
``OVERLAP`` for transactions that committed late and clocks that disagree), at most once
every ``refresh_seconds``: one indexed range query on ``item_signatures.seen_at``.  Two
copies stored by two pollers within that gap may start two stories; the copies after
them join whichever story scores best.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np

from common.clock import Clock, utcnow
from store import Added, Grouping, KeptSignature, NewItem, Store
from stories import Match, Params, Signature, SignatureError, Signer, StoryIndex

log = logging.getLogger("wiretag.poller")

OVERLAP = timedelta(minutes=2)
REFRESH_SECONDS = 5.0


class Grouper:
    """A poller's story index over the store's kept signatures (thread-safe)."""

    def __init__(
        self,
        store: Store,
        owner: str,
        *,
        params: Params | None = None,
        now: Clock = utcnow,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self.store, self.owner, self.now = store, owner, now
        self.signer = Signer(params)
        self.params = self.signer.params
        self.index = StoryIndex(self.params)
        self.lock = threading.Lock()
        self.refresh_seconds = refresh_seconds
        self._last_look: datetime | None = None

    def rebuild(self) -> int:
        """Fill the index from the store's kept signatures of the window; how many."""
        moment = self.now()
        kept = self.store.recent_signatures(
            moment - self.params.window, self.params.scheme, limit=self.params.max_items
        )
        with self.lock:
            self.index = StoryIndex(self.params)
            with self.index.bulk():  # one sort of the band keys, not one insert each
                self._add_kept(kept)
            self._last_look = moment
        log.info("story index rebuilt: %d items of the last %s", len(kept), self.params.window)
        return len(kept)

    def refresh(self) -> int:
        """Add the signatures other pollers stored since the last look (call under
        :attr:`lock`); how many were new to the index."""
        moment = self.now()
        last = self._last_look
        if last is not None and (moment - last).total_seconds() < self.refresh_seconds:
            return 0
        since = moment - self.params.window if last is None else last - OVERLAP
        kept = self.store.recent_signatures(since, self.params.scheme, exclude_owner=self.owner)
        self._last_look = moment
        return self._add_kept(kept)

    def _add_kept(self, kept: Sequence[KeptSignature]) -> int:
        before = len(self.index)
        for k in kept:  # oldest first, as the index wants them
            try:
                signature = Signature.from_bytes(k.signature, self.params.num_perm)
            except SignatureError as exc:  # a damaged row costs its item's grouping only,
                log.warning("story index: item %d left out: %s", k.item_id, exc)  # not a start
                continue
            self.index.add(k.item_id, k.story_id, signature, k.seen_at)
        return len(self.index) - before

    def sign(self, items: Sequence[NewItem]) -> list[Signature]:
        """Each item's signature (outside the lock: the costly part)."""
        return [self.signer.sign(item.title, item.summary) for item in items]

    def decide(
        self, items: Sequence[NewItem], signatures: Sequence[Signature], at: datetime
    ) -> list[NewItem]:
        """The items with their story decided (call under :attr:`lock`): a stored story,
        or a new one named ``new:<n>`` that later items of the batch may join."""
        earlier = _Batch(len(items), self.params)
        decided = []
        for n, (item, signature) in enumerate(zip(items, signatures, strict=True)):
            if signature.empty:  # nothing to sign: the item joins no story
                decided.append(item)
                continue
            stored = self.index.match(signature, at)
            story = earlier.better(signature, stored)
            key: int | str = story if story is not None else f"new:{n}"
            earlier.add(signature, key)
            grouping = Grouping(key, signature.to_bytes(), self.params.scheme)
            decided.append(replace(item, grouping=grouping))
        return decided

    def remember(self, added: Sequence[Added], items: Sequence[NewItem], at: datetime) -> None:
        """Add the stored items to the index (call under :attr:`lock`)."""
        by_key = {item.dedupe_key: item for item in items}
        for a in added:
            item = by_key.get(a.dedupe_key)
            if a.story_id is None or item is None or item.grouping is None:
                continue
            signature = Signature.from_bytes(item.grouping.signature, self.params.num_perm)
            self.index.add(a.id, a.story_id, signature, at)


class _Batch:
    """A poll's earlier items, compared directly with each new one (a batch is at most a
    feed's worth: no LSH needed, and no candidate is missed)."""

    def __init__(self, size: int, params: Params) -> None:
        self.params = params
        self.values = np.empty((size, params.num_perm), dtype=np.uint32)
        self.stories: list[int | str] = []

    def add(self, signature: Signature, story: int | str) -> None:
        self.values[len(self.stories)] = signature.values
        self.stories.append(story)

    def better(self, signature: Signature, stored: Match | None) -> int | str | None:
        """The story of the batch's best item if it scores above ``stored`` (and the
        threshold; same age, so the score is the similarity), else ``stored``'s."""
        best = stored.story_id if stored is not None else None
        if not self.stories:
            return best  # type: ignore[return-value]
        sims = np.count_nonzero(self.values[: len(self.stories)] == signature.values, axis=1)
        top = int(np.argmax(sims))  # the first of the best: the earliest
        score = sims[top] / self.params.num_perm
        if score >= self.params.threshold and (stored is None or score > stored.score):
            return self.stories[top]
        return best  # type: ignore[return-value]
