"""Precision and recall of story grouping on the hand-labelled pairs, over the candidates.

    .venv/bin/python bench/stories_accuracy.py [--shared ../shared]   # the README's tables
    .venv/bin/python bench/stories_accuracy.py --grid      # every candidate setting
    .venv/bin/python bench/stories_accuracy.py --stream    # also group the whole file

For every candidate setting (shingle size, words of the lead kept, title counted twice,
MinHash permutations, LSH bands x rows, age penalty per day) it signs the pairs' items
with the real :class:`stories.Signer` and decides each pair as the real index does: the
later item joins the earlier one's story when the two share an LSH band and their
estimated Jaccard similarity minus the age penalty reaches the threshold.  By default it
prints the shipped setting and every setting one choice away from it (precision and
recall at the shipped threshold, and each one's best F1), then precision and recall over
thresholds for the shipped setting.  ``--grid`` prints, for every combination, the
threshold with the best F1 and the best recall at precision >= 0.90.  ``--stream``
feeds all 74,000 items through one :class:`stories.StoryIndex` in date order, as the
poller would, and scores the labelled pairs by whether they ended in the same story
(chains included: A joins B's story and C joins A's).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stories import Params, Signer, StoryIndex  # noqa: E402
from stories.evaluation import LabelledPair, Scores, decide, load_pairs, score  # noqa: E402
from stories.text import features  # noqa: E402

PAIRS = REPO / "tests" / "stories" / "pairs.jsonl"
ITEMS = "unlabelled/google_news_rss_2017.jsonl"
SHA256 = "e1423e4d38f431f4fdfaf837d8573ee18d8b070ef3bb323e3c9fe4b5324a5d4e"

TEXT = {
    "shingle_size": (1, 2, 3),
    "max_words": (40, 80, None),
    "title_twice": (False, True),
    "stop_words": (True, False),
}
LSH = {128: ((16, 8), (32, 4), (42, 3), (64, 2)), 256: ((64, 4), (85, 3), (128, 2))}
PENALTIES = (0.0, 0.05, 0.1, 0.2)
THRESHOLDS = np.round(np.arange(0.05, 0.61, 0.01), 2)


def pair_arrays(pairs: list[LabelledPair], signer: Signer) -> tuple[np.ndarray, ...]:
    """(signature values of a, of b, age in days, same) for every pair."""
    sign = {}
    for item in {p.a for p in pairs} | {p.b for p in pairs}:
        sign[item.id] = signer.sign(item.title, item.summary).values
    va = np.stack([sign[p.a.id] for p in pairs])
    vb = np.stack([sign[p.b.id] for p in pairs])
    age = np.array([(p.b.seen_at - p.a.seen_at).days for p in pairs], dtype=float)
    return va, vb, age, np.array([p.same for p in pairs])


def collide(va: np.ndarray, vb: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Whether each pair shares at least one LSH band (what MinHashLSH.query finds)."""
    equal = va[:, : bands * rows] == vb[:, : bands * rows]
    return equal.reshape(len(va), bands, rows).all(axis=2).any(axis=1)


def scores_at(said: np.ndarray, same: np.ndarray) -> Scores:
    """Counts of vectorised verdicts against the labels."""
    return Scores(
        int((said & same).sum()),
        int((said & ~same).sum()),
        int((~said & same).sum()),
        int((~said & ~same).sum()),
    )


def sweep(sim: np.ndarray, hit: np.ndarray, age: np.ndarray, same: np.ndarray, penalty: float):
    """(threshold, Scores) for every threshold."""
    effective = sim - penalty * age
    return [(t, scores_at(hit & (effective >= t), same)) for t in THRESHOLDS]


def best(rows: list[tuple[float, Scores]]) -> tuple[tuple[float, Scores], tuple[float, Scores]]:
    """The best-F1 point and the best-recall point with precision >= 0.90."""
    by_f1 = max(rows, key=lambda r: (round(r[1].f1, 6), r[0]))
    precise = [r for r in rows if r[1].precision >= 0.9] or [(1.0, Scores(0, 0, 1, 0))]
    return by_f1, max(precise, key=lambda r: (r[1].recall, r[0]))


def grid(pairs: list[LabelledPair]) -> None:
    """One line per candidate setting: best F1 and recall at precision >= 0.90."""
    print("shingle words title stop perms bands x rows penalty | F1 (t, P, R) | R at P>=0.90 (t)")
    for size, words, twice, stop in itertools.product(*TEXT.values()):
        for perms, configs in LSH.items():
            signer = Signer(
                Params(
                    shingle_size=size,
                    max_words=words,
                    title_twice=twice,
                    stop_words=stop,
                    num_perm=perms,
                )
            )
            va, vb, age, same = pair_arrays(pairs, signer)
            sim = (va == vb).mean(axis=1)
            for (bands, rows), penalty in itertools.product(configs, PENALTIES):
                (t1, s1), (t9, s9) = best(
                    sweep(sim, collide(va, vb, bands, rows), age, same, penalty)
                )
                print(
                    f"{size} {words!s:>4} {'2x' if twice else '1x'} {'drop' if stop else 'keep'} "
                    f"{perms:>3} {bands:>3} x {rows} "
                    f"{penalty:.2f} | {s1.f1:.3f} ({t1:.2f}, {s1.precision:.3f}, {s1.recall:.3f}) "
                    f"| {s9.recall:.3f} ({t9:.2f})"
                )


