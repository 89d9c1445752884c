"""The LSH band table: which indexed rows share a band with a signature, held in numpy.

LSH cuts a signature into ``bands`` runs of ``rows`` values; two signatures are
candidates when they agree on every value of at least one band.  datasketch's
``MinHashLSH`` keeps one Python set per band and bucket, about 16 KB per indexed item
(324 MiB for 20,000 items, bench/bench_stories.py).  Here each (band, values) pair is
hashed to one 64-bit key, and the table is a sorted ``uint64`` array of keys with the
row and generation of each entry beside it: 16 bytes per band, about 1 KB per item.

* **Query**: the signature's 64 keys are looked up with two ``searchsorted`` calls; the
  entries of the matching ranges are the candidates.  Items added since the last merge
  wait in a second, small set of sorted arrays, looked up the same way.
* **Insert**: into the small arrays (``np.insert``, cheap while they are small), merged
  into the main ones every ``merge_every`` items (one linear pass, not a re-sort).
* **Remove**: the row's generation is bumped, so its entries stop counting at once; they
  are dropped from the arrays at the next merge.  A reused row gets a new generation, so
  its old entries never name the new item.

Keys are a hash: two different (band, values) pairs may share one, which can only add a
candidate, and every candidate is scored on its real similarity afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

_MIX1 = np.uint64(0xFF51AFD7ED558CCD)  # MurmurHash3's 64-bit finaliser
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = np.uint64(33)
MERGE_EVERY = 512  # items in the small arrays before a merge into the main ones
# Entries read per band and key, newest first.  Real items share a band by chance with a
# handful of others; a bucket of hundreds holds copies of one story (any of its newest
# members finds it) or near-empty texts.  Without a cap, a feed of near-copies made every
# query read tens of thousands of entries.
MAX_PER_BUCKET = 100
_MARK_ABOVE = 2_000  # candidate entries past which duplicates go by a flag per row


class _Level:
    """Entries sorted by key (equal keys in insertion order): key, row, generation."""

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.uint64)
        self.rows = np.empty(0, dtype=np.int64)
        self.gens = np.empty(0, dtype=np.uint32)

    def __len__(self) -> int:
        return len(self.keys)

    def put(self, keys: np.ndarray, rows: np.ndarray, gens: np.ndarray) -> None:
        """Insert entries (sorted by key among themselves) after their equal keys."""
        at = np.searchsorted(self.keys, keys, side="right")
        self.keys = np.insert(self.keys, at, keys)
        self.rows = np.insert(self.rows, at, rows)
        self.gens = np.insert(self.gens, at, gens)

    def find(self, keys: np.ndarray, cap: int, gen: np.ndarray) -> np.ndarray:
        """The live rows of the newest ``cap`` entries of each key."""
        hi = np.searchsorted(self.keys, keys, side="right")
        lo = np.maximum(np.searchsorted(self.keys, keys, side="left"), hi - cap)
        lengths = hi - lo
        total = int(lengths.sum())
        if not total:
            return np.empty(0, dtype=np.int64)
        at = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        rows = self.rows[at]
        return rows[gen[rows] == self.gens[at]]

    def keep_live(self, gen: np.ndarray) -> None:
        """Drop the entries of removed rows."""
        live = gen[self.rows] == self.gens
        self.keys, self.rows, self.gens = self.keys[live], self.rows[live], self.gens[live]


class BandTable:
    """Rows (small integers, reused) by the LSH band keys of their signatures."""

    def __init__(
        self,
        bands: int,
        rows: int,
        merge_every: int = MERGE_EVERY,
        max_per_bucket: int = MAX_PER_BUCKET,
    ) -> None:
        self.bands, self.rows, self.merge_every = bands, rows, merge_every
        self.max_per_bucket = max_per_bucket
        self._band_salt = (np.arange(bands, dtype=np.uint64) + np.uint64(1)) * _GOLDEN
        self._main = _Level()  # everything up to the last merge
        self._recent = _Level()  # the items added since (a small array: cheap inserts)
        self._waiting = 0
        self._gen = np.zeros(1024, dtype=np.uint32)  # per row; bumped on removal
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    def keys(self, values: np.ndarray) -> np.ndarray:
        """The ``bands`` 64-bit keys of a signature's values."""
        used = values[: self.bands * self.rows].astype(np.uint64).reshape(self.bands, self.rows)
        key = self._band_salt.copy()
        for column in range(self.rows):  # fold each value in, then mix (splitmix-style)
            key = (key ^ used[:, column]) * _MIX1
            key ^= key >> _SHIFT
        key *= _MIX2
        key ^= key >> _SHIFT
        return key

    def insert(self, row: int, values: np.ndarray) -> None:
        """Index ``row`` under its signature's band keys."""
        if row >= len(self._gen):
            grown = np.zeros(max(2 * len(self._gen), row + 1), dtype=np.uint32)
            grown[: len(self._gen)] = self._gen
            self._gen = grown
        keys = np.sort(self.keys(values))
        rows = np.full(self.bands, row, dtype=np.int64)
        gens = np.full(self.bands, self._gen[row], dtype=np.uint32)
        if self._pending is not None:  # in bulk(): sorted in with the others at its end
            self._pending.append((keys, rows, gens))
            return
        self._recent.put(keys, rows, gens)
        self._waiting += 1
        if self._waiting >= self.merge_every:
            self._merge()

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Rows inserted inside go in at its end with one sort and one merge, where one
        by one each insert shifts the small arrays and each ``merge_every`` rows shift the
        main ones (a rebuild of 50,000 rows: most of its time).  Query nothing inside: the
        rows are not found until it ends.  Removals inside still count (generations)."""
        self._pending = []
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            if pending:
                keys, rows, gens = (np.concatenate(part) for part in zip(*pending, strict=True))
                order = np.argsort(keys, kind="stable")  # equal keys stay in insertion order
                self._recent.put(keys[order], rows[order], gens[order])
                self._merge()

    def remove(self, row: int) -> None:
        """Forget ``row``'s entries (they stop counting now, and go at the next merge)."""
        self._gen[row] += np.uint32(1)

    def query(self, values: np.ndarray) -> np.ndarray:
        """The live rows sharing at least one band with the signature, each once (of a
        band's bucket, the newest ``max_per_bucket`` entries of each level)."""
        keys = self.keys(values)
        cap = self.max_per_bucket
        found = self._main.find(keys, cap, self._gen)
        if len(self._recent):
            found = np.concatenate([found, self._recent.find(keys, cap, self._gen)])
        if len(found) < _MARK_ABOVE:
            return np.unique(found)
        # copies of one story repeat the same rows in every band: marking them in a flag
        # per row is linear, where np.unique's sort or hash costs more than the scoring
        mark = np.zeros(len(self._gen), dtype=bool)
        mark[found] = True
        return np.flatnonzero(mark)

    def _merge(self) -> None:
        """Move the recent entries into the main arrays, dropping removed entries."""
        self._main.keep_live(self._gen)
        self._recent.keep_live(self._gen)
        self._main.put(self._recent.keys, self._recent.rows, self._recent.gens)
        self._recent = _Level()
        self._waiting = 0

    @property
    def entries(self) -> int:
        """Entries held (those of removed rows until the next merge)."""
        return len(self._main) + len(self._recent)
