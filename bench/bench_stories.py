"""What story grouping costs per new item, with a busy poller's 72 hours in the index.

    .venv/bin/python bench/bench_stories.py [--shared ../shared] [--index 20000]
        [--items 2000] [--bands 64 --rows 2] [--json]

Fills a :class:`stories.StoryIndex` with ``--index`` real RSS items (from
``../shared/unlabelled/google_news_rss_2017.jsonl``) spread evenly over 72 hours, then
runs ``--items`` further real items through what the poller will do for each new item:
sign it (:meth:`Signer.sign`), ask which story it joins (:meth:`StoryIndex.match`) and
add it (:meth:`StoryIndex.add`, which also drops the items that left the window).  It
prints the time of each step per item (the fastest of ``--runs`` runs over the same
items: the least disturbed by other work on a shared machine), the
candidates LSH returned per query, the index's memory, and the time to rebuild the
index from the kept signature bytes (what a restart does).  For scale, in the same run,
it times what the poller already does per item that needs no network: the shipped model
classifying the same items in batches of 50 without evidence (``poller.poll.classify``).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import model  # noqa: E402
from stories import Params, Signature, Signer, StoryIndex  # noqa: E402

ITEMS = "unlabelled/google_news_rss_2017.jsonl"
START = datetime(2017, 10, 1, tzinfo=UTC)


def load(path: Path, count: int) -> list[tuple[str, str]]:
    """The first ``count`` (title, summary) pairs of the file."""
    out = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            out.append((row["title"], row["text"]))
            if len(out) == count:
                break
    return out


def filled(params: Params, kept: list[tuple[bytes, datetime]]) -> StoryIndex:
    """An index holding the kept items (signature bytes, seen time), as after a restart."""
    index = StoryIndex(params)
    with index.bulk():  # as poller.grouping rebuilds it
        for n, (data, at) in enumerate(kept):
            index.add(n, n, Signature.from_bytes(data, params.num_perm), at)
    return index


def run(
    params: Params, base: list[tuple[str, str]], new: list[tuple[str, str]], shipped: model.Model
) -> dict:
    """One measured pass: fill, then sign, match and add every new item; then classify."""
    signer = Signer(params)
    step = timedelta(hours=72) / len(base)
    kept = [(signer.sign(*t).to_bytes(), START + n * step) for n, t in enumerate(base)]
    started = time.perf_counter()
    index = filled(params, kept)
    rebuild = time.perf_counter() - started
    now = START + len(base) * step
    sign = match = add = 0.0
    candidates = joined = 0
    for n, text in enumerate(new):
        at = now + n * step
        t0 = time.perf_counter()
        sig = signer.sign(*text)
        t1 = time.perf_counter()
        found = index.match(sig, at)
        t2 = time.perf_counter()
        index.add(len(base) + n, found.story_id if found else len(base) + n, sig, at)
        t3 = time.perf_counter()
        sign, match, add = sign + t1 - t0, match + t2 - t1, add + t3 - t2
        candidates += len(index.candidates(sig, at)) - 1  # minus the item itself
        joined += found is not None
    k = len(new)
    return {
        "sign_us": sign / k * 1e6,
        "match_us": match / k * 1e6,
        "add_us": add / k * 1e6,
        "total_us": (sign + match + add) / k * 1e6,
        "candidates_per_query": candidates / k,
        "joined_share": joined / k,
        "rebuild_s": rebuild,
        "index_size": len(index),
        "classify_us": classify_us(shipped, new),
    }


def classify_us(shipped: model.Model, new: list[tuple[str, str]]) -> float:
    """µs per item for the shipped model on the same items, as the poller batches them."""
    items = [model.Item(str(n), title, text) for n, (title, text) in enumerate(new)]
    started = time.perf_counter()
    for i in range(0, len(items), 50):
        shipped.classify(items[i : i + 50], explain=False)
    return (time.perf_counter() - started) / len(items) * 1e6


def memory(params: Params, base: list[tuple[str, str]]) -> float:
    """MiB the filled index holds (signatures, LSH tables), by tracemalloc."""
    signer = Signer(params)
    step = timedelta(hours=72) / len(base)
    kept = [(signer.sign(*t).to_bytes(), START + n * step) for n, t in enumerate(base)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = filled(params, kept)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del index
    return used / 2**20


def main(argv: list[str] | None = None) -> int:
    """Print (or --json) the per-item costs and the index's memory."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--index", type=int, default=20_000, help="items in the 72 h window")
    parser.add_argument("--items", type=int, default=2_000, help="new items measured")
    parser.add_argument("--bands", type=int, default=Params().bands)
    parser.add_argument("--rows", type=int, default=Params().rows)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    path = args.shared / ITEMS
    if not path.is_file():
        print(f"needs {path} (real RSS items; CI has it beside the checkout)", file=sys.stderr)
        return 2
    params = Params(bands=args.bands, rows=args.rows)
    texts = load(path, args.index + args.items)
    base, new = texts[: args.index], texts[args.index :]
    shipped = model.load()
    runs = [run(params, base, new, shipped) for _ in range(args.runs)]
    result = {k: min(r[k] for r in runs) for k in runs[0]}
    result["total_us_median"] = statistics.median(r["total_us"] for r in runs)
    result["index_mib"] = memory(params, base)
    result["params"] = f"{params.num_perm} permutations, {params.bands} bands x {params.rows} rows"
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"story grouping, {result['params']}, {result['index_size']:.0f} items in the index")
    print(
        f"  per new item: sign {result['sign_us']:.0f} µs + match {result['match_us']:.0f} µs "
        f"+ add {result['add_us']:.0f} µs = {result['total_us']:.0f} µs "
        f"(median of the runs {result['total_us_median']:.0f} µs)"
    )
    print(
        f"  for scale, same run: the model classifies an item in {result['classify_us']:.0f} µs "
        f"(batches of 50, no evidence); grouping is {result['total_us'] / result['classify_us']:.1f}x that"
    )
    print(
        f"  LSH candidates per query {result['candidates_per_query']:.0f}; "
        f"{result['joined_share']:.0%} of the new items joined a story"
    )
    print(
        f"  index memory {result['index_mib']:.0f} MiB; rebuild from signature bytes "
        f"{result['rebuild_s']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
