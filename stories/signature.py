"""MinHash signatures of items (datasketch's MinHash, its only home).

A :class:`Signature` is ``num_perm`` 32-bit minimum hash values of an item's shingles
(:func:`stories.text.features`).  Two signatures agree in a position with probability
equal to the Jaccard similarity of the two shingle sets, so the fraction of equal
positions estimates it.  ``to_bytes`` / ``from_bytes`` give the form the store keeps per
item (4 bytes a value, little-endian), so the index can be rebuilt after a restart
without re-reading texts; :attr:`Params.scheme` names everything that shapes the bytes,
and signatures of another scheme must be made again from the texts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from datasketch import MinHash

from stories.errors import SignatureError
from stories.text import features

MINHASH_SCHEME = "affine32"  # datasketch >= 2: 32-bit values, collision-free permutations
_DTYPE = np.dtype("<u4")
_EMPTY = np.iinfo(np.uint32).max  # datasketch's initial value: no shingle was seen


@dataclass(frozen=True)
class Params:
    """Every choice that decides grouping; the defaults are the measured choice."""

    shingle_size: int = 1
    max_words: int | None = 80
    title_twice: bool = True
    stop_words: bool = True  # drop them
    num_perm: int = 128
    bands: int = 64
    rows: int = 2
    threshold: float = 0.15
    age_penalty: float = 0.2  # the similarity needed rises by this much per day of age
    window: timedelta = timedelta(hours=72)
    max_items: int = 50_000  # the index's cap; past it the oldest items leave first
    seed: int = 1

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows ({self.bands}x{self.rows}) > num_perm {self.num_perm}")
        if self.bands < 2 or self.rows < 1 or self.shingle_size < 1 or self.max_items < 1:
            raise ValueError("need bands >= 2, rows >= 1, shingle_size >= 1 and max_items >= 1")

    @property
    def scheme(self) -> str:
        """What shapes a signature's bytes; signatures of two schemes cannot be compared."""
        title = "t2" if self.title_twice else "t1"
        stop = "s" if self.stop_words else "a"
        return (
            f"minhash-{MINHASH_SCHEME}-p{self.num_perm}-s{self.seed}"
            f"-w{self.shingle_size}-m{self.max_words}-{title}-{stop}-v1"
        )


@dataclass(frozen=True, eq=False)
class Signature:
    """An item's MinHash values (``uint32``, one per permutation)."""

    values: np.ndarray = field(repr=False)

    @property
    def empty(self) -> bool:
        """True when the item had no words to sign (such an item joins no story)."""
        return bool(np.all(self.values == _EMPTY))

    def similarity(self, other: Signature) -> float:
        """Estimated Jaccard similarity of the two items' shingle sets."""
        return float(np.mean(self.values == other.values))

    def to_bytes(self) -> bytes:
        """The form the store keeps: 4 little-endian bytes a value."""
        return self.values.astype(_DTYPE, copy=False).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, num_perm: int) -> Signature:
        """A signature kept by :meth:`to_bytes`; SignatureError if it cannot be one."""
        if len(data) != num_perm * _DTYPE.itemsize:
            raise SignatureError(
                f"a signature of {num_perm} values has {num_perm * _DTYPE.itemsize} bytes, "
                f"got {len(data)}"
            )
        return cls(np.frombuffer(data, dtype=_DTYPE).astype(np.uint32))


class Signer:
    """Signs items with one :class:`Params`; reuse it (it holds the permutations)."""

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or Params()
        # Drawing the permutations costs more than signing: draw them once.
        self._template = MinHash(self.params.num_perm, self.params.seed, scheme=MINHASH_SCHEME)

    def sign(self, title: str, summary: str) -> Signature:
        """The signature of an item's title and summary (plain text)."""
        p = self.params
        found = features(title, summary, p.shingle_size, p.max_words, p.title_twice, p.stop_words)
        minhash = MinHash(
            p.num_perm, p.seed, permutations=self._template.permutations, scheme=MINHASH_SCHEME
        )
        minhash.update_batch([s.encode("utf-8") for s in found])
        return Signature(minhash.hashvalues.astype(np.uint32, copy=False))
