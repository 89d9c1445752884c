"""Draw the candidate pairs that were labelled by hand into ``pairs.jsonl`` (run once).

    .venv/bin/python tests/stories/draw_pairs.py [--shared ../shared] > candidates.jsonl
    .venv/bin/python tests/stories/draw_pairs.py --show tests/stories/pairs.jsonl | less

Pairs are drawn from ``unlabelled/google_news_rss_2017.jsonl`` (only items whose id is
unique in the file), at most two calendar days apart, in strata of a similarity that is
deliberately *not* the one being tuned (TF-IDF cosine over title + text, English stop
words dropped), so that the labelled set covers every region the grouping can err in:
near-duplicates across feeds, the boundary, pairs that share names but not much text
(hard negatives), same-feed pairs (feed boilerplate) and random same-day pairs (easy
negatives).  ``--show`` prints a pairs file with both items' texts, for labelling and
for review.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

SEED = 20170411
ORDER_SEED = 7  # the pairs were labelled in this shuffled order, strata hidden
MAX_DAYS = 2
FILE = "unlabelled/google_news_rss_2017.jsonl"
# stratum -> (how many, cosine low, cosine high, same feed?)
STRATA: dict[str, tuple[int, float, float, bool]] = {
    "cos>=0.7": (50, 0.7, 1.01, False),
    "cos0.5-0.7": (70, 0.5, 0.7, False),
    "cos0.35-0.5": (80, 0.35, 0.5, False),
    "cos0.2-0.35": (70, 0.2, 0.35, False),
    "same-feed": (40, 0.25, 1.01, True),
}
N_NAMES = 50  # cosine 0.1-0.2, one day apart at most, two shared capitalised title words
N_RANDOM = 40  # same day, different feeds, any similarity
_CAPITALISED = re.compile(r"(?<!^)(?<![.:?!] )\b[A-Z][A-Za-z'-]+")
_COMMON = {"The", "A", "An", "In", "On", "Of", "For", "To", "And", "After", "Trump", "US", "New"}


def load(path: Path) -> list[dict[str, str]]:
    """Every item of the file, in file order."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def unique_items(rows: list[dict[str, str]]) -> list[int]:
    """Line numbers of the items whose id occurs once (a pair must name its items)."""
    counts = collections.Counter(row["id"] for row in rows)
    return [i for i, row in enumerate(rows) if counts[row["id"]] == 1]


def cosine_pairs(rows: list[dict[str, str]], keep: list[int]) -> Iterator[tuple[int, int, float]]:
    """(line a, line b, cosine) for items at most MAX_DAYS apart, cosine >= 0.1, a < b."""
    texts = [rows[i]["title"] + " " + rows[i]["text"] for i in keep]
    matrix = TfidfVectorizer(stop_words="english", min_df=2, sublinear_tf=True).fit_transform(texts)
    days = np.array([date.fromisoformat(rows[i]["date"]).toordinal() for i in keep])
    for day in np.unique(days):
        left = np.flatnonzero(days == day)
        right = np.flatnonzero((days >= day) & (days <= day + MAX_DAYS))
        sims = (matrix[left] @ matrix[right].T).tocoo()
        for a, b, value in zip(sims.row, sims.col, sims.data, strict=True):
            ia, ib = keep[left[a]], keep[right[b]]
            if ia < ib and value >= 0.1:
                yield ia, ib, float(value)


def names(title: str) -> set[str]:
    """Capitalised words inside a title (not its first word), as a rough name set."""
    return {w for w in _CAPITALISED.findall(title) if w not in _COMMON}


def draw(rows: list[dict[str, str]]) -> list[dict[str, object]]:
    """The candidate pairs, stratum by stratum, reproducibly, in labelling order."""
    rng = random.Random(SEED)
    keep = unique_items(rows)
    pairs = sorted(cosine_pairs(rows, keep))
    chosen: list[tuple[int, int, str]] = []
    for stratum, (count, low, high, same_feed) in STRATA.items():
        pool = [
            (a, b)
            for a, b, value in pairs
            if low <= value < high and (rows[a]["feed"] == rows[b]["feed"]) == same_feed
        ]
        chosen += [(a, b, stratum) for a, b in rng.sample(pool, count)]
    pool = [
        (a, b)
        for a, b, value in pairs
        if 0.1 <= value < 0.2
        and rows[a]["feed"] != rows[b]["feed"]
        and _days(rows, a, b) <= 1
        and len(names(rows[a]["title"]) & names(rows[b]["title"])) >= 2
    ]
    chosen += [(a, b, "names") for a, b in rng.sample(pool, N_NAMES)]
    chosen += _random_pairs(rows, keep, rng)
    out: list[dict[str, object]] = []
    seen: set[tuple[int, int]] = set()
    for a, b, drawn in chosen:
        if (a, b) not in seen:  # a pair drawn by two strata is labelled once
            seen.add((a, b))
            out.append({"a": rows[a]["id"], "b": rows[b]["id"], "drawn": drawn})
    random.Random(ORDER_SEED).shuffle(out)
    return out


def _days(rows: list[dict[str, str]], a: int, b: int) -> int:
    return abs(
        date.fromisoformat(rows[a]["date"]).toordinal()
        - date.fromisoformat(rows[b]["date"]).toordinal()
    )


def _random_pairs(
    rows: list[dict[str, str]], keep: list[int], rng: random.Random
) -> list[tuple[int, int, str]]:
    by_day: dict[str, list[int]] = collections.defaultdict(list)
    for i in keep:
        by_day[rows[i]["date"]].append(i)
    days = sorted(by_day)
    out: list[tuple[int, int, str]] = []
    while len(out) < N_RANDOM:
        day = by_day[rng.choice(days)]
        a, b = sorted(rng.sample(day, 2))
        if rows[a]["feed"] != rows[b]["feed"]:
            out.append((a, b, "random"))
    return out


def show(rows: list[dict[str, str]], pairs_file: Path) -> None:
    """Print each pair of a pairs file with both items, for reading."""
    by_id = {row["id"]: row for row in rows}
    with pairs_file.open(encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            pair = json.loads(line)
            verdict = pair.get("same", "?")
            print(f"=== #{n} {pair.get('drawn', '')} same={verdict}")
            for key in ("a", "b"):
                row = by_id[pair[key]]
                print(f"  [{row['feed']} {row['date']}] {row['title']}")
                print(f"      {row['text'][:400]}")


def main(argv: list[str] | None = None) -> int:
    """Draw candidates to stdout, or show a pairs file's texts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).parents[3] / "shared")
    parser.add_argument("--show", type=Path, help="a pairs file to print with its texts")
    args = parser.parse_args(argv)
    rows = load(args.shared / FILE)
    if args.show:
        show(rows, args.show)
        return 0
    for pair in draw(rows):
        sys.stdout.write(json.dumps(pair) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
