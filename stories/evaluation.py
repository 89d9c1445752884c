"""Precision and recall of story grouping on pairs of items labelled by hand.

A labelled pairs file (``tests/stories/pairs.jsonl``) names two items of a JSON-lines
items file by their ``id`` and says whether they are the same story.  The items file is
read from where it lives (``../shared``), checked against the sha256 the pairs were
labelled on, and only the pairs' items are kept.  :func:`decide` runs the real decision
for one pair: an index holding the earlier item, asked about the later one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stories.errors import StoriesError
from stories.index import StoryIndex
from stories.signature import Params, Signer


@dataclass(frozen=True)
class Item:
    """An item's id, text and the time it was seen (its date at midnight UTC)."""

    id: str
    title: str
    summary: str
    seen_at: datetime


@dataclass(frozen=True)
class LabelledPair:
    """Two items, earlier first, and the verdict of a reader: same story or not."""

    a: Item
    b: Item
    same: bool
    drawn: str


@dataclass(frozen=True)
class Scores:
    """Counts over labelled pairs and the rates they give."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        """Of the pairs grouped together, the share that are the same story."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """Of the same-story pairs, the share grouped together."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """The harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def load_pairs(pairs_file: Path, items_file: Path, sha256: str | None = None) -> list[LabelledPair]:
    """The labelled pairs with their items' texts; StoriesError if an item is missing
    or the items file is not the one the pairs were labelled on."""
    if sha256 is not None and (found := sha256_of(items_file)) != sha256:
        raise StoriesError(f"{items_file} has sha256 {found}, the pairs were labelled on {sha256}")
    raw = [json.loads(line) for line in pairs_file.read_text(encoding="utf-8").splitlines()]
    items = _read_items(items_file, {p[k] for p in raw for k in ("a", "b")})
    pairs = []
    for p in raw:
        a, b = items[p["a"]], items[p["b"]]
        if b.seen_at < a.seen_at:
            a, b = b, a
        pairs.append(LabelledPair(a, b, bool(p["same"]), str(p.get("drawn", ""))))
    return pairs


def _read_items(path: Path, wanted: set[str]) -> dict[str, Item]:
    found: dict[str, Item] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["id"] in wanted:
                if row["id"] in found:
                    raise StoriesError(f"{path}: id {row['id']!r} names two items")
                day = datetime.fromisoformat(row["date"]).replace(tzinfo=UTC)
                found[row["id"]] = Item(row["id"], row["title"], row["text"], day)
    if missing := wanted - found.keys():
        raise StoriesError(f"{path} lacks {len(missing)} labelled items, e.g. {min(missing)!r}")
    return found


def decide(pair: LabelledPair, signer: Signer, params: Params | None = None) -> bool:
    """Whether grouping puts the later item in the earlier one's story."""
    index = StoryIndex(params or signer.params)
    index.add(pair.a.id, pair.a.id, signer.sign(pair.a.title, pair.a.summary), pair.a.seen_at)
    found = index.match(signer.sign(pair.b.title, pair.b.summary), pair.b.seen_at)
    return found is not None


def score(pairs: Iterable[LabelledPair], grouped: Callable[[LabelledPair], bool]) -> Scores:
    """Counts of ``grouped``'s verdicts against the labels."""
    tp = fp = fn = tn = 0
    for pair in pairs:
        said = grouped(pair)
        tp += said and pair.same
        fp += said and not pair.same
        fn += not said and pair.same
        tn += not said and not pair.same
    return Scores(tp, fp, fn, tn)
