"""Which story a new item joins: an LSH index over the last 72 hours' signatures.

The decision (:meth:`StoryIndex.match`): among the stored items of the window whose
signatures share an LSH band with the new one (:class:`stories.bands.BandTable`), take the one
with the highest *score* = estimated Jaccard similarity − ``age_penalty`` × its age in
days; if that score reaches the threshold the new item joins that item's story, else it
starts a new one.  The age penalty exists because a copy arrives within hours, while two
items a day or more apart that still share many words are more often a later
development of the same saga (a new event) than a copy; the labelled pairs show it.

The index holds no texts and no store handles: the caller stores the item and its story,
then :meth:`StoryIndex.add` s it.  After a restart, :meth:`StoryIndex.add` the window's
items again in time order from their kept signature bytes.  Signatures sit in one
``uint32`` matrix (a row per item, rows reused after expiry) so that scoring a few hundred
LSH candidates is a handful of numpy operations, not a Python loop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from stories.bands import BandTable
from stories.signature import Params, Signature

_DAY = timedelta(days=1).total_seconds()
_START_ROWS = 1024


@dataclass(frozen=True)
class Match:
    """The stored item a new item is closest to, and the story it belongs to."""

    item_id: Hashable
    story_id: Hashable
    similarity: float  # estimated Jaccard similarity of the two items' shingles
    score: float  # similarity - age_penalty x age in days; joined when >= threshold


class StoryIndex:
    """The window's items by signature, for :meth:`match`; not thread-safe."""

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or Params()
        p = self.params
        self._lsh = BandTable(p.bands, p.rows)
        self._row: dict[Hashable, int] = {}  # item id -> its row
        self._values = np.zeros((_START_ROWS, p.num_perm), dtype=np.uint32)
        self._seen = np.zeros(_START_ROWS)  # POSIX seconds the item was first seen
        self._story: list[Hashable] = [None] * _START_ROWS
        self._item: list[Hashable] = [None] * _START_ROWS
        self._free: list[int] = list(range(_START_ROWS - 1, -1, -1))
        self._by_time: deque[tuple[float, Hashable]] = deque()

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._row

    def candidates(self, signature: Signature, at: datetime) -> list[Match]:
        """Every LSH candidate in the window before ``at``, best score first."""
        rows, sims, scores = self._scored(signature, at)
        order = np.lexsort((self._seen[rows], -scores))  # best score; on a tie the older
        return [self._match(rows[i], sims[i], scores[i]) for i in order]

    def match(self, signature: Signature, at: datetime) -> Match | None:
        """The story a new item seen at ``at`` joins, or None: it starts a new story."""
        rows, sims, scores = self._scored(signature, at)
        if not len(rows) or scores.max() < self.params.threshold:
            return None
        top = np.flatnonzero(scores == scores.max())
        best = top[np.argmin(self._seen[rows[top]])]  # on a tie the older item's story
        return self._match(rows[best], sims[best], scores[best])

    def add(
        self, item_id: Hashable, story_id: Hashable, signature: Signature, seen_at: datetime
    ) -> None:
        """Index a stored item (its signature, story and the time it was first seen)."""
        self.expire(seen_at)
        if len(signature.values) != self.params.num_perm:
            raise ValueError(
                f"signature has {len(signature.values)} values, not {self.params.num_perm}"
            )
        if signature.empty or item_id in self._row:
            return
        while len(self._row) >= self.params.max_items:
            self._drop_oldest()
        row = self._take_row()
        self._lsh.insert(row, signature.values)
        self._values[row] = signature.values
        self._seen[row] = seen_at.timestamp()
        self._story[row], self._item[row] = story_id, item_id
        self._row[item_id] = row
        self._by_time.append((seen_at.timestamp(), item_id))

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Items added inside (a rebuild) go into the LSH table in one pass at its end;
        :meth:`match` nothing inside (see :meth:`stories.bands.BandTable.bulk`)."""
        with self._lsh.bulk():
            yield

    def expire(self, now: datetime) -> int:
        """Drop the items first seen before the window that ends at ``now``; how many."""
        oldest = (now - self.params.window).timestamp()
        dropped = 0
        while self._by_time and self._by_time[0][0] < oldest:
            dropped += self._drop_oldest()
        return dropped

    def _drop_oldest(self) -> int:
        _, item_id = self._by_time.popleft()
        row = self._row.pop(item_id, None)
        if row is None:
            return 0
        self._lsh.remove(row)
        self._story[row] = self._item[row] = None
        self._free.append(row)
        return 1

    def _scored(
        self, signature: Signature, at: datetime
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, similarities, scores) of the LSH candidates still in the window."""
        if signature.empty or not self._row:
            return np.empty(0, int), np.empty(0), np.empty(0)
        rows = self._lsh.query(signature.values)
        ages = np.maximum(at.timestamp() - self._seen[rows], 0.0)  # seconds
        # an item added out of time order may outlive the window until expire reaches it
        live = ages <= self.params.window.total_seconds()
        rows, ages = rows[live], ages[live] / _DAY
        sims = np.count_nonzero(self._values[rows] == signature.values, axis=1)
        sims = sims / self.params.num_perm
        return rows, sims, sims - self.params.age_penalty * ages

    def _match(self, row: int, similarity: float, score: float) -> Match:
        return Match(self._item[row], self._story[row], float(similarity), float(score))

    def _take_row(self) -> int:
        if not self._free:  # double the storage; rows keep their numbers
            size = len(self._seen)
            self._values = np.vstack([self._values, np.zeros_like(self._values)])
            self._seen = np.concatenate([self._seen, np.zeros(size)])
            self._story += [None] * size
            self._item += [None] * size
            self._free = list(range(2 * size - 1, size - 1, -1))
        return self._free.pop()
