"""The LSH band table: which indexed rows share a band with a signature, held in numpy.

LSH cuts a signature into ``bands`` runs of ``rows`` values; two signatures are
candidates when they agree on every value of at least one band.  datasketch's
``MinHashLSH`` keeps one Python set per band and bucket, about 16 KB per indexed item
(324 MiB for 20,000 items, bench/bench_stories.py).  Here each (band, values) pair is
hashed to one 64-bit key, and the table is a sorted ``uint64`` array of keys with the
row and generation of each entry beside it: 16 bytes per band, about 1 KB per item.

* **Query**: the signature's 64 keys are looked up with two ``searchsorted`` calls; the
  entries of the matching ranges are the candidates.  Items added since the last merge
  wait in a small dictionary, looked up key by key.
* **Insert**: into that dictionary, and into a pending list merged into the sorted arrays
  every ``merge_every`` items (one pass of ``np.insert``: linear, not a re-sort).
* **Remove**: the row's generation is bumped, so its entries stop counting at once; they
  are dropped from the arrays at the next merge.  A reused row gets a new generation, so
  its old entries never name the new item.

Keys are a hash: two different (band, values) pairs may share one, which can only add a
candidate, and every candidate is scored on its real similarity afterwards.
"""

from __future__ import annotations

import numpy as np

_MIX1 = np.uint64(0xFF51AFD7ED558CCD)  # MurmurHash3's 64-bit finaliser
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = np.uint64(33)
MERGE_EVERY = 512  # items waiting in the dictionary before a merge into the arrays
# Entries read per band and key, newest first.  Real items share a band by chance with a
# handful of others; a bucket of hundreds holds copies of one story (any of its newest
# members finds it) or near-empty texts.  Without a cap, a feed of near-copies made every
# query read tens of thousands of entries.
MAX_PER_BUCKET = 100


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
        self._keys = np.empty(0, dtype=np.uint64)
        self._entry_rows = np.empty(0, dtype=np.int64)
        self._entry_gens = np.empty(0, dtype=np.uint32)
        self._gen = np.zeros(1024, dtype=np.uint32)  # per row; bumped on removal
        self._recent: dict[int, list[tuple[int, int]]] = {}
        self._pending: list[tuple[np.ndarray, int, int]] = []

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
        keys = self.keys(values)
        gen = int(self._gen[row])
        for key in keys.tolist():
            self._recent.setdefault(key, []).append((row, gen))
        self._pending.append((keys, row, gen))
        if len(self._pending) >= self.merge_every:
            self._merge()

    def remove(self, row: int) -> None:
        """Forget ``row``'s entries (they stop counting now, and go at the next merge)."""
        self._gen[row] += np.uint32(1)

    def query(self, values: np.ndarray) -> np.ndarray:
        """The live rows sharing at least one band with the signature, each once (of a
        band's bucket, the newest ``max_per_bucket`` entries)."""
        keys = self.keys(values)
        cap = self.max_per_bucket
        hi = np.searchsorted(self._keys, keys, side="right")
        # within a key, entries keep their insertion order: the newest are last
        lo = np.maximum(np.searchsorted(self._keys, keys, side="left"), hi - cap)
        lengths = hi - lo
        total = int(lengths.sum())
        found = []
        if total:
            starts = np.repeat(lo - np.cumsum(lengths) + lengths, lengths)
            at = starts + np.arange(total)
            rows, gens = self._entry_rows[at], self._entry_gens[at]
            found.append(rows[self._gen[rows] == gens])
        if self._recent:
            recent = [
                row
                for key in keys.tolist()
                for row, gen in self._recent.get(key, ())[-cap:]
                if self._gen[row] == gen
            ]
            found.append(np.array(recent, dtype=np.int64))
        if not found:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(found))

    def _merge(self) -> None:
        """Move the waiting items into the sorted arrays, dropping removed entries."""
        live = self._gen[self._entry_rows] == self._entry_gens
        keys, rows, gens = self._keys[live], self._entry_rows[live], self._entry_gens[live]
        new_keys = np.concatenate([k for k, _, _ in self._pending])
        new_rows = np.repeat([r for _, r, _ in self._pending], self.bands).astype(np.int64)
        new_gens = np.repeat([g for _, _, g in self._pending], self.bands).astype(np.uint32)
        order = np.argsort(new_keys, kind="stable")
        new_keys, new_rows, new_gens = new_keys[order], new_rows[order], new_gens[order]
        at = np.searchsorted(keys, new_keys, side="right")
        self._keys = np.insert(keys, at, new_keys)
        self._entry_rows = np.insert(rows, at, new_rows)
        self._entry_gens = np.insert(gens, at, new_gens)
        self._recent.clear()
        self._pending.clear()

    @property
    def entries(self) -> int:
        """Entries held in the sorted arrays and waiting (removed ones until a merge)."""
        return len(self._keys) + self.bands * len(self._pending)