def neighbours(pairs: list[LabelledPair], shipped: Params) -> None:
    """The shipped setting and each setting one choice away, at the shipped threshold."""
    changes: list[tuple[str, dict[str, object]]] = [("shipped", {})]
    changes += [(f"shingle_size={k}", {"shingle_size": k}) for k in (2, 3)]
    changes += [(f"max_words={w}", {"max_words": w}) for w in (40, None)]
    changes += [("title once", {"title_twice": False}), ("stop words kept", {"stop_words": False})]
    changes += [
        (f"num_perm=256, {b}x{r}", {"num_perm": 256, "bands": b, "rows": r}) for b, r in ((128, 2),)
    ]
    changes += [
        (f"bands x rows={b}x{r}", {"bands": b, "rows": r}) for b, r in ((32, 2), (42, 3), (32, 4))
    ]
    changes += [(f"age_penalty={a}", {"age_penalty": a}) for a in (0.0, 0.1)]
    print(f"setting | P R F1 at threshold {shipped.threshold} | best F1 (threshold, P, R)")
    for name, change in changes:
        params = replace(shipped, **change)  # type: ignore[arg-type]
        va, vb, age, same = pair_arrays(pairs, Signer(params))
        sim, hit = (va == vb).mean(axis=1), collide(va, vb, params.bands, params.rows)
        rows = sweep(sim, hit, age, same, params.age_penalty)
        at = next(s for t, s in rows if abs(t - shipped.threshold) < 1e-9)
        (t1, s1), _ = best(rows)
        print(
            f"{name} | {at.precision:.3f} {at.recall:.3f} {at.f1:.3f} "
            f"| {s1.f1:.3f} ({t1:.2f}, {s1.precision:.3f}, {s1.recall:.3f})"
        )


def exact_jaccard(pairs: list[LabelledPair], params: Params) -> np.ndarray:
    """The true Jaccard similarity of each pair's shingle sets (no MinHash noise)."""
    out = []
    for p in pairs:
        fa, fb = (
            features(
                i.title,
                i.summary,
                params.shingle_size,
                params.max_words,
                params.title_twice,
                params.stop_words,
            )
            for i in (p.a, p.b)
        )
        out.append(len(fa & fb) / len(fa | fb) if fa | fb else 0.0)
    return np.array(out)


def table(pairs: list[LabelledPair], params: Params) -> None:
    """Precision and recall over thresholds for one setting: MinHash + LSH, and exact."""
    signer = Signer(params)
    va, vb, age, same = pair_arrays(pairs, signer)
    lsh = sweep(
        (va == vb).mean(axis=1),
        collide(va, vb, params.bands, params.rows),
        age,
        same,
        params.age_penalty,
    )
    exact = sweep(
        exact_jaccard(pairs, params), np.ones(len(pairs), bool), age, same, params.age_penalty
    )
    print(f"\n{params}\nthreshold | MinHash+LSH P R F1 | exact Jaccard P R F1")
    for (t, s), (_, e) in zip(lsh, exact, strict=True):
        if round(t * 100) % 2 == 0 or abs(t - params.threshold) < 1e-9:
            mark = "  <- shipped" if abs(t - params.threshold) < 1e-9 else ""
            print(
                f"{t:.2f} | {s.precision:.3f} {s.recall:.3f} {s.f1:.3f} "
                f"| {e.precision:.3f} {e.recall:.3f} {e.f1:.3f}{mark}"
            )
    real = score(pairs, lambda p: decide(p, signer))  # the real index: checks the sweep
    print(
        f"real index, pair by pair: P {real.precision:.3f} R {real.recall:.3f} F1 {real.f1:.3f} {real}"
    )


def stream(pairs: list[LabelledPair], items_file: Path, params: Params) -> None:
    """Group the whole file in date order and score the pairs by final story."""
    import json

    signer, index = Signer(params), StoryIndex(params)
    story: dict[str, str] = {}
    rows = [json.loads(line) for line in items_file.open(encoding="utf-8")]
    rows.sort(key=lambda r: r["date"])  # stable: file order within a day
    started = time.perf_counter()
    for n, row in enumerate(rows):
        key = f"{row['id']}#{n}"  # ids repeat in the file; lines do not
        at = datetime.fromisoformat(row["date"])
        sig = signer.sign(row["title"], row["text"])
        found = index.match(sig, at)
        story[row["id"]] = story_id = str(found.story_id) if found else key
        index.add(key, story_id, sig, at)
    took = time.perf_counter() - started
    joined = sum(1 for r in rows if story.get(r["id"]) is not None)
    result = score(pairs, lambda p: story[p.a.id] == story[p.b.id])
    print(
        f"\nstream of {len(rows)} items in {took:.1f} s ({took / len(rows) * 1e6:.0f} µs/item), "
        f"{len(set(story.values()))} stories for {joined} items; labelled pairs in the same "
        f"story: P {result.precision:.3f} R {result.recall:.3f} F1 {result.f1:.3f} {result}"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the grid, and the shipped setting's table or stream figures if asked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--grid", action="store_true", help="every candidate setting")
    parser.add_argument("--stream", action="store_true", help="also group the whole file")
    args = parser.parse_args(argv)
    pairs = load_pairs(PAIRS, args.shared / ITEMS, SHA256)
    if args.grid:
        grid(pairs)
    else:
        neighbours(pairs, Params())
    table(pairs, Params())
    if args.stream:
        stream(pairs, args.shared / ITEMS, Params())
    return 0


if __name__ == "__main__":
    sys.exit(main())
